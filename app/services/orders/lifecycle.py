"""Stripe events -> desired state. Nothing here provisions: it changes rows and asks for a converge.

Events arrive at least once and in any order, so a handler never trusts the event's
snapshot when order matters: it re-reads the subscription from Stripe and applies
that (the latest truth). Applying the same truth twice changes nothing, which makes
duplicates and shuffles harmless.

An event finds its order only through the Stripe ids stored on the order: the checkout session
we created for it, then the subscription that session created once its payment was checked
against what the order was priced at. What the payer controls (client_reference_id, metadata)
never finds an order; an event naming one of ours that way, or a payment of another amount,
currency or price, is kept in billing_anomalies for a person and changes nothing.

What a status means and what a change implies are rules (app/services/orders/lifecycle_rules.py);
this module applies them to rows (app/db/hosting/subscriptions.py) and, in the same transaction,
asks for the converges and notices they imply (app/jobs/defer.py), so no request can be
lost between a commit and an enqueue.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable

import psycopg
import stripe

from app import db
from app.db.hosting import subscriptions
from app.db.orders import payments, plans, stripe_events
from app.jobs.defer import (request_converge, request_lifecycle_email, request_payment_failed_notice,
                            request_stripe_event, stripe_event_processing)
from app.services.orders import billing
from app.services.orders import lifecycle_rules as rules
from app.services.orders.lifecycle_rules import stripe_value as _get
from app.services.orders.orders import abandon_order
from app.settings import Settings

log = logging.getLogger("mpanel.lifecycle")

PAID = rules.PAID


@dataclass
class Outcome:
    """What processing one event decided: the subscriptions to converge and the notices to send.
    `request_in` asks for them inside the deciding transaction."""

    converge: set[int] = field(default_factory=set)
    emails: list[tuple[int, str]] = field(default_factory=list)
    # Subscriptions whose renewal payment just failed: the dunning notice goes at once.
    payment_failed: set[int] = field(default_factory=set)
    # What the event claimed that our records do not support (kept by process_event, for a person).
    anomalies: list[rules.BillingAnomaly] = field(default_factory=list)

    def request_in(self, conn: psycopg.Connection) -> None:
        for sid in sorted(self.converge):
            request_converge(conn, sid)
        for sid, kind in self.emails:
            request_lifecycle_email(conn, sid, kind)
        for sid in sorted(self.payment_failed):
            request_payment_failed_notice(conn, sid)


class StripeTruth:
    """What Stripe says now about the objects one event names, read before any transaction
    opens. A read that failed is kept and raised only if the handler needs it, so an event
    that turns out to be about nobody's order is not failed by a Stripe it never needed."""

    def __init__(self) -> None:
        self._sessions: dict[str, Any] = {}
        self._subscriptions: dict[str, Any] = {}
        self._payment_invoices: dict[str, Any] = {}
        self._failure_reasons: dict[str, Any] = {}

    @staticmethod
    def _read(into: dict, key: str, fetch: Callable[[], Any]) -> Any:
        try:
            into[key] = fetch()
        except stripe.StripeError as exc:
            into[key] = exc
        return into[key]

    def read_session(self, session_id: str, fetch: Callable[[], Any]) -> Any:
        found = self._read(self._sessions, session_id, fetch)
        return None if isinstance(found, Exception) else found

    def read_subscription(self, stripe_sub_id: str, fetch: Callable[[], Any]) -> Any:
        return self._read(self._subscriptions, stripe_sub_id, fetch)

    def read_payment_invoice(self, intent_id: str, fetch: Callable[[], Any]) -> Any:
        return self._read(self._payment_invoices, intent_id, fetch)

    def payment_invoice(self, intent_id: str | None) -> str | None:
        """The invoice id the payment paid; None when unknown (no invoice, or Stripe could not
        be read: the payment is still recorded, the link is not worth failing the event for)."""
        found = self._payment_invoices.get(intent_id) if intent_id else None
        return None if isinstance(found, Exception) else found

    def read_failure_reason(self, invoice_id: str, fetch: Callable[[], Any]) -> Any:
        return self._read(self._failure_reasons, invoice_id, fetch)

    def failure_reason(self, invoice_id: str | None) -> str | None:
        """Why Stripe says the invoice's payment failed; None when unknown (the notice still goes)."""
        found = self._failure_reasons.get(invoice_id) if invoice_id else None
        return None if isinstance(found, Exception) else found

    @staticmethod
    def _known(found: Any) -> Any:
        if isinstance(found, Exception):
            raise found
        return found

    def session(self, session_id: str) -> Any:
        return self._known(self._sessions[session_id])

    def subscription(self, stripe_sub_id: str) -> Any:
        return self._known(self._subscriptions[stripe_sub_id])


