"""What the operators' console reads (SQL only): counts, the attention queue, the
subscription list and one subscription's records. Every list is bounded and indexed."""
from __future__ import annotations

import psycopg

# A subscription's current domain: the live one, else the latest released.
_DOMAIN = ("LEFT JOIN LATERAL (SELECT name FROM domains d WHERE d.subscription_id = s.id "
           "ORDER BY d.status = 'released', d.id DESC LIMIT 1) d ON TRUE")


def small_reads(conn: psycopg.Connection) -> None:
    """The console's queries are short indexed reads: starting parallel workers for them costs
    more than it saves (tens of ms on a busy machine), so this transaction runs without."""
    conn.execute("SET LOCAL max_parallel_workers_per_gather = 0")


def state_counts(conn: psycopg.Connection) -> dict:
    """Subscriptions by billing state and by stack state, in one pass over the table."""
    found = conn.execute("SELECT status, provisioning_status, count(*) AS n FROM subscriptions "
                         "GROUP BY GROUPING SETS ((status), (provisioning_status))").fetchall()
    return {"billing": {r["status"]: r["n"] for r in found if r["status"] is not None},
            "stack": {r["provisioning_status"]: r["n"] for r in found if r["provisioning_status"] is not None}}


def attention_queue(conn: psycopg.Connection, stuck_minutes: int, limit: int = 50) -> list[dict]:
    """Flagged (failing in a row), failed, stuck (provisioning or destroying for too long) and
    drifted (a drift check of the last two days found drift and nothing converged since): why,
    in words. The oldest first; the page's rows are picked before their details are read."""
    return conn.execute(
        f"""WITH flagged AS (
               SELECT id FROM subscriptions WHERE needs_attention_since IS NOT NULL
               UNION SELECT id FROM subscriptions WHERE provisioning_status = 'failed'
               UNION SELECT id FROM subscriptions
                      WHERE provisioning_status IN ('provisioning', 'destroying')
                        AND updated_at < now() - make_interval(mins => %(stuck)s)
               UNION SELECT r.subscription_id FROM provisioning_runs r
                      WHERE r.started_at > now() - interval '2 days' AND r.operation = 'refresh' AND r.drift
                        AND NOT EXISTS (SELECT 1 FROM provisioning_runs u WHERE u.subscription_id = r.subscription_id
                                        AND u.id > r.id AND u.operation = 'up' AND u.status = 'succeeded')),
           top AS (
               SELECT s.id, s.status, s.provisioning_status, s.provisioning_error, s.failures_in_a_row,
                      s.needs_attention_since, s.updated_at, coalesce(s.needs_attention_since, s.updated_at) AS since
                 FROM subscriptions s JOIN flagged f ON f.id = s.id
                ORDER BY since LIMIT %(limit)s)
           SELECT s.*, d.name AS domain,
                  CASE WHEN s.provisioning_status = 'failed' THEN 'failed'
                       WHEN s.needs_attention_since IS NOT NULL THEN 'failing'
                       WHEN s.provisioning_status IN ('provisioning', 'destroying') THEN 'stuck'
                       ELSE 'drifted' END AS reason,
                  (SELECT error FROM provisioning_runs r WHERE r.subscription_id = s.id AND r.error IS NOT NULL
                    ORDER BY r.id DESC LIMIT 1) AS last_error,
                  n.note, n.noted_by, n.noted_at,
                  acted.staff_email AS last_actor, acted.action AS last_action, acted.at AS last_acted_at
             FROM top s {_DOMAIN}
             LEFT JOIN attention_notes n ON n.subscription_id = s.id
             -- who last acted: the newest audit entry about it (staff_audit_log_subscription_idx)
             LEFT JOIN LATERAL (SELECT a.staff_email, a.action, a.at FROM staff_audit_log a
                                 WHERE a.subscription_id = s.id ORDER BY a.id DESC LIMIT 1) acted ON TRUE
            ORDER BY s.since""",
        {"stuck": stuck_minutes, "limit": limit}).fetchall()


def set_attention_note(conn: psycopg.Connection, subscription_id: int, note: str, by: str) -> None:
    """The operators' note on a subscription (an empty note removes it)."""
    if not note:
        conn.execute("DELETE FROM attention_notes WHERE subscription_id = %s", (subscription_id,))
        return
    conn.execute("INSERT INTO attention_notes (subscription_id, note, noted_by) VALUES (%s, %s, %s) "
                 "ON CONFLICT (subscription_id) DO UPDATE SET note = EXCLUDED.note, noted_by = EXCLUDED.noted_by, "
                 "noted_at = now()", (subscription_id, note, by))


