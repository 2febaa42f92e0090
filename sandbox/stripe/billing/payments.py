"""Collecting an invoice: PaymentIntents, card PaymentMethods, charges."""

from __future__ import annotations

from typing import Any

from ..cards import Card, Decline
from ..objects import Ledger, Object, new_id
from ..params import Params

RETRY_SPACING = 3 * 24 * 3600  # between automatic retries of a failed renewal


class Payments:
    """One attempt at collecting an invoice, and the read-only endpoints of what it leaves
    behind (payment_intents, charges, payment_methods)."""

    business_name: str
    payment_retries: int

    def _collect(self, led: Ledger, invoice: Object, method: Object | None, decline: Decline | None,
                 intent: Object | None, email: str | None) -> list[tuple[str, Object, Object | None]]:
        """Attempt payment of an open invoice; the events to emit, in Stripe's order."""
        now = led.now()
        invoice["attempted"] = True
        invoice["attempt_count"] += 1
        if invoice["amount_due"] == 0:
            self._mark_paid(invoice, now)
            return [("invoice.paid", invoice, None), ("invoice.payment_succeeded", invoice, None)]
        payment = next(led.newest_first("invoice_payment", invoice=invoice["id"]), None)
        if intent is None and payment is not None:  # a retry: the invoice's own PaymentIntent
            intent = led.find("payment_intent", payment["payment"]["payment_intent"])
        if intent is None:
            description = {"subscription_create": "Subscription creation",
                           "subscription_update": "Subscription update"}.get(invoice["billing_reason"],
                                                                              "Subscription renewal")
            intent = self._new_payment_intent(led, invoice["amount_due"], invoice["currency"],
                                              invoice["customer"], description)
        else:
            intent.update({"customer": invoice["customer"], "amount": invoice["amount_due"]})
        if payment is None:
            payment = led.add({
                "id": new_id("inpay_"), "object": "invoice_payment", "amount_paid": None,
                "amount_requested": invoice["amount_due"], "created": now, "currency": invoice["currency"],
                "invoice": invoice["id"], "is_default": True, "livemode": False,
                "payment": {"payment_intent": intent["id"], "type": "payment_intent"}, "status": "open",
                "status_transitions": {"canceled_at": None, "paid_at": None},
            })
        # Since API 2025-03-31 the invoice <-> payment link is the InvoicePayment only (no
        # invoice.payment_intent/charge, no payment_intent.invoice).
        self._attempt(led, intent, method, decline, email)
        if decline is not None:
            retries_left = invoice["attempt_count"] <= self.payment_retries
            invoice["next_payment_attempt"] = now + RETRY_SPACING if retries_left else None
            return [("payment_intent.payment_failed", intent, None), ("invoice.payment_failed", invoice, None)]
        self._mark_paid(invoice, now)
        payment.update({"amount_paid": invoice["amount_paid"], "status": "paid",
                        "status_transitions": {"canceled_at": None, "paid_at": now}})
        return [("payment_intent.succeeded", intent, None), ("invoice.paid", invoice, None),
                ("invoice.payment_succeeded", invoice, None)]

    @staticmethod
    def _mark_paid(invoice: Object, now: int) -> None:
        invoice.update({"status": "paid", "amount_paid": invoice["amount_due"], "amount_remaining": 0,
                        "auto_advance": False, "next_payment_attempt": None})
        invoice["status_transitions"]["paid_at"] = now

    def _new_payment_intent(self, led: Ledger, amount: int, currency: str, customer_id: str | None,
                            description: str) -> Object:
        intent_id = new_id("pi_")
        return led.add({
            "id": intent_id, "object": "payment_intent", "amount": amount, "amount_capturable": 0,
            "amount_details": {"tip": {}}, "amount_received": 0, "application": None,
            "application_fee_amount": None, "automatic_payment_methods": None, "canceled_at": None,
            "cancellation_reason": None, "capture_method": "automatic",
            "client_secret": f"{intent_id}_secret_{new_id('', 24)}", "confirmation_method": "automatic",
            "created": led.now(), "currency": currency, "customer": customer_id, "description": description,
            "last_payment_error": None, "latest_charge": None, "livemode": False,
            "metadata": {}, "next_action": None, "on_behalf_of": None, "payment_method": None,
            "payment_method_configuration_details": None, "payment_method_options": {},
            "payment_method_types": ["card"], "processing": None, "receipt_email": None, "review": None,
            "setup_future_usage": "off_session", "shipping": None,
            "statement_descriptor": None, "statement_descriptor_suffix": None,
            "status": "requires_payment_method", "transfer_data": None, "transfer_group": None,
        })

    def _payment_method(self, led: Ledger, card: Card, email: str | None, name: str | None,
                        customer_id: str | None) -> Object:
        return led.add({
            "id": new_id("pm_"), "object": "payment_method", "allow_redisplay": "limited",
            "billing_details": {"address": {"city": None, "country": None, "line1": None, "line2": None,
                                            "postal_code": None, "state": None},
                                "email": email, "name": name, "phone": None},
            "card": card.details(), "created": led.now(), "customer": customer_id, "livemode": False,
            "metadata": {}, "type": "card",
        })

    def _attempt(self, led: Ledger, intent: Object, method: Object | None, decline: Decline | None,
                 email: str | None) -> dict[str, Any] | None:
        """One charge attempt on a PaymentIntent: a charge object either way."""
        now = led.now()
        card = (method or {}).get("card") or {}
        charge = led.add({
            "id": new_id("ch_"), "object": "charge", "amount": intent["amount"],
            "amount_captured": 0 if decline else intent["amount"], "amount_refunded": 0, "application": None,
            "application_fee": None, "application_fee_amount": None, "balance_transaction": None,
            "billing_details": (method or {}).get("billing_details") or {"address": None, "email": email,
                                                                         "name": None, "phone": None},
            "calculated_statement_descriptor": self.business_name.upper()[:22], "captured": decline is None,
            "created": now, "currency": intent["currency"], "customer": intent["customer"],
            "description": intent["description"], "disputed": False, "failure_balance_transaction": None,
            "failure_code": decline.code if decline else None,
            "failure_message": decline.message if decline else None, "fraud_details": {}, "livemode": False,
            "metadata": {}, "on_behalf_of": None,
            "outcome": ({"network_status": "declined_by_network", "reason": decline.decline_code,
                         "risk_level": "normal", "risk_score": 20,
                         "seller_message": "The bank did not return any further details with this decline.",
                         "type": "issuer_declined"} if decline else
                        {"network_status": "approved_by_network", "reason": None, "risk_level": "normal",
                         "risk_score": 20, "seller_message": "Payment complete.", "type": "authorized"}),
            "paid": decline is None, "payment_intent": intent["id"],
            "payment_method": (method or {}).get("id"),
            "payment_method_details": {"card": _charge_card(card), "type": "card"} if card else None,
            "receipt_email": None, "receipt_url": None, "refunded": False, "review": None,
            "statement_descriptor": None, "status": "failed" if decline else "succeeded",
        })
        intent["latest_charge"] = charge["id"]
        intent["payment_method"] = (method or {}).get("id")
        if decline is None:
            intent.update({"status": "succeeded", "amount_received": intent["amount"], "last_payment_error": None})
            return None
        error = {
            "type": "card_error", "code": decline.code, "decline_code": decline.decline_code,
            "message": decline.message, "param": decline.param, "charge": charge["id"],
            "doc_url": f"https://stripe.com/docs/error-codes/{decline.code.replace('_', '-')}",
            "payment_method": dict(method) if method else None,
        }
        if error["param"] is None:  # Stripe leaves it out rather than sending null
            del error["param"]
        intent.update({"status": "requires_payment_method", "last_payment_error": error})
        return error

    def retrieve_payment_intent(self, led: Ledger, p: Params, intent_id: str) -> Object:
        return led.get("payment_intent", intent_id)

    def list_payment_intents(self, led: Ledger, p: Params) -> Object:
        customer = p.text("customer")
        return led.page("payment_intent", (x for x in led.newest_first("payment_intent", customer=customer)
                                           if customer is None or x["customer"] == customer), p)

    def retrieve_charge(self, led: Ledger, p: Params, charge_id: str) -> Object:
        return led.get("charge", charge_id)

    def retrieve_payment_method(self, led: Ledger, p: Params, method_id: str) -> Object:
        return led.get("payment_method", method_id)


# What a charge's payment_method_details.card holds of the card (the PaymentMethod's card has
# fields a charge's does not, such as display_brand and networks).
_CHARGE_CARD_FIELDS = ("brand", "checks", "country", "exp_month", "exp_year", "fingerprint", "funding", "last4",
                       "three_d_secure", "wallet")


def _charge_card(card: dict) -> dict:
    return {key: card[key] for key in _CHARGE_CARD_FIELDS if key in card}