def apply_stripe_subscription(conn: psycopg.Connection, settings: Settings, sub: dict, remote: Any,
                              outcome: Outcome) -> None:
    """Make our subscription row agree with Stripe's subscription object."""
    stripe_sub = rules.read_stripe_subscription(remote)
    was = sub["status"]
    if was == "abandoned":
        if rules.billed_after_abandoning(was, stripe_sub.status):
            log.error("subscription %s was abandoned but Stripe says %s: refund or restore it by hand",
                      sub["id"], stripe_sub.status)
            subscriptions.update(conn, sub["id"],
                                 {"provisioning_error": rules.abandoned_but_billed_error(stripe_sub.status)})
        return
    new = rules.next_status(was, stripe_sub.status, sub.get("suspended_by"))
    changes: dict[str, Any] = {
        "stripe_subscription_id": stripe_sub.id, "stripe_customer_id": stripe_sub.customer,
        "cancel_at_period_end": stripe_sub.cancel_at_period_end, "current_period_end": stripe_sub.current_period_end,
    }
    plan_changed = False
    if stripe_sub.price_id:
        plan = plans.by_stripe_price(conn, stripe_sub.price_id)
        if plan:
            cycle = rules.billing_cycle_of(plan, stripe_sub.price_id)
            if (plan["id"], cycle) != (sub["plan_id"], sub["billing_cycle"]):
                plan_changed = True
                changes.update(plan_id=plan["id"], billing_cycle=cycle)
                log.info("subscription %s: plan changed to %s (%s)", sub["id"], plan["slug"], cycle)
    # The database's clock, the one the deadlines are compared with (enforce_deadlines below):
    # with a zero grace or retention period the new status is then due in this very transaction.
    then = rules.transition(was, new, plan_changed=plan_changed, now=subscriptions.database_now(conn),
                            terminate_after_days=settings.TERMINATE_AFTER_DAYS)
    if new != was:
        log.info("subscription %s: %s -> %s (Stripe says %s)", sub["id"], was, new, stripe_sub.status)
    subscriptions.update(conn, sub["id"], {**changes, **then.updates})

    outcome.emails.extend((sub["id"], kind) for kind in then.emails)
    if then.converge:
        outcome.converge.add(sub["id"])
    # A deadline already due (no grace or retention period) is applied now, in this transaction:
    # the one converge requested then builds its final state (canceled -> terminated: a destroy,
    # not an `up` first and a destroy a minute later).
    enforce_deadlines(conn, settings, outcome, only=sub["id"])


def enforce_deadlines(conn: psycopg.Connection, settings: Settings, outcome: Outcome, only: int | None = None) -> None:
    """Past-due beyond the grace period -> suspended; canceled past retention -> terminated.
    Decides only (into `outcome`); whoever owns the transaction requests what it implies."""
    now = subscriptions.database_now(conn)
    waiting = subscriptions.waiting_on_deadlines(conn, [d.waiting for d in rules.DEADLINES], only)
    for row in waiting:
        deadline = rules.deadline_passed(row, now, settings.SUSPEND_AFTER_DAYS)
        if deadline is None:
            continue
        subscriptions.set_status(conn, row["id"], deadline.becomes)
        if deadline is rules.SUSPENSION:
            subscriptions.record_suspension(conn, row["id"], rules.SUSPENDED_BY_BILLING,
                                            rules.BILLING_SUSPENSION_REASON)
        log.info("subscription %s: %s -> %s (deadline passed)", row["id"], row["status"], deadline.becomes)
        outcome.converge.add(row["id"])
        if deadline.email:
            outcome.emails.append((row["id"], deadline.email))


