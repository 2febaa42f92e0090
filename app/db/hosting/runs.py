"""Engine runs and their outcome on the subscription's rows (provisioning_runs, _events, websites,
domains, dns_zones): the converge bookkeeping.

A run is written at two moments, each one transaction: `begin` (the run recorded, a dead
worker's run taken over) and its end (`succeeded` or `failed`, with whatever else the converge
records beside it); in between, only its steps (`record_step`) and the lock-holder question
(`others_alive`) while the engine runs."""
from __future__ import annotations

import json
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from app.db.hosting import workers as liveness


def billing_state(conn: psycopg.Connection, subscription_id: int) -> dict | None:
    return conn.execute("SELECT status, provisioning_status FROM subscriptions WHERE id = %s",
                        (subscription_id,)).fetchone()


def set_provisioning_status(conn: psycopg.Connection, subscription_id: int, status: str) -> None:
    conn.execute("UPDATE subscriptions SET provisioning_status = %s, updated_at = now() WHERE id = %s",
                 (status, subscription_id))


def running(conn: psycopg.Connection, subscription_id: int, but: int | None = None) -> list[dict]:
    """Runs of this subscription still marked running (other than `but`), locked for the caller's decision."""
    return conn.execute("SELECT id, worker_id, runner_host, runner_pid, started_at FROM provisioning_runs "
                        "WHERE subscription_id = %s AND status = 'running' AND id IS DISTINCT FROM %s FOR UPDATE",
                        (subscription_id, but)).fetchall()


INTERRUPTED = "interrupted: "


def mark_interrupted(conn: psycopg.Connection, run_ids: list[int],
                     why: str = "the process running it stopped before it finished") -> None:
    conn.execute("UPDATE provisioning_runs SET status = 'failed', finished_at = now(), error = %s "
                 "WHERE id = ANY(%s) AND status = 'running'", (INTERRUPTED + why, run_ids))


def last_was_interrupted(conn: psycopg.Connection, subscription_id: int) -> bool:
    """Did the stack's latest run end interrupted (its worker died: the stack may need repair)?"""
    row = conn.execute("SELECT status, error FROM provisioning_runs WHERE subscription_id = %s "
                       "ORDER BY id DESC LIMIT 1", (subscription_id,)).fetchone()
    return bool(row and row["status"] == "failed" and (row["error"] or "").startswith(INTERRUPTED))


def start(conn: psycopg.Connection, subscription_id: int, operation: str, host: str, pid: int,
          worker_id: int | None = None, job_id: int | None = None) -> int:
    return conn.execute("INSERT INTO provisioning_runs (subscription_id, operation, runner_host, runner_pid, "
                        "worker_id, job_id) VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
                        (subscription_id, operation, host, pid, worker_id, job_id)).fetchone()["id"]


def begin(conn: psycopg.Connection, subscription_id: int, operation: str, *, host: str, pid: int,
          worker_id: int | None, job_id: int | None, dead_after: float,
          provisioning_status: str | None = None, website_provisioning: bool = False) -> tuple[int, bool]:
    """Record a run of `operation` (and the subscription's provisioning status, the website row
    'provisioning', when asked); returns its id and whether an earlier run on this stack died
    mid-way, so the engine must repair first. A run still 'running' whose worker is dead
    (app/services/hosting/workers.py) died mid-way, and so did one a sweep already marked
    interrupted; the engine may not notice what it left (see StackOperations.up). A live one
    (an operator's CLI beside the worker) is left alone."""
    if provisioning_status:
        set_provisioning_status(conn, subscription_id, provisioning_status)
    dead = [r["id"] for r in running(conn, subscription_id) if liveness.is_dead(conn, r["worker_id"], dead_after)]
    repair = bool(dead) or last_was_interrupted(conn, subscription_id)
    mark_interrupted(conn, dead, why="its worker stopped before it finished")
    run_id = start(conn, subscription_id, operation, host, pid, worker_id=worker_id, job_id=job_id)
    if website_provisioning:
        _website_provisioning(conn, subscription_id)
    return run_id, repair


def others_alive(conn: psycopg.Connection, subscription_id: int, run_id: int, dead_after: float) -> bool:
    """Does another run of this stack still have a live worker (ours is the one running)?"""
    return not all(liveness.is_dead(conn, r["worker_id"], dead_after)
                   for r in running(conn, subscription_id, but=run_id))


def record_step(conn: psycopg.Connection, run_id: int, subscription_id: int, step: dict[str, Any]) -> None:
    conn.execute(
        """INSERT INTO provisioning_events (run_id, subscription_id, urn, resource_type, resource_name,
                                              op, status, message, duration_ms)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)""",
        (run_id, subscription_id, step.get("urn"), step.get("resource_type"), step.get("resource_name"),
         step.get("op"), step["status"],
         step.get("message") or (json.dumps(step["changes"]) if step.get("changes") else None),
         step.get("duration_ms")))