def attention_total(conn: psycopg.Connection, stuck_minutes: int) -> int:
    return conn.execute(
        """SELECT count(*) AS n FROM subscriptions WHERE needs_attention_since IS NOT NULL
              OR provisioning_status = 'failed'
              OR (provisioning_status IN ('provisioning', 'destroying')
                  AND updated_at < now() - make_interval(mins => %s))""", (stuck_minutes,)).fetchone()["n"]


def recent_runs(conn: psycopg.Connection, limit: int = 15) -> list[dict]:
    return conn.execute(
        f"""SELECT r.id, r.subscription_id, r.operation, r.status, r.started_at, r.finished_at, r.error, r.drift,
                   extract(epoch FROM (coalesce(r.finished_at, now()) - r.started_at)) AS seconds, d.name AS domain
              FROM (SELECT * FROM provisioning_runs ORDER BY started_at DESC LIMIT %s) r
              JOIN subscriptions s ON s.id = r.subscription_id {_DOMAIN}
             ORDER BY r.started_at DESC""", (limit,)).fetchall()


def converges_per_hour(conn: psycopg.Connection, hours: int = 24) -> list[dict]:
    """Converges (up, destroy) started in each of the last `hours` hours, by outcome."""
    return conn.execute(
        """WITH counted AS (
               SELECT date_trunc('hour', started_at) AS hour,
                      count(*) FILTER (WHERE status = 'succeeded') AS succeeded,
                      count(*) FILTER (WHERE status = 'failed') AS failed,
                      count(*) FILTER (WHERE status = 'running') AS running
                 FROM provisioning_runs
                WHERE started_at >= date_trunc('hour', now()) - make_interval(hours => %(h)s - 1)
                  AND operation IN ('up', 'destroy')
                GROUP BY 1)
           SELECT h.hour, coalesce(c.succeeded, 0) AS succeeded, coalesce(c.failed, 0) AS failed,
                  coalesce(c.running, 0) AS running
             FROM generate_series(date_trunc('hour', now()) - make_interval(hours => %(h)s - 1),
                                  date_trunc('hour', now()), interval '1 hour') AS h(hour)
             LEFT JOIN counted c ON c.hour = h.hour
            ORDER BY h.hour""", {"h": hours}).fetchall()


def subscriptions_page(conn: psycopg.Connection, *, query: str = "", status: str = "", stack: str = "",
                       attention: bool = False, before_id: int | None = None, limit: int = 50) -> list[dict]:
    """One page, newest first, keyset-paginated by id. `query`: a Stripe id (exact), an email
    (prefix, when it holds '@'), a subscription number, or a domain (prefix)."""
    where, params = [], {"limit": limit + 1}
    q = query.strip().lower()
    if q.startswith(("cs_", "sub_")):
        where.append("(s.stripe_checkout_session_id = %(raw)s OR s.stripe_subscription_id = %(raw)s)")
        params["raw"] = query.strip()
    elif q.startswith("cus_"):
        where.append("(s.stripe_customer_id = %(raw)s OR c.stripe_customer_id = %(raw)s)")
        params["raw"] = query.strip()
    elif "@" in q:
        where.append("lower(u.email) LIKE %(prefix)s")
        params["prefix"] = _like_prefix(q)
    elif q.isdigit():
        where.append("s.id = %(number)s")
        params["number"] = int(q)
    elif q:
        where.append("s.id IN (SELECT subscription_id FROM domains WHERE name LIKE %(prefix)s)")
        params["prefix"] = _like_prefix(q.removeprefix("sub-"))
    if status:
        where.append("s.status = %(status)s")
        params["status"] = status
    if stack:
        where.append("s.provisioning_status = %(stack)s")
        params["stack"] = stack
    if attention:
        where.append("s.needs_attention_since IS NOT NULL")
    if before_id:
        where.append("s.id < %(before)s")
        params["before"] = before_id
    rows = conn.execute(
        f"""SELECT s.id, s.status, s.provisioning_status, s.needs_attention_since, s.created_at,
                   s.stripe_subscription_id, s.billed_externally, s.imported_at, p.name AS plan, u.email,
                   d.name AS domain
              FROM subscriptions s JOIN customers c ON c.id = s.customer_id JOIN users u ON u.id = c.user_id
              JOIN plans p ON p.id = s.plan_id {_DOMAIN}
             {"WHERE " + " AND ".join(where) if where else ""}
             ORDER BY s.id DESC LIMIT %(limit)s""", params).fetchall()
    return rows