def enforce_billing_deadlines(settings: Settings) -> Outcome:
    """The periodic sweep: apply every deadline that has passed and, in the same transaction,
    request the converges and notices it implies."""
    outcome = Outcome()
    with db.transaction(settings.DATABASE_URL) as conn:
        enforce_deadlines(conn, settings, outcome)
        outcome.request_in(conn)
    return outcome


def take_back_retained_order(conn: psycopg.Connection, customer_id: int, domain: str,
                             session_id: str) -> int | None:
    """A returning customer checks out again for the domain of their order that is canceled but
    still retained: that order, not a new one, records the new checkout session as its own. The
    session's payment then finds it (on_checkout_paid matches the stored session id), and the new,
    active Stripe subscription brings it back (canceled -> active: the same stack, the same cPanel
    account unsuspended with its files and mail, terminate_after cleared). Returns the order's id,
    or None when the customer has no retained order for the domain (terminated: nothing is left
    to give back, a new order is placed instead). Stripe never reactivates a canceled
    subscription, so paying again always goes through a new checkout."""
    sub = subscriptions.retained_order(conn, customer_id, domain)
    if sub is None or not rules.retained(sub["status"]):
        return None
    subscriptions.set_checkout_session(conn, sub["id"], session_id)
    log.info("subscription %s: canceled order taken back by a new checkout (%s)", sub["id"], session_id)
    return sub["id"]


# --- handlers: one per event family ---------------------------------------------------------

def read_checkout_paid(settings, obj, truth: StripeTruth) -> None:
    session = truth.read_session(_get(obj, "id"), lambda: _retrieve_checkout(settings, _get(obj, "id")))
    if rules.checkout_paid(_get(session, "payment_status")) and _subscription_of_session(session):
        stripe_sub_id = _subscription_of_session(session)
        truth.read_subscription(stripe_sub_id, lambda: billing.retrieve_subscription(settings, stripe_sub_id))


def on_checkout_paid(conn, settings, obj, outcome: Outcome, truth: StripeTruth) -> None:
    # Money decisions never rest on the event's snapshot: Stripe says what the session is now.
    session = truth.session(_get(obj, "id"))
    if not rules.checkout_paid(_get(session, "payment_status")):
        return  # e.g. a delayed payment method: wait for async_payment_succeeded
    sub = _order_of_checkout(conn, session, outcome)
    if sub is None:
        return
    # A first payment, and one taking back a canceled order (its new session, app/services/orders/checkout.py),
    # must pay exactly what the order is priced at.
    if sub["status"] in ("pending_payment", "canceled") and not _paid_as_priced(conn, sub, session, outcome):
        return
    subscriptions.remember_checkout(conn, sub["id"], _get(session, "customer"))
    stripe_sub_id = _subscription_of_session(session)
    if stripe_sub_id:
        apply_stripe_subscription(conn, settings, sub, truth.subscription(stripe_sub_id), outcome)
    elif sub["status"] == "pending_payment":
        subscriptions.set_status(conn, sub["id"], "active")
        outcome.converge.add(sub["id"])
    if not settings.MARKETING_AUTO_PROVISION:
        outcome.converge.discard(sub["id"])


def _subscription_of_session(session: Any) -> str | None:
    stripe_sub_id = _get(session, "subscription")
    return stripe_sub_id if isinstance(stripe_sub_id, str) else _get(stripe_sub_id, "id")


def read_subscription_changed(settings, obj, truth: StripeTruth) -> None:
    stripe_sub_id = _get(obj, "id")
    if stripe_sub_id and isinstance(stripe_sub_id, str):
        truth.read_subscription(stripe_sub_id, lambda: billing.retrieve_subscription(settings, stripe_sub_id))


