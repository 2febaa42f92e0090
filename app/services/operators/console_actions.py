"""What operators can do to a subscription from the console. Each action only changes desired
state and enqueues (like every other event): nothing is provisioned inside a request. Each is
role-checked here (the view checks too) and written to the audit log with its outcome."""
from __future__ import annotations

from app import db
from app.db.customers import websites
from app.db.hosting import runs as run_rows
from app.db.hosting import subscriptions as subscription_rows
from app.db.operators import ops as rows
from app.db.operators import staff as staff_rows
from app.jobs.defer import request_converge, request_drift_check, request_welcome_resend
from app.services.common.refusals import Refused
from app.services.operators.staff import StaffSession
from app.services.orders.lifecycle_rules import SUSPENDED_BY_STAFF
from app.services.operators.staff_roles import NotAllowed, allowed
from app.settings import Settings


class ActionRefused(Refused):
    """The action cannot be done to this subscription now; the message says why."""

    def __init__(self, message: str, status: int = 409, field: str | None = None):
        super().__init__(field, message, status=status)


def _audit(conn, who: StaffSession, action: str, sid: int | None, outcome: str, detail: str | None,
           address: str | None) -> None:
    staff_rows.audit(conn, staff_id=who.staff_id, staff_email=who.email, action=action, subscription_id=sid,
                     outcome=outcome, detail=detail, address=address)


def _refuse(settings: Settings, who: StaffSession, action: str, sid: int, exc: Exception, address: str | None):
    with db.transaction(settings.DATABASE_URL) as conn:
        _audit(conn, who, action, sid, "refused", str(exc)[:500], address)
    raise exc


def perform(settings: Settings, who: StaffSession, action: str, subscription_id: int, *, address: str | None = None,
            typed_domain: str = "", cancel_billing: bool = False, reason: str = "") -> str:
    """Do `action`; returns what the operator is told. Raises NotAllowed or ActionRefused (both
    audited as refused). A suspension needs the `reason` typed by the operator."""
    if action not in HANDLERS or not allowed(who.role, action):
        _refuse(settings, who, action, subscription_id, NotAllowed(who.role, action), address)
    try:
        if action == "destroy":
            return _destroy(settings, who, subscription_id, typed_domain, cancel_billing, address)
        with db.transaction(settings.DATABASE_URL) as conn:
            sub = rows.subscription(conn, subscription_id)
            if sub is None:
                raise ActionRefused(f"subscription {subscription_id} does not exist", 404)
            notice = _suspend(conn, sub, reason) if action == "suspend" else HANDLERS[action](conn, sub)
            _audit(conn, who, action, subscription_id, "queued", notice, address)
            return notice
    except ActionRefused as exc:
        _refuse(settings, who, action, subscription_id, exc, address)


def _live(sub: dict, doing: str) -> None:
    if sub["status"] in ("pending_payment", "abandoned"):
        raise ActionRefused(f"cannot {doing}: subscription {sub['id']} was never paid ({sub['status']})")
    if sub["provisioning_status"] == "destroyed" or sub["status"] == "terminated":
        raise ActionRefused(f"cannot {doing}: subscription {sub['id']} is terminated")


def _converge(conn, sub: dict) -> str:
    _live(sub, "converge")
    queued = request_converge(conn, sub["id"], force=True)  # the engine runs even if nothing changed
    return "Converge queued." if queued else "A converge was already waiting; it reads the latest state."


def _refresh(conn, sub: dict) -> str:
    """Refresh (read reality) then preview (what a converge would change): the drift check."""
    _live(sub, "refresh")
    if sub["provisioning_status"] == "pending":
        raise ActionRefused(f"cannot refresh: subscription {sub['id']}'s stack was never built")
    queued = request_drift_check(conn, sub["id"])
    return ("Refresh and preview queued: the result appears under Runs." if queued
            else "A refresh was already waiting.")


# The longest reason kept: WHM shows it, the customer's panel too.
SUSPEND_REASON_LENGTH = 200


def _billing_status(conn, sub: dict, *, only_from: tuple[str, ...], which: str, to: str, done: str) -> str:
    """Desired state only: the new billing status, and the converge that applies it to WHM."""
    if sub["status"] not in only_from:
        raise ActionRefused(f"only {which} subscription can be {to} (this one is {sub['status']})")
    rows.set_billing_status(conn, sub["id"], "suspended" if to == "suspended" else "active")
    request_converge(conn, sub["id"])
    return done


