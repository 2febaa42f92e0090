"""The subscription lifecycle as rules: pure functions of values, no database, no clock, no Stripe.

`app/services/orders/lifecycle.py` applies them to rows; everything that decides lives here, so
it is tested with plain values (tests/unit/test_lifecycle_rules.py).

Billing status -> our status:
  active/trialing -> active        (a suspended account is reactivated)
  past_due/unpaid -> past_due      (suspended once the grace period, SUSPEND_AFTER_DAYS, is over)
  canceled/incomplete_expired -> canceled: the account is suspended at once and backed up, and
                                   terminated (stack destroyed) after TERMINATE_AFTER_DAYS
  cancel_at_period_end            -> remembered; nothing changes until Stripe ends the subscription

A canceled order is retained, not gone: a customer who pays again before its retention ends
gets it back (canceled -> active: the same stack and account, unsuspended). Stripe never
reactivates a canceled subscription, so only a new one the order was given (a returning
customer's checkout for the same domain) can say "active" about a canceled order. A
terminated order has no account left to give back.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Mapping

# Checkout Session payment_status values meaning the money is there.
PAID = ("paid", "no_payment_required")

# Stripe subscription statuses, grouped by what they mean for the hosting.
STRIPE_PAYING = ("active", "trialing")
STRIPE_OWING = ("past_due", "unpaid")
STRIPE_ENDED = ("canceled", "incomplete_expired")
# Which of our statuses each group may move from (any other status stays as it is).
BECOMES_ACTIVE_FROM = ("pending_payment", "active", "past_due", "suspended", "canceled")
BECOMES_PAST_DUE_FROM = ("active", "past_due", "pending_payment")
NEVER_CANCELED_FROM = ("terminated",)
# Statuses whose account exists but is switched off; paying again switches it back on.
SWITCHED_OFF = ("suspended", "canceled")


def retained(status: str) -> bool:
    """Whether an order in this status is kept for its customer to take back by paying again."""
    return status == "canceled"


def stripe_value(obj: Any, *path: str, default=None):
    """obj[path...] for dicts and Stripe objects alike; `default` where any step is missing or None."""
    for key in path:
        if obj is None:
            return default
        obj = obj.get(key) if isinstance(obj, dict) else getattr(obj, key, None)
    return default if obj is None else obj


def event_lane(event: Mapping[str, Any]) -> str | None:
    """The billing lane an event is processed in (app/jobs/defer.py billing_lock): the Stripe
    customer it is about (the customer itself, or the one its object names: subscription,
    invoice, checkout session, payment); an object that names no customer (a checkout session
    that never completed) is a lane of its own; None for an event naming neither."""
    obj = stripe_value(event, "data", "object", default={})
    customer = obj if stripe_value(obj, "object") == "customer" else stripe_value(obj, "customer")
    lane = stripe_value(customer, "id") if isinstance(customer, dict) else customer
    lane = lane or stripe_value(obj, "id")
    return lane if isinstance(lane, str) and lane else None


def timestamp(value) -> dt.datetime | None:
    """A Stripe epoch-seconds timestamp as an aware UTC datetime (None for 0 or missing)."""
    return dt.datetime.fromtimestamp(int(value), dt.timezone.utc) if value else None


@dataclass(frozen=True)
class StripeSubscription:
    """What the lifecycle reads from a Stripe subscription object."""

    id: str | None
    customer: str | None
    status: str | None
    price_id: str | None
    current_period_end: dt.datetime | None
    cancel_at_period_end: bool


def read_stripe_subscription(remote: Any) -> StripeSubscription:
    items = stripe_value(remote, "items", "data") or []
    first = items[0] if items else None
    # The billing period lives on the subscription item (API 2025-03-31 and later: the pinned
    # version has no top-level current_period_end).
    return StripeSubscription(
        id=stripe_value(remote, "id"), customer=stripe_value(remote, "customer"),
        status=stripe_value(remote, "status"), price_id=stripe_value(first, "price", "id"),
        current_period_end=timestamp(stripe_value(first, "current_period_end")),
        cancel_at_period_end=scheduled_to_end(remote))


def scheduled_to_end(remote: Any) -> bool:
    """Whether Stripe will end the subscription by itself: at the period end
    (`cancel_at_period_end`) or at a date (`cancel_at`, which the Customer Portal and the API
    can set to any instant). Both are remembered alike: nothing changes until Stripe ends it."""
    return bool(stripe_value(remote, "cancel_at_period_end", default=False) or stripe_value(remote, "cancel_at"))


# Who suspended a subscription (subscriptions.suspended_by). A payment lifts only a billing
# suspension: one staff made (abuse, with their typed reason) stays until staff lift it, as WHMCS does.
SUSPENDED_BY_BILLING, SUSPENDED_BY_STAFF, SUSPENDED_BY_WHM = "billing", "staff", "whm"
BILLING_SUSPENSION_REASON = "Billing: payment overdue"


def lifted_by_payment(suspended_by: str | None) -> bool:
    """Whether a payment ends a suspension made by `suspended_by` (NULL: an older, billing one)."""
    return suspended_by in (None, SUSPENDED_BY_BILLING)


def next_status(was: str, stripe_status: str | None, suspended_by: str | None = None) -> str:
    """Our subscription status once Stripe says `stripe_status` about a subscription that was `was`
    (`suspended_by`: who suspended it, when it is suspended)."""
    if stripe_status in STRIPE_PAYING:
        if was == "suspended" and not lifted_by_payment(suspended_by):
            return was
        return "active" if was in BECOMES_ACTIVE_FROM else was
    if stripe_status in STRIPE_OWING:
        return "past_due" if was in BECOMES_PAST_DUE_FROM else was
    if stripe_status in STRIPE_ENDED:
        return "canceled" if was not in NEVER_CANCELED_FROM else was
    return was


def billed_after_abandoning(was: str, stripe_status: str | None) -> bool:
    """An abandoned order's checkout was closed unpaid, so Stripe cannot bill it; if Stripe says
    it does, a person must look (refund, or restore the order), never a silent rebuild."""
    return was == "abandoned" and stripe_status in (*STRIPE_PAYING, "past_due")


def abandoned_but_billed_error(stripe_status: str) -> str:
    return f"abandoned order billed by Stripe ({stripe_status}): refund or restore by hand"


def billing_cycle_of(plan: Mapping[str, Any], price_id: str) -> str:
    """Which of a plan's two Stripe prices `price_id` is."""
    return "yearly" if plan["stripe_price_yearly"] == price_id else "monthly"