def on_subscription_changed(conn, settings, obj, outcome: Outcome, truth: StripeTruth) -> None:
    sub = _order_of_stripe_subscription(conn, _get(obj, "id"), _get(obj, "metadata", "subscription_id"), outcome)
    if sub is None:
        log.warning("Stripe subscription %s matches none of ours", _get(obj, "id"))
        return
    apply_stripe_subscription(conn, settings, sub, truth.subscription(_get(obj, "id")), outcome)


def _subscription_of_invoice(obj: Any) -> str | None:
    stripe_sub_id = _get(obj, "parent", "subscription_details", "subscription")
    return stripe_sub_id if stripe_sub_id and isinstance(stripe_sub_id, str) else None


def read_invoice(settings, obj, truth: StripeTruth) -> None:
    stripe_sub_id = _subscription_of_invoice(obj)
    if stripe_sub_id:
        truth.read_subscription(stripe_sub_id, lambda: billing.retrieve_subscription(settings, stripe_sub_id))


def on_invoice(conn, settings, obj, outcome: Outcome, truth: StripeTruth) -> None:
    stripe_sub_id = _subscription_of_invoice(obj)
    if not stripe_sub_id:
        return
    sub = _order_of_stripe_subscription(
        conn, stripe_sub_id, _get(obj, "parent", "subscription_details", "metadata", "subscription_id"), outcome)
    if sub is None:
        return
    # Payments are recorded from payment_intent.* events (one row per intent); an invoice
    # event only moves the subscription.
    apply_stripe_subscription(conn, settings, sub, truth.subscription(stripe_sub_id), outcome)


def read_failed_invoice(settings, obj, truth: StripeTruth) -> None:
    read_invoice(settings, obj, truth)
    invoice_id = _get(obj, "id")
    if invoice_id and _subscription_of_invoice(obj):
        truth.read_failure_reason(invoice_id, lambda: billing.payment_failure_reason(settings, invoice_id))


def on_invoice_payment_failed(conn, settings, obj, outcome: Outcome, truth: StripeTruth) -> None:
    """A renewal payment failed: the subscription moves as Stripe says (past due), and while it is
    past due the customer is told at once (amount, Stripe's reason, the link to pay, the date of
    suspension); the reminders follow on the operator's schedule (app/services/notices.py)."""
    on_invoice(conn, settings, obj, outcome, truth)
    sub = subscriptions.lock(conn, stripe_id=_subscription_of_invoice(obj))
    if sub is None or sub["status"] != "past_due":
        return  # paid meanwhile, canceled, or already suspended (the suspension notice says so)
    subscriptions.record_failed_payment(conn, sub["id"], rules.failed_payment(obj, truth.failure_reason(_get(obj, "id"))))
    outcome.payment_failed.add(sub["id"])


# --- which order an event acts on: only through the Stripe ids stored on it ----------------

def _retrieve_checkout(settings: Settings, session_id: str):
    """The session as Stripe has it now, with its line items (what was bought, at which price)."""
    return billing.client(settings).v1.checkout.sessions.retrieve(session_id, params={"expand": ["line_items"]})


def _order_of_checkout(conn: psycopg.Connection, session: Any, outcome: Outcome) -> dict | None:
    """The order (locked) whose own checkout `session` is: the session id stored when we created it.
    A session naming one of our orders otherwise (client_reference_id, metadata: a Payment Link,
    a session made outside our checkout) acts on nothing and is recorded for a person."""
    session_id = _get(session, "id")
    sub = subscriptions.lock(conn, session_id=session_id)
    if sub is None:
        log.warning("checkout session %s matches no subscription", session_id)
        _note_claims(conn, outcome, rules.foreign_checkout, session_id,
                     _get(session, "client_reference_id"), _get(session, "metadata", "subscription_id"))
    return sub