def _like_prefix(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def subscription(conn: psycopg.Connection, subscription_id: int) -> dict | None:
    return conn.execute(
        """SELECT s.*, p.name AS plan_name, p.slug AS plan_slug, p.whm_package, u.email, u.status AS user_status,
                  u.last_login_at, c.first_name, c.last_name, c.company, c.phone, c.country,
                  c.stripe_customer_id AS customer_stripe_id, c.user_id,
                  w.cpanel_username, w.cpanel_url, w.status AS website_status, w.ssl_expires_at, w.ip_address
             FROM subscriptions s JOIN customers c ON c.id = s.customer_id JOIN users u ON u.id = c.user_id
             JOIN plans p ON p.id = s.plan_id LEFT JOIN websites w ON w.subscription_id = s.id
            WHERE s.id = %s""", (subscription_id,)).fetchone()


def domains_of(conn: psycopg.Connection, subscription_id: int) -> list[dict]:
    return conn.execute("SELECT name, mode, status, registrar, expires_at, auto_renew, nameservers FROM domains "
                        "WHERE subscription_id = %s ORDER BY id DESC", (subscription_id,)).fetchall()


def quarantined_records_of(conn: psycopg.Connection, subscription_id: int) -> list[dict]:
    """Customer DNS records left out of the zone because it would refuse them (with why)."""
    return conn.execute("SELECT r.name, r.type, r.content, r.quarantined_reason, r.quarantined_at FROM dns_records r "
                        "JOIN domains d ON d.id = r.domain_id WHERE d.subscription_id = %s "
                        "AND r.quarantined_reason IS NOT NULL ORDER BY r.id", (subscription_id,)).fetchall()


def payments_of(conn: psycopg.Connection, subscription_id: int, limit: int = 20) -> list[dict]:
    return conn.execute("SELECT * FROM payments WHERE subscription_id = %s ORDER BY id DESC LIMIT %s",
                        (subscription_id, limit)).fetchall()


def stripe_events_of(conn: psycopg.Connection, stripe_ids: list[str], limit: int = 30) -> list[dict]:
    if not stripe_ids:
        return []
    return conn.execute(
        """SELECT id, type, created, received_at, processed_at FROM stripe_events
            WHERE payload->'data'->'object'->>'id' = ANY(%(ids)s)
               OR payload->'data'->'object'->>'subscription' = ANY(%(ids)s)
            ORDER BY received_at DESC LIMIT %(limit)s""", {"ids": stripe_ids, "limit": limit}).fetchall()


def anomalies_of(conn: psycopg.Connection, subscription_id: int) -> list[dict]:
    return conn.execute("SELECT * FROM billing_anomalies WHERE subscription_id = %s ORDER BY id DESC LIMIT 20",
                        (subscription_id,)).fetchall()


def emails_of(conn: psycopg.Connection, subscription_id: int, limit: int = 30) -> list[dict]:
    return conn.execute("SELECT kind, recipient, subject, sent_at, state FROM emails_sent "
                        "WHERE subscription_id = %s ORDER BY id DESC LIMIT %s", (subscription_id, limit)).fetchall()


def runs_of(conn: psycopg.Connection, subscription_id: int, limit: int = 20) -> list[dict]:
    return conn.execute(
        """SELECT id, operation, status, started_at, finished_at, error, drift, summary,
                  extract(epoch FROM (coalesce(finished_at, now()) - started_at)) AS seconds
             FROM provisioning_runs WHERE subscription_id = %s ORDER BY id DESC LIMIT %s""",
        (subscription_id, limit)).fetchall()


def steps_of(conn: psycopg.Connection, run_ids: list[int]) -> list[dict]:
    if not run_ids:
        return []
    return conn.execute(
        """SELECT run_id, id, at, resource_type, resource_name, op, status, message, duration_ms
             FROM provisioning_events WHERE run_id = ANY(%s) ORDER BY run_id, id""", (run_ids,)).fetchall()


def run(conn: psycopg.Connection, run_id: int) -> dict | None:
    return conn.execute("SELECT id, subscription_id, operation, status, started_at, finished_at, error, drift, "
                        "summary FROM provisioning_runs WHERE id = %s", (run_id,)).fetchone()


def steps_after(conn: psycopg.Connection, run_id: int, after_id: int = 0) -> list[dict]:
    """A run's steps after `after_id`, for live progress (the page polls this)."""
    return conn.execute(
        """SELECT id, at, resource_type, resource_name, op, status, message, duration_ms
             FROM provisioning_events WHERE run_id = %s AND id > %s ORDER BY id LIMIT 500""",
        (run_id, after_id)).fetchall()


def latest_run_id(conn: psycopg.Connection, subscription_id: int) -> int | None:
    row = conn.execute("SELECT id FROM provisioning_runs WHERE subscription_id = %s ORDER BY id DESC LIMIT 1",
                       (subscription_id,)).fetchone()
    return row["id"] if row else None


def set_billing_status(conn: psycopg.Connection, subscription_id: int, status: str) -> None:
    conn.execute("UPDATE subscriptions SET status = %s, updated_at = now() WHERE id = %s", (status, subscription_id))
