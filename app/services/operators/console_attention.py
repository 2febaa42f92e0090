"""The needs-attention queue as a work list: each subscription's trouble in words, who last
acted on it, the operators' note, and retry (a converge) for one or all. A retry is the
console's converge action (console_actions: role-checked, audited); a note is audited too."""
from __future__ import annotations

from app import db
from app.db.operators import ops as rows
from app.services.common.refusals import Refused
from app.services.operators import console_actions
from app.services.operators.console import STUCK_MINUTES
from app.services.operators.staff import StaffSession, audit
from app.settings import Settings

NOTE_LENGTH = 2000
ERROR_WORDS = 300


def _first_words(error: str | None) -> str:
    """An upstream error's first line, whitespace folded, cut where a person stops reading."""
    line = " ".join(((error or "").strip().splitlines() or [""])[0].split())
    return line if len(line) <= ERROR_WORDS else line[:ERROR_WORDS - 1].rstrip() + "…"


def in_words(item: dict) -> str:
    """Why the subscription is on the list and what went wrong last, as an operator says it."""
    error = _first_words(item.get("provisioning_error") or item.get("last_error"))
    said = f" The last error: {error}" if error else ""
    if item["reason"] == "failed":
        return f"The last converge failed and will not be retried by itself.{said}"
    if item["reason"] == "failing":
        times = item.get("failures_in_a_row") or 0
        return (f"{times} converges failed in a row; the worker keeps retrying." if times else
                "Flagged for a person after repeated failures.") + said
    if item["reason"] == "stuck":
        return f"No run has finished for {STUCK_MINUTES} minutes while {item['provisioning_status']}.{said}"
    return "The last drift check found changes made outside mpanel: a converge puts them back."


def work_list(settings: Settings) -> dict:
    with db.transaction(settings.DATABASE_URL) as conn:
        rows.small_reads(conn)
        items = rows.attention_queue(conn, STUCK_MINUTES)
        total = rows.attention_total(conn, STUCK_MINUTES)
    for item in items:
        item["in_words"] = in_words(item)
    return {"items": items, "total": max(total, len(items))}


def retry(settings: Settings, who: StaffSession, subscription_id: int, address: str | None = None) -> str:
    return console_actions.perform(settings, who, "converge", subscription_id, address=address)


def retry_all(settings: Settings, who: StaffSession, address: str | None = None) -> str:
    """A converge for every subscription on the list (its shown page); one refusal does not stop
    the others (each is audited on its own)."""
    queued, refused = 0, []
    for item in work_list(settings)["items"]:
        try:
            console_actions.perform(settings, who, "converge", item["id"], address=address)
            queued += 1
        except Refused as exc:
            refused.append(f"subscription {item['id']}: {exc.message}")
    said = f"Retry queued for {queued} subscription(s)."
    return said + (f" Not retried: {'; '.join(refused)}" if refused else "")


def note(settings: Settings, who: StaffSession, subscription_id: int, text: str, address: str | None = None) -> str:
    text = (text or "").strip()[:NOTE_LENGTH]
    with db.transaction(settings.DATABASE_URL) as conn:
        if rows.subscription(conn, subscription_id) is None:
            raise console_actions.ActionRefused(f"subscription {subscription_id} does not exist", 404)
        rows.set_attention_note(conn, subscription_id, text, who.email)
    audit(settings, who, "attention_note", subscription_id, "ok", text[:500] or "(note removed)", address)
    return "Note saved." if text else "Note removed."