@dataclass(frozen=True)
class Consequences:
    """What a status change implies: columns to set, emails to send, whether to converge."""

    updates: dict = field(default_factory=dict)
    emails: tuple[str, ...] = ()
    converge: bool = False


def transition(was: str, new: str, *, plan_changed: bool, now: dt.datetime,
               terminate_after_days: float) -> Consequences:
    """The consequences of our status moving from `was` to `new` (equal when nothing moved)."""
    updates: dict[str, Any] = {}
    if new != was:
        updates["status"] = new
    if new == "past_due" and was != "past_due":
        updates["past_due_since"] = now
    if new == "active":
        updates["past_due_since"] = None
        updates["failed_payment"] = None  # paid: the dunning sequence ends here
        updates["suspended_by"] = None
        updates["suspend_reason"] = None
    if new == "active" and was == "canceled":
        updates["terminate_after"] = None  # taken back: nothing is due any more
    emails: tuple[str, ...] = ()
    if new == "active" and was in SWITCHED_OFF:
        emails = ("reactivated",)
    if new == "canceled" and was != "canceled":
        updates["terminate_after"] = now + dt.timedelta(days=terminate_after_days)
        # Told once, at cancellation: suspended now, kept until terminate_after, and how to come back.
        emails = ("canceled",)
    return Consequences(updates, emails, converge=new != was or plan_changed)


