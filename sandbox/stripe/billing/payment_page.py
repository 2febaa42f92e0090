"""What the hosted payment page does: show a session, take a code, pay or decline.

Completing a session creates the customer (if new), the subscription, its first invoice
and the payment, and emits their events in the order Stripe documents, after all of them
are finished, so every snapshot shows the end state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..cards import Card, CardProblem, read_card
from ..objects import Ledger, Object, changed_attributes
from ..params import StripeError, invalid
from .fields import snapshot
from .money import money
from .periods import current_period, interval_text


class CheckoutClosed(Exception):
    """The hosted page was used for a session that is no longer open."""

    def __init__(self, session: Object):
        super().__init__(f"checkout session {session['id']} is {session['status']}")
        self.session = session


class FormProblem(Exception):
    """Input the payment page refuses itself: nothing is charged and no event is sent."""

    def __init__(self, field: str, code: str, message: str):
        super().__init__(message)
        self.field, self.code, self.message = field, code, message


@dataclass
class PaymentEntry:
    """What the customer typed on the payment page (or a test sent for them)."""

    email: str | None = None
    name: str | None = None
    number: str = ""
    expiry: tuple[int, int] | None = None
    cvc: str = ""
    promotion_code: str | None = None


@dataclass
class PaymentResult:
    outcome: str                      # "paid" or "declined"
    session: Object
    error: dict[str, Any] | None = None
    redirect_url: str | None = None


class PaymentPage:
    """The page's operations; its HTTP side is ``sandbox.stripe.page``."""

    business_name: str

    def open_session(self, led: Ledger, session_id: str) -> Object:
        if led.find("checkout.session", session_id) is None:
            raise LookupError(session_id)
        session = self._settled_session(led, session_id)
        if session["status"] != "open":
            raise CheckoutClosed(session)
        return session

    def session_summary(self, led: Ledger, session: Object) -> dict[str, Any]:
        """What the payment page shows: lines, amounts, the prefilled email."""
        lines = led.state["sessions"][session["id"]]["line_items"]
        customer = led.find("customer", session["customer"])
        recurring = lines[0]["price"]["recurring"]
        coupon = led.find("coupon", session["discounts"][0]["coupon"]) if session["discounts"] else None
        return {
            "business": self.business_name,
            "lines": [{"description": line["description"], "quantity": line["quantity"],
                       "amount": money(line["amount_subtotal"], line["currency"]),
                       "unit": money(line["price"]["unit_amount"], line["currency"])} for line in lines],
            "interval": interval_text(recurring),
            "subtotal": money(session["amount_subtotal"], session["currency"]),
            "discount": (money(session["total_details"]["amount_discount"], session["currency"])
                         if session["total_details"]["amount_discount"] else None),
            "coupon_name": (coupon.get("name") or coupon["id"]) if coupon else None,
            "total": money(session["amount_total"], session["currency"]),
            "free": session["amount_total"] == 0,
            "email": session["customer_email"] or (customer or {}).get("email"),
            "allow_promotion_codes": bool(session["allow_promotion_codes"]),
            "cancel_url": session["cancel_url"],
        }

    def apply_promotion_code(self, led: Ledger, session: Object, code: str) -> None:
        if not session["allow_promotion_codes"]:
            raise FormProblem("promotion_code", "promotion_codes_not_allowed",
                              "This checkout does not take promotion codes.")
        promo = next((x for x in led.newest_first("promotion_code", code=code.strip().lower())
                      if x["active"] and x["code"].lower() == code.strip().lower()), None)
        try:
            if promo is None:
                raise invalid("unknown code")
            self._usable_promotion(led, promo, session["customer"], "promotion_code", session["currency"])
        except StripeError:
            raise FormProblem("promotion_code", "invalid_promotion_code", "This code is invalid.") from None
        session["discounts"] = [{"coupon": promo["promotion"]["coupon"], "promotion_code": promo["id"]}]
        self._price_session(led, session)

    def pay(self, led: Ledger, session_id: str, entry: PaymentEntry, card_salt: str) -> PaymentResult:
        """Submit the payment page: decline (session stays open) or complete the session."""
        session = self.open_session(led, session_id)
        if entry.promotion_code and entry.promotion_code.strip():
            self.apply_promotion_code(led, session, entry.promotion_code)
        customer = led.find("customer", session["customer"])
        email = session["customer_email"] or (customer or {}).get("email") or (entry.email or "").strip()
        if not email or "@" not in email:
            raise FormProblem("email", "email_invalid", "Your email address is incomplete.")
        card = None
        if session["amount_total"] > 0:
            try:
                card = read_card(entry.number, entry.expiry, entry.cvc, card_salt, led.now())
            except CardProblem as exc:
                raise FormProblem(exc.field, exc.code, exc.message) from exc
            if card.decline is not None:
                error = self._decline_checkout(led, session, card, email, entry.name)
                return PaymentResult("declined", session, error)
        self._complete_checkout(led, session, email, entry.name, card)
        url = session["success_url"].replace("{CHECKOUT_SESSION_ID}", session["id"])
        return PaymentResult("paid", session, redirect_url=url)

    def _decline_checkout(self, led: Ledger, session: Object, card: Card, email: str,
                          name: str | None) -> dict[str, Any]:
        private = led.state["sessions"][session["id"]]
        method = self._payment_method(led, card, email, name, customer_id=None)
        intent = led.find("payment_intent", private["payment_intent"])
        if intent is None:
            intent = self._new_payment_intent(led, session["amount_total"], session["currency"],
                                              session["customer"], "Subscription creation")
            private["payment_intent"] = intent["id"]
        error = self._attempt(led, intent, method, card.decline, email)
        led.emit("payment_intent.payment_failed", intent)
        return error

    def _complete_checkout(self, led: Ledger, session: Object, email: str, name: str | None,
                           card: Card | None) -> None:
        private = led.state["sessions"][session["id"]]
        events: list[tuple[str, Object, Object | None]] = []
        customer = led.find("customer", session["customer"])
        if customer is None:
            customer = self._new_customer(led, email, name)
            events.append(("customer.created", customer, None))
        method = self._payment_method(led, card, email, name, customer["id"]) if card else None
        now = led.now()
        subscription = self._new_subscription(led, customer, private, method, now)
        discount = None
        if session["discounts"]:
            discount = self._redeem(led, session["discounts"][0], customer["id"], subscription, now)
        lines = [self._period_line(led, subscription, item, now, current_period(subscription)[1])
                 for item in subscription["items"]["data"]]
        invoice = self._new_invoice(led, subscription, customer, lines, "subscription_create", now, now)
        subscription["latest_invoice"] = invoice["id"]
        if discount is not None and led.get("coupon", discount["source"]["coupon"])["duration"] == "once":
            subscription["discounts"] = []
        # As Stripe's Checkout does: the subscription is created `incomplete` (snapshots are taken
        # when an event is emitted), its first invoice is paid, then it is updated to `active`.
        events.append(("customer.subscription.created", subscription, None))
        for event_type, obj, previous in events:
            led.emit(event_type, obj, previous)
        events = []
        intent = led.find("payment_intent", private["payment_intent"]) if invoice["amount_due"] else None
        events.extend(self._collect(led, invoice, method, None, intent, email))
        before = snapshot(subscription)
        subscription["status"] = "active"
        events.append(("customer.subscription.updated", subscription, changed_attributes(before, snapshot(subscription))))
        session.update({
            "status": "complete", "url": None, "customer": customer["id"], "subscription": subscription["id"],
            "invoice": invoice["id"],
            "payment_status": "paid" if invoice["amount_paid"] else "no_payment_required",
            "customer_details": {"address": None, "email": email, "name": name or customer.get("name"),
                                 "phone": None, "tax_exempt": "none", "tax_ids": []},
        })
        events.append(("checkout.session.completed", session, None))
        for event_type, obj, previous in events:
            led.emit(event_type, obj, previous)
