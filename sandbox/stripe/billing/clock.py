"""The test clock: move a subscription to the end of its period with a chosen outcome.

Renewals, failed renewals and their retries, and the end of a subscription that is not
paid for happen only here, driven by the control API or ``python -m sandbox.stripe advance``.
"""

from __future__ import annotations

from typing import Any

from ..cards import DECLINES, Decline
from ..objects import Ledger, Object, changed_attributes
from .fields import snapshot
from .periods import current_period, next_boundary

CLOCK_OUTCOMES = ("renewal_paid", "renewal_failed", "period_end")


class ClockError(Exception):
    pass


class Clock:
    """``advance``: what Stripe's billing engine would do when the period ends."""

    payment_retries: int
    after_failed_retries: str

    def advance(self, led: Ledger, subscription_id: str, outcome: str,
                decline_code: str = "generic_decline") -> dict[str, Any]:
        """Move one subscription to the end of its period with the given outcome."""
        if outcome not in CLOCK_OUTCOMES:
            raise ClockError(f"outcome must be one of {list(CLOCK_OUTCOMES)}")
        if decline_code not in DECLINES:
            raise ClockError(f"decline_code must be one of {sorted(DECLINES)}")
        sub = led.find("subscription", subscription_id)
        if sub is None:
            raise LookupError(subscription_id)
        if sub["status"] in ("canceled", "incomplete_expired"):
            raise ClockError(f"subscription {subscription_id} is {sub['status']}")
        first_event = len(led.new_events)
        before = snapshot(sub)
        invoice = None
        if sub["cancel_at_period_end"]:
            # Whatever the card would do, the period ends and the subscription with it.
            self._end(led, sub, "cancellation_requested")
        elif outcome == "period_end" and sub["status"] == "past_due":
            self._give_up(led, sub, before)
        elif outcome == "period_end" and sub["status"] == "unpaid":
            self._end(led, sub, "payment_failed")
        else:
            invoice = self._renew(led, sub, before, decline=None if outcome != "renewal_failed"
                                  else DECLINES[decline_code])
        return {"subscription": sub, "invoice": invoice,
                "events": [e["type"] for e in led.new_events[first_event:]]}

    def _renew(self, led: Ledger, sub: Object, before: Object, decline: Decline | None) -> Object:
        customer = led.get("customer", sub["customer"])
        method = led.find("payment_method", sub["default_payment_method"])
        open_invoice = led.find("invoice", sub["latest_invoice"])
        if sub["status"] in ("past_due", "unpaid") and open_invoice and open_invoice["status"] == "open":
            invoice = open_invoice  # a retry of the failed renewal
        else:
            start = current_period(sub)[1]
            end = next_boundary(sub, start)
            previous_period = current_period(sub)
            self._set_period(sub, start, end)
            lines = [self._period_line(led, sub, item, start, end) for item in sub["items"]["data"]]
            lines += led.state["pending_invoice_items"].pop(sub["id"], [])
            invoice = self._new_invoice(led, sub, customer, lines, "subscription_cycle", *previous_period)
            sub["latest_invoice"] = invoice["id"]
            self._retire_discounts(led, sub, start)
            # Stripe's order (docs: billing/subscriptions/webhooks, subscriptions/invoices): the new
            # period starts (customer.subscription.updated), its invoice is created and finalized,
            # and only then (an hour later for real) is the payment tried; a status the payment
            # changes is a customer.subscription.updated of its own, after invoice.paid or
            # invoice.payment_failed.
            led.emit("customer.subscription.updated", sub, changed_attributes(before, snapshot(sub)))
            before = snapshot(sub)
            for event_type, obj, previous in self._issued(invoice):
                led.emit(event_type, obj, previous)
        for event_type, obj, previous in self._collect(led, invoice, method, decline, None, customer["email"]):
            led.emit(event_type, obj, previous)
        if invoice["status"] == "paid":
            sub["status"] = "active"
        elif sub["status"] == "unpaid":
            pass  # retries already gave up; a further failure changes nothing
        elif invoice["attempt_count"] > self.payment_retries:
            self._give_up(led, sub, before)
            return invoice
        else:
            sub["status"] = "past_due"
        previous = changed_attributes(before, snapshot(sub))
        if previous:
            led.emit("customer.subscription.updated", sub, previous)
        return invoice

    def _give_up(self, led: Ledger, sub: Object, before: Object) -> None:
        """Retries are exhausted: Stripe's 'if all retries fail' setting."""
        if self.after_failed_retries == "unpaid":
            sub["status"] = "unpaid"
            led.emit("customer.subscription.updated", sub, changed_attributes(before, snapshot(sub)))
        else:
            self._end(led, sub, "payment_failed")