@dataclass(frozen=True)
class Deadline:
    """A status that ends by itself once a date has passed, and what its end implies."""

    waiting: str          # the status that waits for the date
    becomes: str
    email: str | None     # the notice sent to the customer (app/mail, kind), if any


# Past due beyond the grace period -> suspended (by billing); canceled past retention ->
# terminated (the customer was told at cancellation, and warned before the date:
# app/services/notices.py).
SUSPENSION = Deadline(waiting="past_due", becomes="suspended", email="suspended")
TERMINATION = Deadline(waiting="canceled", becomes="terminated", email=None)
DEADLINES = (SUSPENSION, TERMINATION)


def deadline_passed(row: Mapping[str, Any], now: dt.datetime, suspend_after_days: float) -> Deadline | None:
    """Which deadline, if any, has ended the row's status by `now` (row: status, past_due_since,
    terminate_after, billed_externally)."""
    status = row["status"]
    # An account billed elsewhere (imported with `--billing external`) is never suspended for
    # billing: mpanel does not know what is owed; that system's people suspend it as staff.
    if status == SUSPENSION.waiting and row["past_due_since"] is not None and not row.get("billed_externally"):
        if suspension_date(row["past_due_since"], suspend_after_days) <= now:
            return SUSPENSION
    if status == TERMINATION.waiting and row["terminate_after"] is not None and row["terminate_after"] <= now:
        return TERMINATION
    return None


def failed_payment(invoice: Any, reason: str | None) -> dict:
    """What the dunning notices quote of a failed renewal invoice: the amount still due, Stripe's
    reason, and its hosted invoice page (where the customer pays, or pays with another card)."""
    currency = stripe_value(invoice, "currency")
    return {"invoice_id": stripe_value(invoice, "id"),
            "amount_cents": stripe_value(invoice, "amount_remaining", default=stripe_value(invoice, "amount_due")),
            "currency": currency.lower() if isinstance(currency, str) else None,
            "reason": reason or "your bank declined the payment",
            "pay_url": stripe_value(invoice, "hosted_invoice_url")}


def checkout_paid(payment_status: str | None) -> bool:
    return payment_status in PAID


def checkout_lost_its_payment(session_status: str | None, payment_status: str | None) -> bool:
    """A completed checkout whose delayed payment failed: its order is abandoned. An open
    session can still be paid; a paid one is not ours to abandon."""
    return session_status == "complete" and not checkout_paid(payment_status)



# --- matching Stripe objects to our orders, and checking what was paid -----------------------
#
# The payer controls a session's client_reference_id and metadata (a Payment Link takes
# `?client_reference_id=` from its URL) and can put any metadata on a subscription of their
# own. Those fields therefore never find an order: an event acts on an order only through the
# Stripe ids stored on it (the checkout session we created, then the subscription that session
# created). The payer-controlled fields are read only to notice that someone named one of our
# orders with an object that is not its own, which a person should see.

# What a person is told about (billing_anomalies.kind).
CHECKOUT_NOT_OURS = "checkout_not_ours"          # a session naming an order whose checkout it is not
CHECKOUT_MISMATCH = "checkout_mismatch"          # the order's own session, paid at another amount/price
SUBSCRIPTION_NOT_OURS = "subscription_not_ours"  # a subscription naming an order it does not belong to


@dataclass(frozen=True)
class BillingAnomaly:
    """Something a Stripe event claimed that our records do not support: recorded, nothing else done."""

    kind: str
    stripe_object_id: str | None
    subscription_id: int | None   # the order it named or paid for
    detail: str


def claimed_order_ids(*references: Any) -> tuple[int, ...]:
    """Our order ids named by payer-controlled fields (client_reference_id, metadata.subscription_id);
    anything that is not a plain positive integer names nothing."""
    ids: list[int] = []
    for ref in references:
        text = str(ref).strip() if ref is not None else ""
        if text.isascii() and text.isdigit() and 0 < int(text) < 2 ** 63 and int(text) not in ids:
            ids.append(int(text))
    return tuple(ids)