def finish(conn: psycopg.Connection, run_id: int, status: str, summary: Any = None, error: str | None = None,
           drift: bool | None = None) -> None:
    conn.execute("UPDATE provisioning_runs SET status = %s, finished_at = now(), summary = %s, error = %s, "
                 "drift = %s WHERE id = %s",
                 (status, Jsonb(summary) if summary is not None else None, error, drift, run_id))


def succeeded(conn: psycopg.Connection, run_id: int, subscription_id: int, summary: Any) -> None:
    """An `up` or a `destroy` succeeded: whatever was wrong with the subscription is no longer."""
    finish(conn, run_id, "succeeded", summary=summary)
    _clear_attention(conn, subscription_id)


def failed(conn: psycopg.Connection, run_id: int, subscription_id: int, reason: str, transient: bool,
           attention_after: int | None) -> bool:
    """Record the run failed, and for a converging run (`attention_after` given; a drift check
    only observed and leaves the subscription alone) the failure on the subscription; True when
    this failure flagged it for the operators."""
    finish(conn, run_id, "failed", error=reason)
    return attention_after is not None and _record_failure(conn, subscription_id, reason, transient, attention_after)


def _record_failure(conn: psycopg.Connection, subscription_id: int, reason: str, transient: bool,
                    attention_after: int) -> bool:
    """A transient failure keeps the subscription 'provisioning' (a retry is coming; the reason
    is shown meanwhile); a permanent one marks it and its website failed. Counts failures in a
    row and flags the subscription for operators after `attention_after` of them (at once for
    a permanent one); True when this failure raised the flag."""
    flagged = conn.execute(
        """UPDATE subscriptions s SET provisioning_error = %(reason)s, updated_at = now(),
                  provisioning_status = CASE WHEN %(transient)s THEN s.provisioning_status ELSE 'failed' END,
                  failures_in_a_row = s.failures_in_a_row + 1,
                  needs_attention_since = CASE
                      WHEN s.needs_attention_since IS NOT NULL THEN s.needs_attention_since
                      WHEN NOT %(transient)s OR s.failures_in_a_row + 1 >= %(after)s THEN now() END
            FROM subscriptions before WHERE s.id = %(sid)s AND before.id = s.id
        RETURNING before.needs_attention_since IS NULL AND s.needs_attention_since IS NOT NULL AS raised""",
        {"reason": reason, "transient": transient, "after": attention_after, "sid": subscription_id}).fetchone()
    if not transient:
        conn.execute("UPDATE websites SET status = 'failed', updated_at = now() WHERE subscription_id = %s "
                     "AND status IN ('pending', 'provisioning')", (subscription_id,))
    return bool(flagged and flagged["raised"])


def _clear_attention(conn: psycopg.Connection, subscription_id: int) -> None:
    """A run succeeded: whatever was wrong is no longer, unless the order's domain was claimed
    by its real owner (app/services/domains/claims.py): that waits for an operator."""
    conn.execute("UPDATE subscriptions s SET failures_in_a_row = 0, needs_attention_since = NULL "
                 "WHERE id = %s AND (failures_in_a_row > 0 OR needs_attention_since IS NOT NULL) "
                 "AND NOT EXISTS (SELECT 1 FROM domains d WHERE d.subscription_id = s.id "
                 "                AND d.status <> 'released' AND d.control_claimed_at IS NOT NULL)",
                 (subscription_id,))


def needing_attention(conn: psycopg.Connection, subscription_id: int) -> dict | None:
    return conn.execute("SELECT s.id, s.failures_in_a_row, s.needs_attention_since, s.provisioning_error, "
                        "u.email, (SELECT name FROM domains d WHERE d.subscription_id = s.id "
                        "          ORDER BY d.status = 'released', d.id DESC LIMIT 1) AS domain "
                        "FROM subscriptions s JOIN customers c ON c.id = s.customer_id "
                        "JOIN users u ON u.id = c.user_id "
                        "WHERE s.id = %s AND s.needs_attention_since IS NOT NULL", (subscription_id,)).fetchone()


def _website_provisioning(conn: psycopg.Connection, subscription_id: int) -> None:
    """The website row exists and says 'provisioning' (unless already live or suspended)."""
    conn.execute(
        """INSERT INTO websites (subscription_id, domain_id, server_id, status)
           SELECT s.id, d.id, s.server_id, 'provisioning' FROM subscriptions s
             JOIN domains d ON d.subscription_id = s.id AND d.status <> 'released' WHERE s.id = %s
           ON CONFLICT (subscription_id) DO UPDATE SET
             status = CASE WHEN websites.status IN ('active', 'suspended') THEN websites.status
                           ELSE 'provisioning' END, updated_at = now()""", (subscription_id,))