def _order_of_stripe_subscription(conn: psycopg.Connection, stripe_sub_id: str | None, named_in_metadata: Any,
                                  outcome: Outcome) -> dict | None:
    """The order (locked) holding this Stripe subscription: stored from the order's own paid and
    checked checkout. One only named in its metadata is not acted on; when that cannot be the
    order's own (early) subscription, a person is told."""
    sub = subscriptions.lock(conn, stripe_id=stripe_sub_id)
    if sub is None:
        _note_claims(conn, outcome, rules.foreign_subscription, stripe_sub_id, named_in_metadata)
    return sub


def _note_claims(conn: psycopg.Connection, outcome: Outcome, rule, stripe_id: str | None, *references: Any) -> None:
    for named in subscriptions.named_by_stripe(conn, rules.claimed_order_ids(*references)):
        anomaly = rule(stripe_id, named)
        if anomaly:
            log.error("billing anomaly (%s): %s", anomaly.kind, anomaly.detail)
            outcome.anomalies.append(anomaly)


def _paid_as_priced(conn: psycopg.Connection, sub: dict, session: Any, outcome: Outcome) -> bool:
    """An order is activated only by a payment of exactly what it was priced at: its amount (after
    its promotion code), the plan's currency, one of the plan's price for its billing cycle.
    Anything else is recorded and shown on the order for a person; the order keeps waiting."""
    differences = rules.charge_differences(rules.paid_checkout_charge(session),
                                           rules.order_charge(sub, plans.by_id(conn, sub["plan_id"]) or {}))
    if not differences:
        return True
    anomaly = rules.checkout_mismatch(_get(session, "id"), sub["id"], differences)
    log.error("billing anomaly (%s): %s", anomaly.kind, anomaly.detail)
    outcome.anomalies.append(anomaly)
    subscriptions.update(conn, sub["id"], {"provisioning_error": rules.checkout_mismatch_error(differences)})
    return False


def read_payment_invoice(settings, obj, truth: StripeTruth) -> None:
    """The invoice a PaymentIntent paid: since API 2025-03-31 only its InvoicePayment says."""
    intent_id = _get(obj, "id")
    if intent_id:
        truth.read_payment_invoice(intent_id, lambda: billing.invoice_of_payment(settings, intent_id))


def on_payment_intent(conn, settings, obj, outcome: Outcome, truth: StripeTruth) -> None:
    error = _get(obj, "last_payment_error") or {}
    customer = _get(obj, "customer")
    payments.record(conn, subscription_id=subscriptions.latest_of_stripe_customer(conn, customer) if customer else None,
                    intent_id=_get(obj, "id"), invoice_id=truth.payment_invoice(_get(obj, "id")),
                    amount_cents=_get(obj, "amount", default=0), currency=_get(obj, "currency", default="usd"),
                    status="succeeded" if _get(obj, "status") == "succeeded" else "failed",
                    failure_code=_get(error, "decline_code") or _get(error, "code"))


def abandon_expired_checkout(conn: psycopg.Connection, session: Any) -> bool:
    """Abandon the order whose Stripe checkout has expired unpaid (`session` as re-read from
    Stripe before the transaction, never the event's snapshot); its domain may be ordered again.
    True when an order was abandoned."""
    if _get(session, "status") != "expired":
        return False
    return _abandon_order_of(conn, _get(session, "id"), "expired unpaid")


def _abandon_order_of(conn: psycopg.Connection, session_id: str, why: str) -> bool:
    sub = subscriptions.lock(conn, session_id=session_id)
    if sub is None or not abandon_order(conn, sub["id"]):
        return False
    log.info("subscription %s: checkout %s %s; order abandoned", sub["id"], session_id, why)
    return True


def read_session(settings, obj, truth: StripeTruth) -> None:
    truth.read_session(_get(obj, "id"), lambda: billing.retrieve_session(settings, _get(obj, "id")))


def on_checkout_expired(conn, settings, obj, outcome: Outcome, truth: StripeTruth) -> None:
    """Stripe closed a checkout that was never paid (24 h by default, or the customer started over)."""
    abandon_expired_checkout(conn, truth.session(_get(obj, "id")))


