"""Invoices and their lines: built finalized (open), then paid or failed by ``payments``."""

from __future__ import annotations

import copy

from ..objects import Ledger, Object, list_object, new_id
from ..params import Params
from .discounts import allocate_discount
from .money import money
from .periods import interval_text


class Invoices:
    """invoices.* and invoice_payments.list, plus the lines every invoice is made of."""

    business_name: str

    def _product_name(self, led: Ledger, price: Object) -> str:
        return (led.find("product", price["product"]) or {}).get("name") or price.get("nickname") or price["id"]

    def _period_line(self, led: Ledger, sub: Object, item: Object, start: int, end: int) -> Object:
        price, quantity = item["price"], item["quantity"]
        description = (f"{quantity} × {self._product_name(led, price)} "
                       f"(at {money(price['unit_amount'], price['currency'])} / {interval_text(price['recurring'])})")
        return self._line(led, sub, item["id"], price, quantity, price["unit_amount"] * quantity,
                          description, start, end, proration=False)

    def _line(self, led: Ledger, sub: Object, item_id: str, price: Object, quantity: int, amount: int,
              description: str, start: int, end: int, proration: bool) -> Object:
        return {
            "id": new_id("il_"), "object": "line_item", "amount": amount, "subtotal": amount, "currency": price["currency"],
            "description": description, "discount_amounts": [], "discountable": not proration, "discounts": [],
            "invoice": None, "livemode": False, "metadata": {},
            "parent": {"invoice_item_details": None, "type": "subscription_item_details",
                       "subscription_item_details": {"invoice_item": None, "proration": proration,
                                                     "proration_details": {"credited_items": None},
                                                     "subscription": sub["id"], "subscription_item": item_id}},
            "period": {"end": end, "start": start}, "pretax_credit_amounts": [],
            "pricing": {"price_details": {"price": price["id"], "product": price["product"]},
                        "type": "price_details", "unit_amount_decimal": price["unit_amount_decimal"]},
            "quantity": quantity, "subscription": sub["id"], "taxes": [],
        }

    @staticmethod
    def _issued(invoice: Object) -> list[tuple[str, Object, Object | None]]:
        """What Stripe sends when a subscription bills, before any payment is tried:
        ``invoice.created`` (the draft it makes first) and ``invoice.finalized``. Copies taken
        now: the invoice is paid or fails before the events are emitted."""
        draft = copy.deepcopy(invoice)
        draft.update({"status": "draft", "number": None, "hosted_invoice_url": None, "invoice_pdf": None})
        draft["status_transitions"]["finalized_at"] = None
        return [("invoice.created", draft, None), ("invoice.finalized", copy.deepcopy(invoice), None)]

    def _new_invoice(self, led: Ledger, sub: Object, customer: Object, lines: list[Object], reason: str,
                     period_start: int, period_end: int) -> Object:
        """A finalized (open) invoice; ``_collect`` then pays it or records a failure."""
        now = led.now()
        invoice_id = new_id("in_")
        discount_ids, total_discounts = [], []
        for discount_id in sub["discounts"]:
            discount = led.find("discount", discount_id)
            if discount is None or (discount["end"] and discount["end"] <= period_start and reason != "subscription_create"):
                continue
            discountable = [line for line in lines if line["discountable"] and line["amount"] > 0]
            amounts = allocate_discount(led.get("coupon", discount["source"]["coupon"]), [line["amount"] for line in discountable])
            for line, amount in zip(discountable, amounts):
                line["discount_amounts"].append({"amount": amount, "discount": discount_id})
            discount_ids.append(discount_id)
            total_discounts.append({"amount": sum(amounts), "discount": discount_id})
        for line in lines:
            line["invoice"] = invoice_id
        subtotal = sum(line["amount"] for line in lines)
        total = subtotal - sum(d["amount"] for d in total_discounts)
        starting_balance = customer["balance"]
        combined = total + starting_balance
        amount_due = max(0, combined)
        ending_balance = min(0, combined)
        customer["balance"] = ending_balance
        number = f"{customer['invoice_prefix']}-{customer['next_invoice_sequence']:04d}"
        customer["next_invoice_sequence"] += 1
        return led.add({
            "id": invoice_id, "object": "invoice", "account_country": "US", "account_name": self.business_name,
            "account_tax_ids": None, "amount_due": amount_due, "amount_overpaid": 0, "amount_paid": 0, "amount_paid_off_stripe": 0,
            "amount_remaining": amount_due, "amount_shipping": 0, "application": None, "attempt_count": 0,
            "attempted": False, "auto_advance": True,
            "automatic_tax": {"disabled_reason": None, "enabled": False, "liability": None, "provider": None,
                              "status": None},
            "billing_reason": reason, "collection_method": "charge_automatically", "created": now,
            "currency": sub["currency"], "custom_fields": None, "customer": customer["id"],
            "customer_address": None, "customer_email": customer["email"], "customer_name": customer["name"],
            "customer_phone": None, "customer_shipping": None, "customer_tax_exempt": "none",
            "customer_tax_ids": [], "default_payment_method": None, "default_source": None,
            "default_tax_rates": [], "description": None, "discounts": discount_ids, "due_date": None,
            "effective_at": now, "ending_balance": ending_balance, "footer": None, "from_invoice": None,
            "hosted_invoice_url": _hosted_url(led, invoice_id), "invoice_pdf": None, "issuer": {"type": "self"},
            "last_finalization_error": None, "latest_revision": None,
            "lines": list_object(lines, f"/v1/invoices/{invoice_id}/lines"),
            "livemode": False, "metadata": {}, "next_payment_attempt": None, "number": number,
            "on_behalf_of": None,
            "parent": {"quote_details": None, "type": "subscription_details",
                       "subscription_details": {"metadata": dict(sub["metadata"]), "subscription": sub["id"]}},
            "payment_settings": {"default_mandate": None, "payment_method_options": None,
                                 "payment_method_types": None},
            "period_end": period_end, "period_start": period_start, "post_payment_credit_notes_amount": 0,
            "pre_payment_credit_notes_amount": 0, "receipt_number": None, "rendering": None,
            "shipping_cost": None, "shipping_details": None, "starting_balance": starting_balance,
            "statement_descriptor": None, "status": "open",
            "status_transitions": {"finalized_at": now, "marked_uncollectible_at": None, "paid_at": None,
                                   "voided_at": None},
            "subtotal": subtotal, "subtotal_excluding_tax": subtotal, "test_clock": None, "total": total,
            "total_discount_amounts": total_discounts, "total_excluding_tax": total,
            "total_pretax_credit_amounts": [], "total_taxes": [], "webhooks_delivered_at": now,
        })

    def retrieve_invoice(self, led: Ledger, p: Params, invoice_id: str) -> Object:
        return led.get("invoice", invoice_id)

    def list_invoices(self, led: Ledger, p: Params) -> Object:
        customer, subscription = p.text("customer"), p.text("subscription")
        status = p.text("status", choices=("draft", "open", "paid", "uncollectible", "void"))
        return led.page("invoice", (i for i in led.newest_first("invoice", customer=customer, subscription=subscription)
                                    if (customer is None or i["customer"] == customer)
                                    and (subscription is None or i["parent"]["subscription_details"]["subscription"] == subscription)
                                    and (status is None or i["status"] == status)), p)

    def list_invoice_lines(self, led: Ledger, p: Params, invoice_id: str) -> Object:
        invoice = led.get("invoice", invoice_id)
        return led.page("invoice", iter(invoice["lines"]["data"]), p, f"/v1/invoices/{invoice_id}/lines")

    def list_invoice_payments(self, led: Ledger, p: Params) -> Object:
        invoice = p.text("invoice")
        payment = p.child("payment")
        intent = payment.text("payment_intent") if payment else None
        if payment:
            payment.text("type", choices=("payment_intent",))
        return led.page("invoice_payment", (x for x in led.newest_first("invoice_payment", invoice=invoice)
                                            if (invoice is None or x["invoice"] == invoice)
                                            and (intent is None or x["payment"]["payment_intent"] == intent)), p)


def _hosted_url(led: Ledger, invoice_id: str) -> str | None:
    """Stripe's hosted invoice page (invoice.stripe.com/i/...); here, a page of this stand-in."""
    return f"{led.public_url.rstrip('/')}/i/{invoice_id}" if led.public_url else None