def _suspend(conn, sub: dict, reason: str = "") -> str:
    """A staff suspension (abuse, a complaint): the typed reason is recorded, shown to the customer
    and given to WHM, and a payment does not lift it (only staff do: lifecycle_rules.lifted_by_payment)."""
    reason = " ".join((reason or "").split())
    if not reason:
        raise ActionRefused("type the reason for the suspension (the customer and WHM are shown it)", 422, "reason")
    notice = _billing_status(conn, sub, only_from=("active", "past_due"), which="an active or past-due",
                             to="suspended", done="Suspended: the converge suspends the cPanel account.")
    subscription_rows.record_suspension(conn, sub["id"], SUSPENDED_BY_STAFF, reason[:SUSPEND_REASON_LENGTH])
    return notice


def _unsuspend(conn, sub: dict) -> str:
    """Staff lift any suspension (billing's too: the next failed payment suspends again)."""
    notice = _billing_status(conn, sub, only_from=("suspended",), which="a suspended", to="unsuspended",
                             done="Unsuspended: the converge reactivates the cPanel account.")
    subscription_rows.update(conn, sub["id"], {"suspended_by": None, "suspend_reason": None})
    return notice


def _resend_welcome(conn, sub: dict) -> str:
    if sub["provisioning_status"] != "ready":
        raise ActionRefused("the welcome email can only be resent once the site is ready")
    resend = staff_rows.next_resend_number(conn, sub["id"])
    request_welcome_resend(conn, sub["id"], resend)
    return f"Welcome email queued to {sub['email']}."


def _cpanel_password(conn, sub: dict) -> str:
    """The customer's own "email me a new cPanel password", asked for by an operator: desired
    state (one more reset), set by the converge, emailed once (as from the dashboard)."""
    if not websites.count_cpanel_password_reset(conn, sub["id"]):
        raise ActionRefused("a new cPanel password needs an active subscription with a live site")
    request_converge(conn, sub["id"])
    return f"A new cPanel password is being set; it is emailed to {sub['email']}."


HANDLERS = {"converge": _converge, "refresh": _refresh, "preview": _refresh, "suspend": _suspend,
            "unsuspend": _unsuspend, "resend_welcome": _resend_welcome, "cpanel_password": _cpanel_password,
            "destroy": None}


def _destroy(settings: Settings, who: StaffSession, sid: int, typed: str, cancel_billing: bool,
             address: str | None) -> str:
    """The same refusals as `mpanel stacks destroy`: the domain typed to confirm, and nothing
    destroyed while Stripe still bills it unless billing is canceled in Stripe first."""
    with db.transaction(settings.DATABASE_URL) as conn:
        row = subscription_rows.hosting_account(conn, sid)
    if row is None:
        raise ActionRefused(f"subscription {sid} does not exist", 404)
    if (typed or "").strip().lower() != (row["domain"] or "").lower():
        raise ActionRefused("the domain typed does not match: nothing destroyed", 422, "confirm_domain")
    billed = billed_by_stripe(settings, row["stripe_subscription_id"])
    if billed and not cancel_billing:
        raise ActionRefused(f"{row['domain']} is still billed by Stripe ({billed}): nothing destroyed. Tick "
                            "'cancel billing in Stripe' to cancel it there and destroy.")
    if billed:
        from app.services.orders import billing

        billing.cancel_subscription(settings, row["stripe_subscription_id"], f"mpanel-destroy-{sid}")
    with db.transaction(settings.DATABASE_URL) as conn:
        run_rows.mark_terminated(conn, sid)
        request_converge(conn, sid)
        _audit(conn, who, "destroy", sid, "queued", "billing canceled in Stripe" if billed else None, address)
    return f"{row['domain']} is being destroyed (a backup is taken first)."


def billed_by_stripe(settings: Settings, stripe_subscription_id: str | None) -> str | None:
    """Stripe's status when Stripe may still charge the subscription (Stripe asked, not our copy)."""
    if not stripe_subscription_id:
        return None
    from app.services.orders import billing
    from app.services.orders.lifecycle_rules import STRIPE_ENDED

    status = billing.retrieve_subscription(settings, stripe_subscription_id).status
    return None if status in STRIPE_ENDED else status
