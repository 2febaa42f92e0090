"""Rows for `mpanel bench console`: many subscriptions and runs, all marked with the bench's tag
(emails @bench.invalid, domains under .test, Stripe ids sub_bench_<tag>_...), and their removal."""
from __future__ import annotations

import psycopg

BILLING = ["active", "active", "active", "past_due", "suspended", "canceled", "pending_payment"]
STACK = ["ready", "ready", "ready", "failed", "provisioning", "pending"]


def seed(conn: psycopg.Connection, tag: str, subscriptions: int, runs_each: int) -> list[int]:
    ids = [r["id"] for r in conn.execute(
        """WITH u AS (INSERT INTO users (email, password_hash)
                      SELECT format('bench-console-%%s-%%s@bench.invalid', %(tag)s::text, g), 'bench'
                        FROM generate_series(1, %(n)s) g RETURNING id),
                c AS (INSERT INTO customers (user_id, first_name, last_name)
                      SELECT id, 'Bench', 'Console' FROM u RETURNING id),
                s AS (INSERT INTO subscriptions (customer_id, plan_id, billing_cycle, status, provisioning_status,
                                                 stripe_subscription_id, needs_attention_since, created_at)
                      SELECT c.id, (SELECT min(id) FROM plans), 'monthly',
                             (%(billing)s::text[])[1 + c.id %% 7], (%(stack)s::text[])[1 + c.id %% 6],
                             format('sub_bench_%%s_%%s', %(tag)s::text, c.id),
                             CASE WHEN c.id %% 100 = 0 THEN now() END, now() - (c.id %% 1000) * interval '1 hour'
                        FROM c RETURNING id, customer_id),
                d AS (INSERT INTO domains (subscription_id, customer_id, name, mode, status)
                      SELECT id, customer_id, format('bench-console-%%s-%%s.test', %(tag)s::text, id), 'external', 'external'
                        FROM s RETURNING subscription_id)
           SELECT subscription_id AS id FROM d ORDER BY 1""",
        {"tag": tag, "n": subscriptions, "billing": BILLING, "stack": STACK}).fetchall()]
    conn.execute(
        """INSERT INTO provisioning_runs (subscription_id, operation, status, started_at, finished_at, error, drift)
           SELECT s, CASE WHEN g %% 5 = 0 THEN 'refresh' ELSE 'up' END,
                  CASE WHEN g %% 10 = 3 THEN 'failed' ELSE 'succeeded' END,
                  now() - ((s %% 5000) * 10 + g) * interval '1 minute',
                  now() - ((s %% 5000) * 10 + g) * interval '1 minute' + interval '9 seconds',
                  CASE WHEN g %% 10 = 3 THEN 'WHM answered 503 (bench)' END,
                  CASE WHEN g %% 5 = 0 THEN g %% 2 = 0 END
             FROM unnest(%(ids)s::bigint[]) s, generate_series(1, %(m)s) g""", {"ids": ids, "m": runs_each})
    conn.execute("ANALYZE subscriptions; ANALYZE domains; ANALYZE users; ANALYZE provisioning_runs")
    return ids


def remove(conn: psycopg.Connection, ids: list[int]) -> None:
    conn.execute("DELETE FROM provisioning_runs WHERE subscription_id = ANY(%s)", (ids,))
    conn.execute("DELETE FROM domains WHERE subscription_id = ANY(%s)", (ids,))
    customers = [r["customer_id"] for r in conn.execute(
        "DELETE FROM subscriptions WHERE id = ANY(%s) RETURNING customer_id", (ids,)).fetchall()]
    users = [r["user_id"] for r in conn.execute(
        "DELETE FROM customers WHERE id = ANY(%s) RETURNING user_id", (customers,)).fetchall()]
    conn.execute("DELETE FROM users WHERE id = ANY(%s)", (users,))
