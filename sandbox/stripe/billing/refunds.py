"""Refunds of a succeeded charge, whole or in part."""

from __future__ import annotations

from ..objects import Ledger, Object, changed_attributes, new_id
from ..params import Params, invalid, merge_metadata
from .fields import add_created
from .money import money


class Refunds:
    """refunds.*"""

    def create_refund(self, led: Ledger, p: Params) -> Object:
        intent_id, charge_id = p.text("payment_intent"), p.text("charge")
        if bool(intent_id) == bool(charge_id):
            raise invalid("You must pass exactly one of `charge` or `payment_intent`.")
        if intent_id:
            intent = led.get("payment_intent", intent_id, "payment_intent")
            charge = led.find("charge", intent["latest_charge"])
            if intent["status"] != "succeeded" or charge is None:
                raise invalid(f"This PaymentIntent ({intent_id}) does not have a successful charge to refund.",
                              "payment_intent")
        else:
            charge = led.get("charge", charge_id, "charge")
            if charge["status"] != "succeeded":
                raise invalid(f"Charge {charge_id} has not succeeded and cannot be refunded.", "charge")
        remaining = charge["amount"] - charge["amount_refunded"]
        if remaining == 0:
            raise invalid(f"Charge {charge['id']} has already been refunded.", code="charge_already_refunded")
        amount = p.integer("amount", minimum=1)
        amount = remaining if amount is None else amount
        if amount > remaining:
            raise invalid(f"Refund amount ({money(amount, charge['currency'])}) is greater than unrefunded "
                          f"amount on charge ({money(remaining, charge['currency'])})", "amount")
        reason = p.text("reason", choices=("duplicate", "fraudulent", "requested_by_customer"))
        refund = {
            "id": new_id("re_"), "object": "refund", "amount": amount, "balance_transaction": None,
            "charge": charge["id"], "created": led.now(), "currency": charge["currency"],
            "destination_details": {"card": {"reference_status": "pending", "reference_type": "acquirer_reference_number",
                                             "type": "refund"}, "type": "card"},
            "metadata": merge_metadata({}, p.metadata()), "payment_intent": charge["payment_intent"],
            "reason": reason, "receipt_number": None, "source_transfer_reversal": None, "status": "succeeded",
            "transfer_reversal": None,
        }
        p.reject_unknown()
        before = dict(charge)
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] == charge["amount"]
        add_created(led, refund)
        led.emit("charge.refunded", charge, changed_attributes(before, charge))
        return refund

    def retrieve_refund(self, led: Ledger, p: Params, refund_id: str) -> Object:
        return led.get("refund", refund_id)

    def list_refunds(self, led: Ledger, p: Params) -> Object:
        intent, charge = p.text("payment_intent"), p.text("charge")
        return led.page("refund", (r for r in led.newest_first("refund", payment_intent=intent, charge=charge)
                                   if (intent is None or r["payment_intent"] == intent)
                                   and (charge is None or r["charge"] == charge)), p)