def on_checkout_payment_failed(conn, settings, obj, outcome: Outcome, truth: StripeTruth) -> None:
    """A delayed payment method (bank debit) failed: nothing is built, the order is abandoned so
    the customer can check out again and the domain is free."""
    obj = truth.session(_get(obj, "id"))
    if rules.checkout_lost_its_payment(_get(obj, "status"), _get(obj, "payment_status")):
        _abandon_order_of(conn, _get(obj, "id"), "had its delayed payment fail")




# Event type -> (what to read from Stripe first, outside any transaction; how to apply it).
HANDLERS = {
    "checkout.session.completed": (read_checkout_paid, on_checkout_paid),
    "checkout.session.async_payment_failed": (read_session, on_checkout_payment_failed),
    "checkout.session.expired": (read_session, on_checkout_expired),
    "checkout.session.async_payment_succeeded": (read_checkout_paid, on_checkout_paid),
    "customer.subscription.created": (read_subscription_changed, on_subscription_changed),
    "customer.subscription.updated": (read_subscription_changed, on_subscription_changed),
    "customer.subscription.deleted": (read_subscription_changed, on_subscription_changed),
    "invoice.paid": (read_invoice, on_invoice),
    "invoice.payment_succeeded": (read_invoice, on_invoice),
    "invoice.payment_failed": (read_failed_invoice, on_invoice_payment_failed),
    "payment_intent.succeeded": (read_payment_invoice, on_payment_intent),
    "payment_intent.payment_failed": (read_payment_invoice, on_payment_intent),
}


def process_event(settings: Settings, event_id: str) -> Outcome:
    """Apply one recorded Stripe event (once: processed_at is set in the same transaction), and
    request the converges and notices it decided in that transaction too.

    Stripe is read first, with no transaction open and no pooled connection held (a slow Stripe
    must not hold row locks or starve the pool); then one short transaction locks the event,
    finds it still unprocessed, and applies what was read. A customer's billing jobs run one at a
    time (its lane's lock), so nothing newer about it is applied between the read and the apply."""
    outcome = Outcome()
    with db.transaction(settings.DATABASE_URL) as conn:
        row = stripe_events.unprocessed(conn, event_id)
    if row is None:
        return outcome
    reader, handler = HANDLERS.get(row["type"], (None, None))
    obj = row["payload"]["data"]["object"]
    truth = StripeTruth()
    if reader:
        reader(settings, obj, truth)
    with db.transaction(settings.DATABASE_URL) as conn:
        row = stripe_events.lock_unprocessed(conn, event_id)
        if row is None:
            return outcome  # processed meanwhile (a redelivery's job, the sweep)
        if handler:
            handler(conn, settings, obj, outcome, truth)
        stripe_events.record_anomalies(conn, event_id, row["type"], outcome.anomalies)
        stripe_events.mark_processed(conn, event_id)
        outcome.request_in(conn)
    return outcome


def record_event(settings: Settings, event: dict) -> tuple[bool, bool]:
    """Keep the event (unique id) and, while it is unprocessed, request its processing in the
    same transaction. Returns (new, needs_processing): a repeat delivery of an event not yet
    processed asks again (harmless: one waiting job per event), so Stripe's retry gets it done."""
    # A first delivery (nearly every one) is one statement in one round trip: Stripe's sender
    # waits for the answer, and each round trip more is paid again by every request in flight.
    try:
        with db.single_statements(settings.DATABASE_URL) as conn:
            if stripe_events.record_new(conn, event, stripe_event_processing(event["id"], rules.event_lane(event))):
                return True, True
    except psycopg.errors.UniqueViolation:
        pass  # a job for this id already waits though its event row is new: asked for again below
    with db.transaction(settings.DATABASE_URL) as conn:
        row = stripe_events.record(conn, event)
        needs_processing = row["processed_at"] is None
        if needs_processing:
            request_stripe_event(conn, event["id"], rules.event_lane(event))
    return row["inserted"], needs_processing