def record_ready(conn: psycopg.Connection, subscription_id: int, *, website: dict[str, Any], domain_status: str,
                 nameservers: list[str], registrar: str | None) -> None:
    """What a successful `up` made: the website, domain and zone rows, and the subscription 'ready'."""
    conn.execute(
        """UPDATE websites SET cpanel_username = %(cpanel_username)s, cpanel_url = %(cpanel_url)s,
                  document_root = %(document_root)s, server_id = %(server_id)s, status = %(status)s,
                  ssl_expires_at = %(ssl_expires_at)s, cpanel_password_applied = %(cpanel_password_applied)s,
                  ip_address = %(ip_address)s, updated_at = now()
            WHERE subscription_id = %(sid)s""", {**website, "sid": subscription_id})
    conn.execute("UPDATE domains SET status = %s, nameservers = %s, registrar = %s, updated_at = now() "
                 "WHERE subscription_id = %s AND status <> 'released'",
                 (domain_status, nameservers, registrar, subscription_id))
    conn.execute(
        """INSERT INTO dns_zones (domain_id, name, status)
           SELECT id, name || '.', 'active' FROM domains WHERE subscription_id = %s AND status <> 'released'
           ON CONFLICT (domain_id) DO UPDATE SET status = 'active', updated_at = now()""", (subscription_id,))
    # The reason a claimed order was flagged (app/services/domains/claims.py) stays with the flag.
    conn.execute("UPDATE subscriptions s SET provisioning_status = 'ready', updated_at = now(), "
                 "provisioning_error = CASE WHEN s.needs_attention_since IS NULL THEN NULL ELSE s.provisioning_error END, "
                 "activated_at = coalesce(activated_at, now()) WHERE id = %s", (subscription_id,))


def record_destroyed(conn: psycopg.Connection, subscription_id: int) -> None:
    conn.execute("UPDATE websites SET status = 'removed', updated_at = now() WHERE subscription_id = %s",
                 (subscription_id,))
    conn.execute("UPDATE dns_zones SET status = 'removed', updated_at = now() WHERE domain_id IN "
                 "(SELECT id FROM domains WHERE subscription_id = %s)", (subscription_id,))
    # The registration stays the customer's (auto-renew off); the name is free to order again.
    conn.execute("UPDATE domains SET status = 'released', updated_at = now() WHERE subscription_id = %s",
                 (subscription_id,))
    conn.execute("UPDATE subscriptions SET provisioning_status = 'destroyed', provisioning_error = NULL, "
                 "updated_at = now() WHERE id = %s", (subscription_id,))


def stack_overview(conn: psycopg.Connection) -> list[dict]:
    """Every subscription with its last run and the last drift check's finding."""
    return conn.execute("""
        SELECT s.id, s.status, s.provisioning_status, d.name AS domain,
               r.operation, r.status AS run_status, r.finished_at, r.error,
               (SELECT drift FROM provisioning_runs x WHERE x.subscription_id = s.id AND x.drift IS NOT NULL
                 ORDER BY x.id DESC LIMIT 1) AS drift
          FROM subscriptions s
          LEFT JOIN domains d ON d.subscription_id = s.id AND d.status <> 'released'
          LEFT JOIN LATERAL (SELECT * FROM provisioning_runs r WHERE r.subscription_id = s.id
                              ORDER BY r.id DESC LIMIT 1) r ON TRUE
         ORDER BY s.id""").fetchall()


def mark_terminated(conn: psycopg.Connection, subscription_id: int) -> None:
    conn.execute("UPDATE subscriptions SET status = 'terminated', updated_at = now() WHERE id = %s",
                 (subscription_id,))


def last_applied(conn: psycopg.Connection, subscription_id: int, drift_window_hours: float) -> dict | None:
    """What the nothing-to-do shortcut (app/services/hosting/nothing_to_do.py) asks of the runs:
    the digest the latest converging run applied, when the latest run of any kind succeeded,
    found no drift and the stack was refreshed (a successful up or drift check) inside the window,
    and no transfer is still pending (its end shows only in an engine run); None otherwise."""
    return conn.execute(
        """SELECT u.spec_digest FROM provisioning_runs u
            WHERE u.id = (SELECT max(id) FROM provisioning_runs WHERE subscription_id = %(sid)s
                            AND operation IN ('up', 'destroy'))
              AND u.operation = 'up' AND u.status = 'succeeded' AND u.spec_digest IS NOT NULL
              AND EXISTS (SELECT 1 FROM provisioning_runs l
                           WHERE l.id = (SELECT max(id) FROM provisioning_runs WHERE subscription_id = %(sid)s)
                             AND l.status = 'succeeded' AND l.drift IS NOT TRUE)
              AND EXISTS (SELECT 1 FROM provisioning_runs f
                           WHERE f.subscription_id = %(sid)s AND f.status = 'succeeded'
                             AND f.operation IN ('up', 'refresh')
                             AND f.finished_at > now() - make_interval(secs => %(window)s))
              AND NOT EXISTS (SELECT 1 FROM domains d WHERE d.subscription_id = %(sid)s
                                AND d.status = 'transfer_pending')""",
        {"sid": subscription_id, "window": drift_window_hours * 3600}).fetchone()


def record_applied(conn: psycopg.Connection, run_id: int, spec_digest: str) -> None:
    """The desired state a successful `up` applied (its digest only)."""
    conn.execute("UPDATE provisioning_runs SET spec_digest = %s WHERE id = %s", (spec_digest, run_id))
