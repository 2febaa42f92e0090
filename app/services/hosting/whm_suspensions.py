"""WHM's own suspensions (issue 26 item 4): an account suspended on its server by someone other
than mpanel (a WHM administrator, the datacentre's abuse desk, cPanel's own tools) is recorded
as suspended by WHM, with WHM's reason, instead of being unsuspended by the next converge.

Looked at before every converge and every drift check of a built account (one `accountsummary`):
- WHM says suspended while our last converge left the account running (websites.status 'active')
  and the desired state has it running: WHM's own. The subscription becomes suspended by 'whm'
  with WHM's reason verbatim, so the spec keeps the account suspended and gives WHM's
  `suspendacct` the reason WHM already has (nothing overwritten); a payment does not lift it
  (lifecycle_rules.lifted_by_payment), staff do from the console, as for their own.
- A suspension recorded as WHM's that WHM no longer has: WHM lifted it, so we do too.

A suspension of ours that a converge has not yet lifted on WHM (staff just unsuspended, the run is
queued) is told apart by websites.status: our last run (or the record of WHM's own) left that
account suspended.
"""
from __future__ import annotations

import logging

from app import db
from app.db.customers import websites
from app.db.hosting import subscriptions
from app.services.hosting.engine import whm_client
from app.settings import Settings
from providers.core.errors import ProviderError

log = logging.getLogger("mpanel.whm_suspensions")

WHM = "whm"  # subscriptions.suspended_by
RUNNING = ("active", "past_due")


def _flag(value) -> bool:
    return str(value).strip().lower() in ("1", "true", "yes")


def whm_change(site: dict, account: dict) -> dict | None:
    """What the subscription's row becomes given WHM's account summary, or None (pure)."""
    suspended_on_whm = _flag(account.get("suspended"))
    reason = (account.get("suspendreason") or "").strip() or "No reason given"
    if suspended_on_whm and site["status"] in RUNNING and site["website_status"] == "active":
        return {"status": "suspended", "suspended_by": WHM, "suspend_reason": reason}
    if site["status"] == "suspended" and site["suspended_by"] == WHM:
        if not suspended_on_whm:
            # Back to where billing stands: past due stays past due (its deadline still applies).
            return {"status": "past_due" if site["past_due_since"] else "active", "suspended_by": None,
                    "suspend_reason": None}
        if reason != site["suspend_reason"]:
            return {"suspend_reason": reason}
    return None


def follow_whm(settings: Settings, subscription_id: int) -> dict | None:
    """Record a suspension made or lifted on WHM by someone else; returns the change made, if any.
    WHM not answering changes nothing: the engine run that follows reports it."""
    with db.transaction(settings.DATABASE_URL) as conn:
        site = websites.login_target(conn, subscription_id)
    if not site or not site["cpanel_username"] or site["website_status"] not in ("active", "suspended"):
        return None
    if not (site["status"] in RUNNING or site["suspended_by"] == WHM):
        return None  # our own suspensions (billing, staff, a cancellation) are ours to keep or lift
    try:
        account = whm_client(settings, site["server_id"]).account_summary(site["cpanel_username"])
    except ProviderError as exc:
        log.warning("subscription %s: WHM's account %s could not be read: %s", subscription_id,
                    site["cpanel_username"], exc)
        return None
    with db.transaction(settings.DATABASE_URL) as conn:
        # Decided again on the locked row: billing or staff may have acted while WHM answered.
        subscriptions.lock_by_id(conn, subscription_id)
        site = websites.login_target(conn, subscription_id)
        change = whm_change(site, account)
        if change:
            subscriptions.update(conn, subscription_id, change)
            # What the server has now, so a staff unsuspension before the next run is not taken for WHM's.
            websites.record_account_suspension(conn, subscription_id, _flag(account.get("suspended")))
    if change:
        log.warning("subscription %s: %s on WHM (%s), not by mpanel: recorded", subscription_id,
                    "suspended" if change.get("suspended_by") == WHM or "status" not in change else "unsuspended",
                    change.get("suspend_reason") or site["suspend_reason"])
    return change