def foreign_checkout(session_id: str | None, claimed: Mapping[str, Any]) -> BillingAnomaly | None:
    """A paid session that matched no order by its id, but names order `claimed`: not that order's
    checkout (a Payment Link or a session made outside our checkout). None when it is its checkout."""
    if claimed.get("stripe_checkout_session_id") == session_id:
        return None
    return BillingAnomaly(
        CHECKOUT_NOT_OURS, session_id, claimed["id"],
        f"checkout session {session_id} was paid naming order {claimed['id']}, whose checkout is "
        f"{claimed.get('stripe_checkout_session_id') or 'none'}: not activated")


def foreign_subscription(stripe_subscription_id: str | None, claimed: Mapping[str, Any]) -> BillingAnomaly | None:
    """A Stripe subscription that matched no order by its id, but names order `claimed` in its metadata.
    An order still waiting for payment has no subscription yet (its own may simply be early: its
    checkout, once paid and checked, decides), so only an order holding another subscription, or
    none while no longer waiting for one, makes it foreign."""
    stored = claimed.get("stripe_subscription_id")
    if stored == stripe_subscription_id:
        return None
    if stored is None and claimed.get("status") == "pending_payment":
        return None
    return BillingAnomaly(
        SUBSCRIPTION_NOT_OURS, stripe_subscription_id, claimed["id"],
        f"Stripe subscription {stripe_subscription_id} names order {claimed['id']}, whose subscription is "
        f"{stored or 'none'} ({claimed.get('status')}): ignored")


@dataclass(frozen=True)
class Charge:
    """What a checkout charges (or an order was priced at): amount, currency, and its prices
    as (price id, quantity), one per line."""

    amount_cents: int | None
    currency: str | None
    lines: tuple[tuple[str | None, int | None], ...]


def paid_checkout_charge(session: Any) -> Charge:
    """A checkout session's charge; its line items must be expanded (expand[]=line_items)."""
    items = stripe_value(session, "line_items", "data") or []
    currency = stripe_value(session, "currency")
    return Charge(amount_cents=stripe_value(session, "amount_total"),
                  currency=currency.lower() if isinstance(currency, str) else None,
                  lines=tuple((stripe_value(i, "price", "id"), stripe_value(i, "quantity")) for i in items))


def order_charge(order: Mapping[str, Any], plan: Mapping[str, Any]) -> Charge:
    """What the order was priced at: its amount (the plan's price for its cycle after the promotion
    code's coupon, app/services/orders/orders.py), the plan's currency, one of the plan's price for its cycle."""
    column = "stripe_price_yearly" if order["billing_cycle"] == "yearly" else "stripe_price_monthly"
    return Charge(amount_cents=order.get("amount_cents"), currency=(plan.get("currency") or "").lower() or None,
                  lines=((plan.get(column), 1),))


def charge_differences(paid: Charge, expected: Charge) -> list[str]:
    """How a paid charge differs from the expected one (empty: it is exactly what the order costs).
    Unknown expectations never pass: an order or plan without a price cannot be checked."""
    differences = []
    if expected.amount_cents is None or paid.amount_cents != expected.amount_cents:
        differences.append(f"amount {paid.amount_cents}, expected {expected.amount_cents}")
    if expected.currency is None or paid.currency != expected.currency:
        differences.append(f"currency {paid.currency}, expected {expected.currency}")
    if any(price is None for price, _ in expected.lines) or paid.lines != expected.lines:
        differences.append(f"items {_lines(paid.lines)}, expected {_lines(expected.lines)}")
    return differences


def _lines(lines: tuple[tuple[str | None, int | None], ...]) -> str:
    return ", ".join(f"{quantity} x {price}" for price, quantity in lines) or "none"


