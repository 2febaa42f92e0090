"""What the operators' console shows: the overview, the subscription list, one subscription's
records, its stack's resources and engine history, and a run's steps as changes."""
from __future__ import annotations

import datetime as dt
import json
from typing import Any

from app import db
from app.db import overdue
from app.db.operators import ops as rows
from app.settings import Settings
from stacks.diff import changes_of, numbered, shown
from stacks.events import mask

PAGE_SIZE = 50
STUCK_MINUTES = 30
BILLING_STATES = ("pending_payment", "abandoned", "active", "past_due", "suspended", "canceled", "terminated")
STACK_STATES = ("pending", "provisioning", "ready", "failed", "destroying", "destroyed")


def overview(settings: Settings) -> dict:
    with db.transaction(settings.DATABASE_URL) as conn:
        rows.small_reads(conn)
        return {"counts": rows.state_counts(conn),
                "attention": rows.attention_queue(conn, STUCK_MINUTES),
                "attention_total": rows.attention_total(conn, STUCK_MINUTES),
                "runs": rows.recent_runs(conn),
                "per_hour": rows.converges_per_hour(conn),
                "system_attention": overdue.open_attention(conn)}


def subscriptions(settings: Settings, *, query: str = "", status: str = "", stack: str = "",
                  attention: bool = False, before_id: int | None = None) -> dict:
    status = status if status in BILLING_STATES else ""
    stack = stack if stack in STACK_STATES else ""
    with db.transaction(settings.DATABASE_URL) as conn:
        rows.small_reads(conn)
        found = rows.subscriptions_page(conn, query=query, status=status, stack=stack, attention=attention,
                                        before_id=before_id, limit=PAGE_SIZE)
    more = len(found) > PAGE_SIZE
    found = found[:PAGE_SIZE]
    return {"rows": found, "next_before": found[-1]["id"] if more and found else None}


def _steps_as_changes(events: list[dict]) -> list[dict]:
    """Stored provisioning_events back into recorder steps (changes were kept as JSON)."""
    steps = []
    for e in events:
        step = dict(e)
        if e["message"] and e["message"].startswith("{") and e["status"] != "error":
            try:
                step["changes"] = json.loads(e["message"])
            except ValueError:
                pass
        steps.append(step)
    return steps


def subscription(settings: Settings, subscription_id: int) -> dict | None:
    with db.transaction(settings.DATABASE_URL) as conn:
        rows.small_reads(conn)
        sub = rows.subscription(conn, subscription_id)
        if sub is None:
            return None
        stripe_ids = [i for i in (sub["stripe_checkout_session_id"], sub["stripe_subscription_id"]) if i]
        runs = rows.runs_of(conn, subscription_id)
        events = rows.steps_of(conn, [r["id"] for r in runs])
        page = {"sub": sub, "domains": rows.domains_of(conn, subscription_id),
                "payments": rows.payments_of(conn, subscription_id),
                "stripe_events": rows.stripe_events_of(conn, stripe_ids),
                "anomalies": rows.anomalies_of(conn, subscription_id),
                "quarantined": rows.quarantined_records_of(conn, subscription_id),
                "emails": rows.emails_of(conn, subscription_id)}
    by_run: dict[int, list[dict]] = {}
    for e in events:
        by_run.setdefault(e["run_id"], []).append(e)
    for run in runs:
        steps = _steps_as_changes(by_run.get(run["id"], []))
        run["steps"] = [s for s in steps if s["status"] in ("done", "failed", "error")]
        run["changes"] = changes_of(steps) if run["operation"] in ("refresh", "preview") else []
    page["runs"] = runs
    page["domain"] = page["domains"][0]["name"] if page["domains"] else None
    return page


