"""Checkout Sessions as the API sees them: create, price, expire, list.

What happens on the hosted page itself (paying, declines, promotion codes typed in) is
``payment_page``.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from ..objects import Ledger, Object, new_id
from ..params import Params, invalid, merge_metadata
from .discounts import allocate_discount

SESSION_LIFETIME = 24 * 3600


class CheckoutSessions:
    """checkout.sessions.*; a session is priced when created and again when a code
    is applied, and expires lazily the first time it is read after its deadline."""

    def create_checkout_session(self, led: Ledger, p: Params, base_url: str) -> Object:
        mode = p.text("mode", required=True, choices=("payment", "setup", "subscription"))
        if mode != "subscription":
            raise invalid("This stand-in supports Checkout in subscription mode only.", "mode")
        ui_mode = p.text("ui_mode", choices=("hosted_page",)) or "hosted_page"
        success_url = p.text("success_url", required=True, max_length=5000)
        cancel_url = p.text("cancel_url", max_length=5000, empty_is_none=True)
        for name, url in (("success_url", success_url), ("cancel_url", cancel_url)):
            if url is not None and urlsplit(url).scheme not in ("http", "https"):
                raise invalid("Not a valid URL", name, "url_invalid")
        customer_id = p.text("customer", empty_is_none=True)
        customer_email = p.text("customer_email", max_length=512, empty_is_none=True)
        if customer_id and customer_email:
            raise invalid("You may only specify one of these parameters: customer, customer_email.")
        if customer_id:
            led.get("customer", customer_id, "customer")
        allow_codes = p.boolean("allow_promotion_codes")
        discount_params = p.children("discounts")
        if allow_codes is not None and discount_params:
            raise invalid("You may only specify one of these parameters: allow_promotion_codes, discounts.")
        if len(discount_params) > 1:
            raise invalid("You may only specify one discount.", "discounts")
        lines = self._checkout_lines(led, p)
        currency = lines[0]["price"]["currency"]
        discounts = []
        for index, entry in enumerate(discount_params):
            coupon_id, promo_id = entry.text("coupon"), entry.text("promotion_code")
            if bool(coupon_id) == bool(promo_id):
                raise invalid("You may only specify one of these parameters: coupon, promotion_code.",
                              f"discounts[{index}]")
            if coupon_id:
                self._usable_coupon(led, coupon_id, f"discounts[{index}][coupon]", currency)
            else:
                promo = led.get("promotion_code", promo_id, f"discounts[{index}][promotion_code]")
                self._usable_promotion(led, promo, customer_id, f"discounts[{index}][promotion_code]", currency)
                coupon_id = promo["promotion"]["coupon"]
            discounts.append({"coupon": coupon_id, "promotion_code": promo_id})
        now = led.now()
        expires_at = p.integer("expires_at")
        if expires_at is None:
            expires_at = now + SESSION_LIFETIME
        elif not now + 1800 <= expires_at <= now + SESSION_LIFETIME:
            raise invalid("The `expires_at` timestamp must be between 30 minutes and 24 hours from now.",
                          "expires_at")
        subscription_data = p.child("subscription_data")
        sub_metadata = merge_metadata({}, subscription_data.metadata()) if subscription_data else {}
        sub_description = subscription_data.text("description", max_length=500) if subscription_data else None
        method_types = p.strings("payment_method_types")
        if any(kind != "card" for kind in method_types):
            raise invalid("This stand-in takes card payments only.", "payment_method_types")
        session_id = new_id("cs_test_", 58)
        session = {
            "id": session_id, "object": "checkout.session", "adaptive_pricing": None,
            "after_expiration": None, "allow_promotion_codes": allow_codes,
            "amount_subtotal": 0, "amount_total": 0,
            "automatic_tax": {"enabled": False, "liability": None, "provider": None, "status": None},
            "billing_address_collection": p.text("billing_address_collection", choices=("auto", "required")),
            "cancel_url": cancel_url,
            "client_reference_id": p.text("client_reference_id", max_length=200, empty_is_none=True),
            "client_secret": None, "collected_information": None, "consent": None, "consent_collection": None,
            "created": now, "currency": currency, "custom_fields": [],
            "custom_text": {"after_submit": None, "shipping_address": None, "submit": None,
                            "terms_of_service_acceptance": None},
            "customer": customer_id, "customer_creation": None,
            "customer_details": ({"address": None, "email": customer_email, "name": None, "phone": None,
                                  "tax_exempt": "none", "tax_ids": None} if customer_email else None),
            "customer_email": customer_email, "discounts": discounts, "expires_at": expires_at,
            "invoice": None, "invoice_creation": None, "livemode": False,
            "locale": p.text("locale"), "metadata": merge_metadata({}, p.metadata()), "mode": mode,
            "payment_intent": None, "payment_link": None,
            "payment_method_collection": p.text("payment_method_collection", choices=("always", "if_required")) or "always",
            "payment_method_types": method_types or ["card"], "payment_status": "unpaid",
            "phone_number_collection": {"enabled": False}, "recovered_from": None, "setup_intent": None,
            "shipping_address_collection": None, "shipping_cost": None, "shipping_options": [],
            "status": "open", "submit_type": None, "subscription": None, "success_url": success_url,
            "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
            "ui_mode": ui_mode, "url": f"{base_url.rstrip('/')}/c/pay/{session_id}",
        }
        p.reject_unknown()
        led.add(session)
        led.state["sessions"][session_id] = {
            "line_items": lines, "subscription_data": {"metadata": sub_metadata, "description": sub_description},
            "payment_intent": None,
        }
        self._price_session(led, session)
        return session

    def _checkout_lines(self, led: Ledger, p: Params) -> list[Object]:
        entries = p.children("line_items")
        if not entries:
            raise invalid("Missing required param: line_items.", "line_items", "parameter_missing")
        lines, currencies, intervals = [], set(), set()
        for index, entry in enumerate(entries):
            where = f"line_items[{index}]"
            price = led.get("price", entry.text("price", required=True), f"{where}[price]")
            quantity = entry.integer("quantity", minimum=1, maximum=999999)
            if quantity is None:
                raise invalid(f"Quantity is required. Add `quantity` to `{where}`", f"{where}[quantity]",
                              "parameter_missing")
            if not price["active"]:
                raise invalid("The price specified is inactive. This field only accepts active prices.",
                              f"{where}[price]")
            if price["recurring"] is None:
                raise invalid("You must provide at least one recurring price in `subscription` mode when using "
                              "prices; this stand-in takes recurring prices only.", f"{where}[price]")
            currencies.add(price["currency"])
            intervals.add((price["recurring"]["interval"], price["recurring"]["interval_count"]))
            product = led.find("product", price["product"]) or {}
            lines.append({
                "id": new_id("li_"), "object": "item", "amount_discount": 0,
                "amount_subtotal": price["unit_amount"] * quantity, "amount_tax": 0,
                "amount_total": price["unit_amount"] * quantity, "currency": price["currency"],
                "description": product.get("name", ""), "price": dict(price), "quantity": quantity,
            })
        if len(currencies) > 1:
            raise invalid("All prices on a Checkout Session must have the same currency.", "line_items")
        if len(intervals) > 1:
            raise invalid("Checkout does not support multiple prices with different billing intervals.",
                          "line_items")
        return lines

    def _price_session(self, led: Ledger, session: Object) -> None:
        lines = led.state["sessions"][session["id"]]["line_items"]
        subtotal = sum(line["amount_subtotal"] for line in lines)
        discount = 0
        coupon = led.find("coupon", session["discounts"][0]["coupon"]) if session["discounts"] else None
        if coupon:
            amounts = allocate_discount(coupon, [line["amount_subtotal"] for line in lines])
            for line, amount in zip(lines, amounts):
                line["amount_discount"] = amount
                line["amount_total"] = line["amount_subtotal"] - amount
            discount = sum(amounts)
        session["amount_subtotal"] = subtotal
        session["amount_total"] = subtotal - discount
        session["total_details"]["amount_discount"] = discount

    def retrieve_checkout_session(self, led: Ledger, p: Params, session_id: str) -> Object:
        return self._settled_session(led, session_id)

    def _settled_session(self, led: Ledger, session_id: str, param: str | None = "id") -> Object:
        """The session, expired first if its time ran out while nobody looked."""
        session = led.get("checkout.session", session_id, param)
        if session["status"] == "open" and session["expires_at"] <= led.now():
            self._expire(led, session)
        return session

    def expire_checkout_session(self, led: Ledger, p: Params, session_id: str) -> Object:
        session = self._settled_session(led, session_id)
        p.reject_unknown()
        if session["status"] != "open":
            raise invalid(f"Only Checkout Sessions with a status in [\"open\"] can be expired; "
                          f"this one is {session['status']}.", code="checkout_session_not_open")
        self._expire(led, session)
        return session

    def _expire(self, led: Ledger, session: Object) -> None:
        session["status"], session["url"] = "expired", None
        led.emit("checkout.session.expired", session)

    def list_checkout_sessions(self, led: Ledger, p: Params) -> Object:
        filters = {name: p.text(name) for name in ("customer", "subscription", "payment_intent", "status")}
        indexed = {name: filters[name] for name in ("customer", "subscription", "payment_intent")}
        return led.page("checkout.session", (s for s in led.newest_first("checkout.session", **indexed)
                                             if all(v is None or s.get(k) == v for k, v in filters.items())), p)

    def list_checkout_line_items(self, led: Ledger, p: Params, session_id: str) -> Object:
        led.get("checkout.session", session_id)
        items = led.state["sessions"][session_id]["line_items"]
        return led.page("checkout.session", iter(items), p, f"/v1/checkout/sessions/{session_id}/line_items")