def checkout_mismatch(session_id: str | None, order_id: int, differences: list[str]) -> BillingAnomaly:
    return BillingAnomaly(CHECKOUT_MISMATCH, session_id, order_id,
                          f"checkout session {session_id} of order {order_id} was paid with "
                          f"{'; '.join(differences)}: not activated")


def checkout_mismatch_error(differences: list[str]) -> str:
    """What the order shows (provisioning_error) while a person looks at its payment."""
    return f"the payment does not match the order ({'; '.join(differences)}): a person will check it"


# --- notices that fall due with time (applied by app/services/notices.py) ----------------------
#
# Each schedule is a list of days; a notice is due from its day on, and only the latest one due
# is sent (a worker down for three days sends one reminder, not three). Its dedupe key names the
# occurrence (the past-due date, the termination date, the expiry date) and the step, so each is
# sent once, and a new occurrence (a second failed renewal, a re-cancellation) starts afresh.

@dataclass(frozen=True)
class Reminder:
    """One step of a schedule: its name in the dedupe key, and whether it is the final warning."""

    step: str
    final: bool = False


def parse_days(schedule: str) -> tuple[float, ...]:
    """"1,3,-1" -> (1.0, 3.0, -1.0); blanks ignored. A bad entry is a configuration error."""
    return tuple(float(part) for part in schedule.replace(" ", "").split(",") if part)


def payment_reminder_due(past_due_since: dt.datetime, now: dt.datetime, schedule: str,
                         suspend_after_days: float) -> Reminder | None:
    """The payment reminder due `now` for a renewal unpaid since `past_due_since`, if any.

    `schedule` (DUNNING_REMINDER_DAYS): days after the failure, and negative days counted back
    from the suspension (-1: the final warning the day before). Steps on or after the suspension
    day, or at the failure itself (the notice sent at once covers it), are dropped."""
    suspend_at = past_due_since + dt.timedelta(days=suspend_after_days)
    if now >= suspend_at:
        return None
    steps = []
    for day in parse_days(schedule):
        offset = suspend_after_days + day if day < 0 else day
        if 0 < offset < suspend_after_days:
            steps.append((offset, day < 0))
    due = [s for s in sorted(steps) if past_due_since + dt.timedelta(days=s[0]) <= now]
    if not due:
        return None
    offset, counted_back = due[-1]
    return Reminder(step=f"day-{offset:g}", final=counted_back)


def suspension_date(past_due_since: dt.datetime, suspend_after_days: float) -> dt.datetime:
    """The day the grace period ends (the deadline enforce_deadlines applies): what the notices
    announce (app/mail/notices.py adds the same days: mail may not import the services)."""
    return past_due_since + dt.timedelta(days=suspend_after_days)


def termination_warning_due(terminate_after: dt.datetime, now: dt.datetime, warn_days: float) -> bool:
    """Whether a canceled order's warning before removal is due: inside the last `warn_days` of
    its retention, before the date."""
    return terminate_after - dt.timedelta(days=warn_days) <= now < terminate_after


def domain_expiry_reminder_due(expires_at: dt.datetime, now: dt.datetime, schedule: str) -> Reminder | None:
    """The expiry reminder due `now` (DOMAIN_EXPIRY_REMINDER_DAYS: days before expiry), if any."""
    if now >= expires_at:
        return None
    due = [d for d in parse_days(schedule) if d > 0 and expires_at - dt.timedelta(days=d) <= now]
    return Reminder(step=f"{min(due):g}-days") if due else None


def card_lapses_before(exp_month: int, exp_year: int, moment: dt.datetime) -> bool:
    """Whether a card expiring `exp_month`/`exp_year` (valid through that month's last day, as
    card networks have it) can no longer be charged at `moment`: a renewal then is not covered."""
    first_invalid = dt.datetime(exp_year + exp_month // 12, exp_month % 12 + 1, 1, tzinfo=dt.timezone.utc)
    return moment >= first_invalid