def run_progress(settings: Settings, run_id: int, after_id: int = 0) -> dict | None:
    """A run's status and its steps after `after_id`: what the live progress view polls."""
    with db.transaction(settings.DATABASE_URL) as conn:
        run = rows.run(conn, run_id)
        if run is None:
            return None
        steps = rows.steps_after(conn, run_id, after_id)
    # What a person follows: each resource's change as it starts and ends, errors, and drift;
    # not the refresh reads and unchanged resources (the whole record is under Runs).
    shown_steps = [s for s in steps if s["op"] != "same" and (s["op"] != "refresh" or s["message"])]
    return {"id": run["id"], "subscriptionId": run["subscription_id"], "operation": run["operation"],
            "status": run["status"], "error": run["error"], "lastStepId": steps[-1]["id"] if steps else after_id,
            "steps": [{"id": s["id"], "resource": s["resource_name"], "type": s["resource_type"],
                       "op": "drifted" if s["op"] == "refresh" else s["op"], "status": s["status"],
                       "durationMs": s["duration_ms"],
                       "message": s["message"] if s["status"] in ("error", "failed") else None} for s in shown_steps]}


def latest_run(settings: Settings, subscription_id: int) -> int | None:
    with db.transaction(settings.DATABASE_URL) as conn:
        return rows.latest_run_id(conn, subscription_id)


# --- the stack itself (engine calls: a second or so, loaded apart from the page) -------------

KEY_OUTPUTS = 8


def _key_outputs(outputs: dict) -> list[tuple[str, str]]:
    """The few outputs worth a glance: scalars first, secrets masked, long values shortened."""
    masked = mask(outputs or {})
    picked = [(k, v if isinstance(v, str) and len(v) <= 60 and not v.startswith("-----BEGIN") else shown(v, 60))
              for k, v in sorted(masked.items())
              if not k.startswith("__") and isinstance(v, (str, int, float, bool)) and v != ""]
    return picked[:KEY_OUTPUTS]


def stack_resources(settings: Settings, subscription_id: int) -> dict:
    """The stack's resources from its state (type, name, id, key outputs) and the engine's
    history numbered by version; {"exists": False} when the stack was never made."""
    from pulumi import automation as auto

    from app.services.hosting.engine import stack_operations

    ops = stack_operations(settings)
    try:
        deployment = ops.export(subscription_id)
        history = ops.history(subscription_id, page_size=None)
    except auto.StackNotFoundError:
        return {"exists": False, "resources": [], "history": []}
    resources = []
    for r in deployment.get("resources") or []:
        if r.get("type", "").startswith("pulumi:providers:") or r.get("type") == "pulumi:pulumi:Stack":
            continue
        kind = r.get("type", "")
        name = r.get("urn", "").rsplit("::", 1)[-1]
        if kind.startswith("pulumi-python:dynamic"):  # named as the run steps name them (stacks.events)
            kind = kind.split("/", 1)[1] if "/" in kind else f"dynamic:{name}"
        resources.append({"type": kind, "name": name, "id": r.get("id") or "",
                          "outputs": _key_outputs(r.get("outputs") or {})})
    with db.transaction(settings.DATABASE_URL) as conn:
        runs = rows.runs_of(conn, subscription_id, limit=500)
    return {"exists": True, "resources": resources,
            "history": [{"version": v, "kind": h.kind, "result": h.result, "start": h.start_time, "end": h.end_time,
                         "changes": dict(h.resource_changes or {}), "run": _run_of(runs, h.start_time)}
                        for v, h in numbered(history)]}


def _run_of(runs: list[dict], started: dt.datetime | None) -> int | None:
    """Our run during which the engine started this update (the engine's times are UTC)."""
    if started is None:
        return None
    at = started if started.tzinfo else started.replace(tzinfo=dt.timezone.utc)
    for run in runs:
        end = run["finished_at"] or dt.datetime.now(dt.timezone.utc)
        if run["started_at"] - dt.timedelta(seconds=1) <= at <= end + dt.timedelta(seconds=1):
            return run["id"]
    return None


def stack_history(settings: Settings, subscription_id: int) -> list[tuple[int, Any]]:
    from app.services.hosting.engine import stack_operations

    return numbered(stack_operations(settings).history(subscription_id, page_size=None))
