"""The subscription lifecycle as rules: pure functions of values, no database, no clock, no Stripe.

`app/services/lifecycle.py` applies them to rows; everything that decides lives here, so
it is tested with plain values (tests/unit/test_lifecycle_rules.py).

Billing status -> our status:
  active/trialing -> active        (a suspended account is reactivated)
  past_due/unpaid -> past_due      (suspended once the grace period, SUSPEND_AFTER_DAYS, is over)
  canceled/incomplete_expired -> canceled, then terminated (stack destroyed) after TERMINATE_AFTER_DAYS
  cancel_at_period_end            -> remembered; nothing changes until Stripe ends the subscription
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
BECOMES_ACTIVE_FROM = ("pending_payment", "active", "past_due", "suspended")
BECOMES_PAST_DUE_FROM = ("active", "past_due", "pending_payment")
NEVER_CANCELED_FROM = ("terminated",)


def stripe_value(obj: Any, *path: str, default=None):
    """obj[path...] for dicts and Stripe objects alike; `default` where any step is missing or None."""
    for key in path:
        if obj is None:
            return default
        obj = obj.get(key) if isinstance(obj, dict) else getattr(obj, key, None)
    return default if obj is None else obj


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
    # Since API 2025-03-31 the billing period lives on the subscription item.
    period_end = stripe_value(remote, "current_period_end") or stripe_value(first, "current_period_end")
    return StripeSubscription(
        id=stripe_value(remote, "id"), customer=stripe_value(remote, "customer"),
        status=stripe_value(remote, "status"), price_id=stripe_value(first, "price", "id"),
        current_period_end=timestamp(period_end),
        cancel_at_period_end=bool(stripe_value(remote, "cancel_at_period_end", default=False)))


def next_status(was: str, stripe_status: str | None) -> str:
    """Our subscription status once Stripe says `stripe_status` about a subscription that was `was`."""
    if stripe_status in STRIPE_PAYING:
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
    if new == "canceled" and was != "canceled":
        updates["terminate_after"] = now + dt.timedelta(days=terminate_after_days)
    emails = ("reactivated",) if new == "active" and was == "suspended" else ()
    return Consequences(updates, emails, converge=new != was or plan_changed)


@dataclass(frozen=True)
class Deadline:
    """A status that ends by itself once a date has passed, and what its end implies."""

    waiting: str          # the status that waits for the date
    becomes: str
    email: str            # the notice sent to the customer (app/mail, kind)


# Past due beyond the grace period -> suspended; canceled past retention -> terminated.
SUSPENSION = Deadline(waiting="past_due", becomes="suspended", email="suspended")
TERMINATION = Deadline(waiting="canceled", becomes="terminated", email="canceled")
DEADLINES = (SUSPENSION, TERMINATION)


def deadline_passed(row: Mapping[str, Any], now: dt.datetime, suspend_after_days: float) -> Deadline | None:
    """Which deadline, if any, has ended the row's status by `now` (row: status, past_due_since,
    terminate_after)."""
    status = row["status"]
    if status == SUSPENSION.waiting and row["past_due_since"] is not None:
        if row["past_due_since"] <= now - dt.timedelta(days=suspend_after_days):
            return SUSPENSION
    if status == TERMINATION.waiting and row["terminate_after"] is not None and row["terminate_after"] <= now:
        return TERMINATION
    return None


def checkout_paid(payment_status: str | None) -> bool:
    return payment_status in PAID


def checkout_lost_its_payment(session_status: str | None, payment_status: str | None) -> bool:
    """A completed checkout whose delayed payment failed: its order is abandoned. An open
    session can still be paid; a paid one is not ours to abandon."""
    return session_status == "complete" and not checkout_paid(payment_status)

