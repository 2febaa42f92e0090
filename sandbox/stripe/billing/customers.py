"""Customers: created by the API or by a completed Checkout, never matched by e-mail."""

from __future__ import annotations

import secrets
import string

from ..objects import Ledger, Object, new_id
from ..params import Params, invalid, merge_metadata
from .fields import emit_update


class Customers:
    """customers.*; ``_new_customer`` is shared with Checkout."""

    def create_customer(self, led: Ledger, p: Params) -> Object:
        customer = self._new_customer(led, p.text("email", max_length=512, empty_is_none=True),
                                      p.text("name", max_length=256, empty_is_none=True))
        customer["description"] = p.text("description", empty_is_none=True)
        customer["phone"] = p.text("phone", empty_is_none=True)
        customer["metadata"] = merge_metadata({}, p.metadata())
        p.reject_unknown()
        led.emit("customer.created", customer)
        return customer

    def _new_customer(self, led: Ledger, email: str | None, name: str | None) -> Object:
        return led.add({
            "id": new_id("cus_", 14), "object": "customer", "address": None, "balance": 0,
            "created": led.now(), "currency": None, "default_source": None, "delinquent": False,
            "description": None, "discount": None, "email": email,
            "invoice_prefix": "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(8)),
            "invoice_settings": {"custom_fields": None, "default_payment_method": None, "footer": None,
                                 "rendering_options": None},
            "livemode": False, "metadata": {}, "name": name, "next_invoice_sequence": 1, "phone": None,
            "preferred_locales": [], "shipping": None, "tax_exempt": "none", "test_clock": None,
        })

    def retrieve_customer(self, led: Ledger, p: Params, customer_id: str) -> Object:
        return led.get("customer", customer_id)

    def update_customer(self, led: Ledger, p: Params, customer_id: str) -> Object:
        customer = led.get("customer", customer_id)
        before = dict(customer)
        for name, limit in (("email", 512), ("name", 256), ("description", None), ("phone", 20)):
            if p.has(name):
                customer[name] = p.text(name, max_length=limit, empty_is_none=True)
        customer["metadata"] = merge_metadata(customer["metadata"], p.metadata())
        settings = p.child("invoice_settings")
        if settings is not None and settings.has("default_payment_method"):
            method_id = settings.text("default_payment_method", empty_is_none=True)
            if method_id:
                method = led.get("payment_method", method_id, "invoice_settings[default_payment_method]")
                if method["customer"] != customer_id:
                    raise invalid(f"The payment method `{method_id}` must be attached to the customer.",
                                  "invoice_settings[default_payment_method]")
            customer["invoice_settings"] = {**customer["invoice_settings"], "default_payment_method": method_id}
        p.reject_unknown()
        return emit_update(led, "customer.updated", before, customer)

    def list_customers(self, led: Ledger, p: Params) -> Object:
        email = p.text("email")  # Stripe's filter is exact and case-sensitive
        return led.page("customer", (c for c in led.newest_first("customer", email=email)
                                     if email is None or c["email"] == email), p)
