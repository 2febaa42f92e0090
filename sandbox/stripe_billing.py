"""The billing account behind the Stripe stand-in: catalog, customers, Checkout,
subscriptions, invoices, payments, refunds and the test clock.

Every public method takes the transaction's ``Ledger`` (and, for API operations, the
request's ``Params`` plus the ids from the URL) and returns the object to answer;
it raises ``StripeError`` with Stripe's type, code and message. Events are emitted at
the end of an operation, in the order Stripe documents for it, so that each
snapshot shows the finished state.
"""

from __future__ import annotations

import calendar
import copy
import secrets
import string
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable
from urllib.parse import urlsplit

from .stripe_cards import DECLINES, Card, CardProblem, Decline, read_card
from .stripe_objects import Ledger, Object, changed_attributes, list_object, new_id
from .stripe_params import Params, StripeError, invalid, merge_metadata

INTERVALS = ("day", "week", "month", "year")
ZERO_DECIMAL = {"bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd",
                "vuv", "xaf", "xof", "xpf"}
SYMBOLS = {"usd": "$", "eur": "€", "gbp": "£", "cad": "CA$", "aud": "A$"}
SESSION_LIFETIME = 24 * 3600
RETRY_SPACING = 3 * 24 * 3600  # between automatic retries of a failed renewal
CLOCK_OUTCOMES = ("renewal_paid", "renewal_failed", "period_end")


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


class ClockError(Exception):
    pass


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


class Billing:
    def __init__(self, business_name: str = "mpanel sandbox", payment_retries: int = 3,
                 after_failed_retries: str = "cancel"):
        self.business_name = business_name
        # Failed renewals: automatic retries before the final action ("cancel" the
        # subscription, or mark it "unpaid"), like Stripe's retry settings.
        self.payment_retries = payment_retries
        self.after_failed_retries = after_failed_retries

    # -- products and prices ---------------------------------------------------------

    def create_product(self, led: Ledger, p: Params) -> Object:
        product_id = p.text("id") or new_id("prod_", 14)
        if led.find("product", product_id):
            raise invalid("Product already exists.", "id", "resource_already_exists")
        now = led.now()
        product = {
            "id": product_id, "object": "product", "active": _flag(p.boolean("active"), True),
            "created": now, "default_price": None, "description": p.text("description", empty_is_none=True),
            "images": p.strings("images"), "livemode": False, "marketing_features": [],
            "metadata": merge_metadata({}, p.metadata()), "name": p.text("name", required=True, max_length=250),
            "package_dimensions": None, "shippable": None,
            "statement_descriptor": p.text("statement_descriptor", max_length=22),
            "tax_code": p.text("tax_code"), "type": "service", "unit_label": p.text("unit_label"),
            "updated": now, "url": p.text("url"),
        }
        p.reject_unknown()
        led.add(product)
        led.emit("product.created", product)
        return product

    def retrieve_product(self, led: Ledger, p: Params, product_id: str) -> Object:
        return led.get("product", product_id)

    def update_product(self, led: Ledger, p: Params, product_id: str) -> Object:
        product = led.get("product", product_id)
        before = dict(product)
        for name in ("name", "description", "statement_descriptor", "unit_label", "url"):
            if p.has(name):
                product[name] = p.text(name, empty_is_none=True)
        if p.has("active"):
            product["active"] = p.boolean("active")
        product["metadata"] = merge_metadata(product["metadata"], p.metadata())
        p.reject_unknown()
        return self._updated(led, "product.updated", before, product)

    def list_products(self, led: Ledger, p: Params) -> Object:
        active, ids = p.boolean("active"), p.strings("ids")
        return led.page("product", (x for x in led.newest_first("product")
                                    if (active is None or x["active"] == active) and (not ids or x["id"] in ids)), p)

    def create_price(self, led: Ledger, p: Params) -> Object:
        currency = _currency(p, "currency", required=True)
        product_id = p.text("product")
        product_data = p.child("product_data")
        if bool(product_id) == bool(product_data):
            raise invalid("You must specify either `product` or `product_data` when creating a price.")
        if product_id:
            led.get("product", product_id, "product")
        unit_amount = p.integer("unit_amount", minimum=0)
        decimal = p.decimal("unit_amount_decimal", minimum=0)
        if unit_amount is not None and decimal is not None:
            raise invalid("You may only specify one of these parameters: unit_amount, unit_amount_decimal.")
        if unit_amount is None and decimal is None:
            raise invalid("Missing required param: unit_amount.", "unit_amount", "parameter_missing")
        if unit_amount is None:
            if decimal != int(decimal):
                raise invalid("This stand-in prices in whole minor units only.", "unit_amount_decimal")
            unit_amount = int(decimal)
        recurring = None
        recurring_params = p.child("recurring")
        if recurring_params is not None:
            interval = recurring_params.text("interval", required=True, choices=INTERVALS)
            count = recurring_params.integer("interval_count", minimum=1) or 1
            if count * {"day": 1, "week": 7, "month": 31, "year": 366}[interval] > 3 * 366:
                raise invalid("The maximum billing period is three years.", "recurring[interval_count]")
            usage_type = recurring_params.text("usage_type", choices=("licensed",)) or "licensed"
            recurring = {"interval": interval, "interval_count": count, "meter": None,
                         "trial_period_days": None, "usage_type": usage_type}
        lookup_key = p.text("lookup_key", max_length=200, empty_is_none=True)
        transfer = _flag(p.boolean("transfer_lookup_key"), False)
        price = {
            "id": new_id("price_"), "object": "price", "active": _flag(p.boolean("active"), True),
            "billing_scheme": p.text("billing_scheme", choices=("per_unit",)) or "per_unit",
            "created": led.now(), "currency": currency, "custom_unit_amount": None, "livemode": False,
            "lookup_key": lookup_key, "metadata": merge_metadata({}, p.metadata()),
            "nickname": p.text("nickname", empty_is_none=True), "product": product_id,
            "recurring": recurring,
            "tax_behavior": p.text("tax_behavior", choices=("exclusive", "inclusive", "unspecified")) or "unspecified",
            "tiers_mode": None, "transform_quantity": None,
            "type": "recurring" if recurring else "one_time",
            "unit_amount": unit_amount, "unit_amount_decimal": str(unit_amount),
        }
        product = None
        if product_data is not None:
            product = {
                "id": new_id("prod_", 14), "object": "product", "active": _flag(product_data.boolean("active"), True),
                "created": led.now(), "default_price": None, "description": None, "images": [],
                "livemode": False, "marketing_features": [], "metadata": merge_metadata({}, product_data.metadata()),
                "name": product_data.text("name", required=True), "package_dimensions": None, "shippable": None,
                "statement_descriptor": product_data.text("statement_descriptor"), "tax_code": None,
                "type": "service", "unit_label": product_data.text("unit_label"),
                "updated": led.now(), "url": None,
            }
            price["product"] = product["id"]
        p.reject_unknown()
        self._claim_lookup_key(led, lookup_key, transfer, price["id"])
        if product is not None:
            led.add(product)
            led.emit("product.created", product)
        led.add(price)
        led.emit("price.created", price)
        return price

    def retrieve_price(self, led: Ledger, p: Params, price_id: str) -> Object:
        return led.get("price", price_id)

    def update_price(self, led: Ledger, p: Params, price_id: str) -> Object:
        price = led.get("price", price_id)
        before = dict(price)
        if p.has("active"):
            price["active"] = p.boolean("active")
        if p.has("nickname"):
            price["nickname"] = p.text("nickname", empty_is_none=True)
        if p.has("lookup_key"):
            key = p.text("lookup_key", max_length=200, empty_is_none=True)
            self._claim_lookup_key(led, key, _flag(p.boolean("transfer_lookup_key"), False), price_id)
            price["lookup_key"] = key
        price["metadata"] = merge_metadata(price["metadata"], p.metadata())
        p.reject_unknown()
        return self._updated(led, "price.updated", before, price)

    def list_prices(self, led: Ledger, p: Params) -> Object:
        active, currency = p.boolean("active"), p.text("currency")
        product, kind = p.text("product"), p.text("type", choices=("one_time", "recurring"))
        lookup_keys = p.strings("lookup_keys")
        if len(lookup_keys) > 10:
            raise invalid("You may only specify up to 10 lookup keys.", "lookup_keys")

        def wanted(price: Object) -> bool:
            return ((active is None or price["active"] == active)
                    and (currency is None or price["currency"] == currency.lower())
                    and (product is None or price["product"] == product)
                    and (kind is None or price["type"] == kind)
                    and (not lookup_keys or price["lookup_key"] in lookup_keys))
        return led.page("price", filter(wanted, led.newest_first("price")), p)

    def _claim_lookup_key(self, led: Ledger, key: str | None, transfer: bool, owner: str) -> None:
        if key is None:
            return
        for other in led.newest_first("price"):
            if other["lookup_key"] == key and other["id"] != owner:
                if not transfer:
                    raise invalid(f"A price (`{other['id']}`) already uses that lookup key.", "lookup_key")
                before = dict(other)
                other["lookup_key"] = None
                self._updated(led, "price.updated", before, other)

    # -- coupons and promotion codes -----------------------------------------------------

    def create_coupon(self, led: Ledger, p: Params) -> Object:
        coupon_id = p.text("id") or "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(8))
        if led.find("coupon", coupon_id):
            raise invalid("Coupon already exists.", "id", "resource_already_exists")
        percent_off = p.decimal("percent_off")
        amount_off = p.integer("amount_off", minimum=1)
        if percent_off is not None and amount_off is not None:
            raise invalid("You may only specify one of these parameters: amount_off, percent_off.")
        if percent_off is None and amount_off is None:
            raise invalid("You must pass either `percent_off` or `amount_off`.")
        if percent_off is not None and not 0 < percent_off <= 100:
            raise invalid("Invalid percent_off: must be greater than 0 and at most 100.", "percent_off")
        currency = _currency(p, "currency", required=False)
        if amount_off is not None and currency is None:
            raise invalid("You must pass currency when passing amount_off.", "currency")
        duration = p.text("duration", choices=("forever", "once", "repeating")) or "once"
        months = p.integer("duration_in_months", minimum=1)
        if (duration == "repeating") != (months is not None):
            raise invalid("duration_in_months is required with, and only allowed with, duration=repeating.",
                          "duration_in_months")
        coupon = {
            "id": coupon_id, "object": "coupon", "amount_off": amount_off, "applies_to": None,
            "created": led.now(), "currency": currency, "duration": duration, "duration_in_months": months,
            "livemode": False, "max_redemptions": p.integer("max_redemptions", minimum=1),
            "metadata": merge_metadata({}, p.metadata()), "name": p.text("name", max_length=40),
            "percent_off": percent_off,
            "redeem_by": p.integer("redeem_by"), "times_redeemed": 0, "valid": True,
        }
        p.reject_unknown()
        led.add(coupon)
        led.emit("coupon.created", coupon)
        return coupon

    def retrieve_coupon(self, led: Ledger, p: Params, coupon_id: str) -> Object:
        coupon = led.get("coupon", coupon_id)
        coupon["valid"] = _coupon_valid(coupon, led.now())
        return coupon

    def delete_coupon(self, led: Ledger, p: Params, coupon_id: str) -> Object:
        coupon = led.get("coupon", coupon_id)
        p.reject_unknown()
        led.remove("coupon", coupon_id)
        led.emit("coupon.deleted", coupon)
        return {"id": coupon_id, "object": "coupon", "deleted": True}

    def list_coupons(self, led: Ledger, p: Params) -> Object:
        return led.page("coupon", led.newest_first("coupon"), p)

    def create_promotion_code(self, led: Ledger, p: Params) -> Object:
        # API 2025-09-30 and later send promotion[type]=coupon&promotion[coupon]=X; older
        # versions send coupon=X. Both are read; the answer carries both shapes.
        promotion = p.child("promotion")
        coupon_id = p.text("coupon")
        if promotion is not None:
            promotion.text("type", required=True, choices=("coupon",))
            coupon_id = promotion.text("coupon", required=True)
        if not coupon_id:
            raise invalid("Missing required param: promotion.", "promotion", "parameter_missing")
        coupon = led.get("coupon", coupon_id, "promotion[coupon]" if promotion is not None else "coupon")
        code = p.text("code", max_length=500) or "".join(secrets.choice(string.ascii_uppercase + string.digits)
                                                          for _ in range(8))
        if not code.isalnum():
            raise invalid("Promotion codes may only contain letters and digits.", "code")
        customer = p.text("customer")
        if customer:
            led.get("customer", customer, "customer")
        restrictions = p.child("restrictions")
        minimum = restrictions.integer("minimum_amount", minimum=0) if restrictions else None
        promo = {
            "id": new_id("promo_"), "object": "promotion_code", "active": _flag(p.boolean("active"), True),
            "code": code, "coupon": dict(coupon), "created": led.now(), "customer": customer,
            "expires_at": p.integer("expires_at"), "livemode": False,
            "max_redemptions": p.integer("max_redemptions", minimum=1),
            "metadata": merge_metadata({}, p.metadata()),
            "promotion": {"coupon": coupon_id, "type": "coupon"},
            "restrictions": {
                "currency_options": {},
                "first_time_transaction": _flag(restrictions.boolean("first_time_transaction") if restrictions else None, False),
                "minimum_amount": minimum,
                "minimum_amount_currency": (_currency(restrictions, "minimum_amount_currency", required=minimum is not None)
                                            if restrictions else None),
            },
            "times_redeemed": 0,
        }
        p.reject_unknown()
        if promo["active"] and any(other["active"] and other["code"].lower() == code.lower()
                                   for other in led.newest_first("promotion_code")):
            raise invalid(f"An active promotion code with `code: {code}` already exists.", "code")
        led.add(promo)
        led.emit("promotion_code.created", promo)
        return promo

    def retrieve_promotion_code(self, led: Ledger, p: Params, promo_id: str) -> Object:
        return led.get("promotion_code", promo_id)

    def update_promotion_code(self, led: Ledger, p: Params, promo_id: str) -> Object:
        promo = led.get("promotion_code", promo_id)
        before = dict(promo)
        if p.has("active"):
            promo["active"] = p.boolean("active")
        promo["metadata"] = merge_metadata(promo["metadata"], p.metadata())
        p.reject_unknown()
        return self._updated(led, "promotion_code.updated", before, promo)

    def list_promotion_codes(self, led: Ledger, p: Params) -> Object:
        code, coupon, customer, active = p.text("code"), p.text("coupon"), p.text("customer"), p.boolean("active")

        def wanted(promo: Object) -> bool:
            return ((code is None or promo["code"].lower() == code.lower())
                    and (coupon is None or promo["promotion"]["coupon"] == coupon)
                    and (customer is None or promo["customer"] == customer)
                    and (active is None or promo["active"] == active))
        return led.page("promotion_code", filter(wanted, led.newest_first("promotion_code")), p)

    # -- customers ------------------------------------------------------------------------

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
        return self._updated(led, "customer.updated", before, customer)

    def list_customers(self, led: Ledger, p: Params) -> Object:
        email = p.text("email")  # Stripe's filter is exact and case-sensitive
        return led.page("customer", (c for c in led.newest_first("customer")
                                     if email is None or c["email"] == email), p)

    # -- checkout sessions ----------------------------------------------------------------------

    def create_checkout_session(self, led: Ledger, p: Params, base_url: str) -> Object:
        mode = p.text("mode", required=True, choices=("payment", "setup", "subscription"))
        if mode != "subscription":
            raise invalid("This stand-in supports Checkout in subscription mode only.", "mode")
        ui_mode = p.text("ui_mode", choices=("hosted",)) or "hosted"
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
            amounts = _allocate_discount(coupon, [line["amount_subtotal"] for line in lines])
            for line, amount in zip(lines, amounts):
                line["amount_discount"] = amount
                line["amount_total"] = line["amount_subtotal"] - amount
            discount = sum(amounts)
        session["amount_subtotal"] = subtotal
        session["amount_total"] = subtotal - discount
        session["total_details"]["amount_discount"] = discount

    def _usable_coupon(self, led: Ledger, coupon_id: str, param: str, currency: str) -> Object:
        coupon = led.get("coupon", coupon_id, param)
        if not _coupon_valid(coupon, led.now()):
            raise invalid(f"Coupon `{coupon_id}` is no longer valid.", param, "coupon_expired")
        if coupon["amount_off"] is not None and coupon["currency"] != currency:
            raise invalid(f"Coupon `{coupon_id}` is for {coupon['currency']}, not {currency}.", param)
        return coupon

    def _usable_promotion(self, led: Ledger, promo: Object, customer_id: str | None, param: str,
                          currency: str) -> None:
        now = led.now()
        if (not promo["active"] or (promo["expires_at"] and promo["expires_at"] <= now)
                or (promo["max_redemptions"] and promo["times_redeemed"] >= promo["max_redemptions"])
                or (promo["customer"] and promo["customer"] != customer_id)):
            raise invalid(f"Promotion code `{promo['code']}` is not active.", param)
        self._usable_coupon(led, promo["promotion"]["coupon"], param, currency)

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
        return led.page("checkout.session", (s for s in led.newest_first("checkout.session")
                                             if all(v is None or s.get(k) == v for k, v in filters.items())), p)

    def list_checkout_line_items(self, led: Ledger, p: Params, session_id: str) -> Object:
        led.get("checkout.session", session_id)
        items = led.state["sessions"][session_id]["line_items"]
        return led.page("checkout.session", iter(items), p, f"/v1/checkout/sessions/{session_id}/line_items")

    # -- the hosted payment page ----------------------------------------------------------------

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
            "interval": _interval_text(recurring),
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
        promo = next((x for x in led.newest_first("promotion_code")
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
        lines = [self._period_line(led, subscription, item, now, subscription["current_period_end"])
                 for item in subscription["items"]["data"]]
        invoice = self._new_invoice(led, subscription, customer, lines, "subscription_create", now, now)
        intent = led.find("payment_intent", private["payment_intent"]) if invoice["amount_due"] else None
        paid_events = self._collect(led, invoice, method, None, intent, email)
        subscription["latest_invoice"] = invoice["id"]
        if discount is not None and discount["coupon"]["duration"] == "once":
            subscription["discounts"] = []
        events.append(("customer.subscription.created", subscription, None))
        events.extend(paid_events)
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

    def _redeem(self, led: Ledger, applied: Object, customer_id: str, subscription: Object, now: int) -> Object:
        coupon = led.get("coupon", applied["coupon"])
        coupon["times_redeemed"] += 1
        coupon["valid"] = _coupon_valid(coupon, now)
        if applied.get("promotion_code"):
            promo = led.get("promotion_code", applied["promotion_code"])
            promo["times_redeemed"] += 1
            promo["coupon"] = dict(coupon)
        end = None
        if coupon["duration"] == "repeating":
            end = add_interval(now, "month", coupon["duration_in_months"], now)
        discount = led.add({
            "id": new_id("di_"), "object": "discount", "checkout_session": None, "coupon": dict(coupon),
            "customer": customer_id, "end": end, "invoice": None, "invoice_item": None,
            "promotion_code": applied.get("promotion_code"), "source": {"coupon": coupon["id"], "type": "coupon"},
            "start": now, "subscription": subscription["id"], "subscription_item": None,
        })
        subscription["discounts"] = [discount["id"]]
        return discount

    # -- subscriptions -------------------------------------------------------------------------

    def _new_subscription(self, led: Ledger, customer: Object, private: Object, method: Object | None,
                          now: int) -> Object:
        lines = private["line_items"]
        recurring = lines[0]["price"]["recurring"]
        end = add_interval(now, recurring["interval"], recurring["interval_count"], now)
        subscription_id = new_id("sub_")
        items = [self._new_item(led, subscription_id, line["price"], line["quantity"], now, end) for line in lines]
        return led.add({
            "id": subscription_id, "object": "subscription", "application": None,
            "application_fee_percent": None,
            "automatic_tax": {"disabled_reason": None, "enabled": False, "liability": None},
            "billing_cycle_anchor": now, "billing_cycle_anchor_config": None, "billing_thresholds": None,
            "cancel_at": None, "cancel_at_period_end": False, "canceled_at": None,
            "cancellation_details": {"comment": None, "feedback": None, "reason": None},
            "collection_method": "charge_automatically", "created": now,
            "currency": lines[0]["currency"], "customer": customer["id"],
            # Removed from the top level in API 2025-03-31 (now on each item); kept for
            # older clients.
            "current_period_end": end, "current_period_start": now,
            "days_until_due": None, "default_payment_method": method["id"] if method else None,
            "default_source": None, "default_tax_rates": [],
            "description": private["subscription_data"]["description"], "discounts": [], "ended_at": None,
            "invoice_settings": {"account_tax_ids": None, "issuer": {"type": "self"}},
            "items": list_object(items, f"/v1/subscription_items?subscription={subscription_id}") | {
                "total_count": len(items)},
            "latest_invoice": None, "livemode": False,
            "metadata": dict(private["subscription_data"]["metadata"]),
            "next_pending_invoice_item_invoice": None, "on_behalf_of": None, "pause_collection": None,
            "payment_settings": {"payment_method_options": None, "payment_method_types": None,
                                 "save_default_payment_method": "off"},
            "pending_invoice_item_interval": None, "pending_setup_intent": None, "pending_update": None,
            "schedule": None, "start_date": now, "status": "active", "test_clock": None,
            "transfer_data": None, "trial_end": None,
            "trial_settings": {"end_behavior": {"missing_payment_method": "create_invoice"}}, "trial_start": None,
        })

    def _new_item(self, led: Ledger, subscription_id: str, price: Object, quantity: int, start: int,
                  end: int) -> Object:
        return {
            "id": new_id("si_", 14), "object": "subscription_item", "billing_thresholds": None,
            "created": led.now(), "current_period_end": end, "current_period_start": start, "discounts": [],
            "metadata": {}, "price": dict(price), "quantity": quantity, "subscription": subscription_id,
            "tax_rates": [],
        }

    def retrieve_subscription(self, led: Ledger, p: Params, subscription_id: str) -> Object:
        return led.get("subscription", subscription_id)

    def list_subscriptions(self, led: Ledger, p: Params) -> Object:
        customer, price = p.text("customer"), p.text("price")
        status = p.text("status", choices=("active", "all", "canceled", "ended", "incomplete", "incomplete_expired",
                                           "past_due", "paused", "trialing", "unpaid"))

        def wanted(sub: Object) -> bool:
            if status is None and sub["status"] in ("canceled", "incomplete_expired"):
                return False
            if status not in (None, "all", "ended") and sub["status"] != status:
                return False
            if status == "ended" and sub["status"] not in ("canceled", "incomplete_expired"):
                return False
            return ((customer is None or sub["customer"] == customer)
                    and (price is None or any(i["price"]["id"] == price for i in sub["items"]["data"])))
        return led.page("subscription", filter(wanted, led.newest_first("subscription")), p)

    def update_subscription(self, led: Ledger, p: Params, subscription_id: str) -> Object:
        sub = led.get("subscription", subscription_id)
        before = _snapshot(sub)
        if sub["status"] in ("canceled", "incomplete_expired"):
            allowed = {"cancellation_details", "metadata", "expand"}
            if set(p.tree) - allowed:
                raise invalid("A canceled subscription can only update its cancellation_details and metadata.")
        behavior = p.text("proration_behavior", choices=("always_invoice", "create_prorations", "none")) \
            or "create_prorations"
        proration_date = p.integer("proration_date")
        p.text("payment_behavior", choices=("allow_incomplete", "default_incomplete", "error_if_incomplete",
                                             "pending_if_incomplete"))
        sub["metadata"] = merge_metadata(sub["metadata"], p.metadata())
        if p.has("description"):
            sub["description"] = p.text("description", max_length=500, empty_is_none=True)
        details = p.child("cancellation_details")
        if details is not None:
            for name in ("comment", "feedback"):
                if details.has(name):
                    sub["cancellation_details"][name] = details.text(name, empty_is_none=True)
        if p.has("default_payment_method"):
            method_id = p.text("default_payment_method", empty_is_none=True)
            if method_id and led.get("payment_method", method_id, "default_payment_method")["customer"] != sub["customer"]:
                raise invalid(f"The payment method `{method_id}` must be attached to the customer.",
                              "default_payment_method")
            sub["default_payment_method"] = method_id
        now = led.now()
        cancel_at_period_end = p.boolean("cancel_at_period_end")
        if cancel_at_period_end is not None and cancel_at_period_end != sub["cancel_at_period_end"]:
            sub["cancel_at_period_end"] = cancel_at_period_end
            sub["cancel_at"] = sub["current_period_end"] if cancel_at_period_end else None
            sub["canceled_at"] = now if cancel_at_period_end else None
            sub["cancellation_details"]["reason"] = "cancellation_requested" if cancel_at_period_end else None
        billed = self._change_items(led, sub, p.children("items"), behavior, proration_date or now)
        p.reject_unknown()
        after = _snapshot(sub)
        previous = changed_attributes(before, after)
        if previous:
            led.emit("customer.subscription.updated", sub, previous)
        for event_type, obj, prev in billed:
            led.emit(event_type, obj, prev)
        return sub

    def _change_items(self, led: Ledger, sub: Object, entries: list[Params], behavior: str,
                      when: int) -> list[tuple[str, Object, Object | None]]:
        """Apply ``items[]`` and bill the change as ``proration_behavior`` says."""
        if not entries:
            return []
        items = sub["items"]["data"]
        old = {item["id"]: (item["price"], item["quantity"]) for item in items}
        old_interval = _interval_of(items[0]["price"])
        for index, entry in enumerate(entries):
            where = f"items[{index}]"
            item_id = entry.text("id")
            price_id = entry.text("price")
            quantity = entry.integer("quantity", minimum=0)
            deleted = _flag(entry.boolean("deleted"), False)
            item_metadata = entry.metadata()
            price = None
            if price_id:
                price = led.get("price", price_id, f"{where}[price]")
                if not price["active"]:
                    raise invalid("The price specified is inactive. This field only accepts active prices.",
                                  f"{where}[price]")
                if price["recurring"] is None:
                    raise invalid("The price specified is not recurring; subscriptions take recurring prices.",
                                  f"{where}[price]")
                if price["currency"] != sub["currency"]:
                    raise invalid(f"The price's currency ({price['currency']}) must match the subscription's "
                                  f"({sub['currency']}).", f"{where}[price]")
            if item_id:
                item = next((i for i in items if i["id"] == item_id), None)
                if item is None:
                    raise invalid(f"Invalid subscription_item id: {item_id}", f"{where}[id]")
                if deleted:
                    items.remove(item)
                    continue
                if price is not None:
                    item["price"] = dict(price)
                if quantity is not None:
                    item["quantity"] = quantity
                item["metadata"] = merge_metadata(item["metadata"], item_metadata)
            else:
                # Without an item id Stripe adds an item; a plan change must name the
                # item it replaces (items[0][id]=si_...), as it must against Stripe.
                if price is None:
                    raise invalid(f"Missing required param: {where}[price].", f"{where}[price]", "parameter_missing")
                if any(i["price"]["id"] == price["id"] for i in items):
                    raise invalid(f"Cannot add multiple subscription items with the same price: {price['id']}",
                                  f"{where}[price]")
                item = self._new_item(led, sub["id"], price, 1 if quantity is None else quantity,
                                      sub["current_period_start"], sub["current_period_end"])
                item["metadata"] = merge_metadata({}, item_metadata)
                items.append(item)
        if not items:
            raise invalid("A subscription must keep at least one item.", "items")
        if len({_interval_of(i["price"]) for i in items}) > 1:
            raise invalid("All prices on a subscription must have the same billing interval.", "items")
        sub["items"]["total_count"] = len(items)
        if sub["status"] in ("canceled", "incomplete_expired"):
            return []
        new = {item["id"]: (item["price"], item["quantity"]) for item in items}
        credits = self._proration_lines(led, sub, old, new, when)
        if _interval_of(items[0]["price"]) != old_interval:
            # A new billing interval restarts the cycle now and bills it at once.
            return self._restart_cycle(led, sub, credits if behavior != "none" else [], when)
        if behavior == "none" or not credits:
            return []
        if behavior == "create_prorations":
            led.state["pending_invoice_items"].setdefault(sub["id"], []).extend(credits)
            return []
        return self._bill_now(led, sub, credits, "subscription_update", when)

    def _proration_lines(self, led: Ledger, sub: Object, old: dict, new: dict, when: int) -> list[Object]:
        start, end = sub["current_period_start"], sub["current_period_end"]
        fraction = min(1.0, max(0.0, (end - when) / (end - start))) if end > start else 0.0
        lines = []
        day = _day(when)
        for item_id in sorted(set(old) | set(new)):
            before, after = old.get(item_id), new.get(item_id)
            if before and after and before[0]["id"] == after[0]["id"] and before[1] == after[1]:
                continue
            if before:
                price, quantity = before
                lines.append(self._line(led, sub, item_id, price, quantity,
                                        -round(price["unit_amount"] * quantity * fraction),
                                        f"Unused time on {quantity} × {self._product_name(led, price)} after {day}",
                                        when, end, proration=True))
            if after:
                price, quantity = after
                lines.append(self._line(led, sub, item_id, price, quantity,
                                        round(price["unit_amount"] * quantity * fraction),
                                        f"Remaining time on {quantity} × {self._product_name(led, price)} after {day}",
                                        when, end, proration=True))
        return [line for line in lines if line["amount"]]

    def _restart_cycle(self, led: Ledger, sub: Object, credits: list[Object], when: int):
        recurring = sub["items"]["data"][0]["price"]["recurring"]
        end = add_interval(when, recurring["interval"], recurring["interval_count"], when)
        self._set_period(sub, when, end)
        sub["billing_cycle_anchor"] = when
        if sub["cancel_at_period_end"]:
            sub["cancel_at"] = end
        lines = [line for line in credits if line["amount"] < 0]
        lines += [self._period_line(led, sub, item, when, end) for item in sub["items"]["data"]]
        lines += led.state["pending_invoice_items"].pop(sub["id"], [])
        return self._bill_now(led, sub, lines, "subscription_update", when, period=(when, when))

    def _bill_now(self, led: Ledger, sub: Object, lines: list[Object], reason: str, when: int,
                  period: tuple[int, int] | None = None) -> list[tuple[str, Object, Object | None]]:
        customer = led.get("customer", sub["customer"])
        start, end = period or (sub["current_period_start"], sub["current_period_end"])
        invoice = self._new_invoice(led, sub, customer, lines, reason, start, end)
        method = led.find("payment_method", sub["default_payment_method"])
        events = self._collect(led, invoice, method, None, None, customer["email"])
        sub["latest_invoice"] = invoice["id"]
        return events

    def cancel_subscription(self, led: Ledger, p: Params, subscription_id: str) -> Object:
        sub = led.get("subscription", subscription_id)
        # Accepted so that clients written for Stripe work; this stand-in neither
        # issues a final invoice nor credits unused time on cancellation.
        p.boolean("invoice_now")
        p.boolean("prorate")
        details = p.child("cancellation_details")
        p.reject_unknown()
        if sub["status"] in ("canceled", "incomplete_expired"):
            raise invalid(f"This subscription ({subscription_id}) has already been canceled.",
                          code="resource_missing")
        if details is not None:
            for name in ("comment", "feedback"):
                if details.has(name):
                    sub["cancellation_details"][name] = details.text(name, empty_is_none=True)
        self._end(led, sub, "cancellation_requested")
        return sub

    def _end(self, led: Ledger, sub: Object, reason: str) -> None:
        now = led.now()
        sub.update({"status": "canceled", "ended_at": now, "canceled_at": sub["canceled_at"] or now,
                    "cancel_at_period_end": False})
        sub["cancellation_details"]["reason"] = reason
        led.state["pending_invoice_items"].pop(sub["id"], None)
        led.emit("customer.subscription.deleted", sub)

    # -- invoices and payments ------------------------------------------------------------------

    def _product_name(self, led: Ledger, price: Object) -> str:
        return (led.find("product", price["product"]) or {}).get("name") or price.get("nickname") or price["id"]

    def _period_line(self, led: Ledger, sub: Object, item: Object, start: int, end: int) -> Object:
        price, quantity = item["price"], item["quantity"]
        description = (f"{quantity} × {self._product_name(led, price)} "
                       f"(at {money(price['unit_amount'], price['currency'])} / {_interval_text(price['recurring'])})")
        return self._line(led, sub, item["id"], price, quantity, price["unit_amount"] * quantity,
                          description, start, end, proration=False)

    def _line(self, led: Ledger, sub: Object, item_id: str, price: Object, quantity: int, amount: int,
              description: str, start: int, end: int, proration: bool) -> Object:
        return {
            "id": new_id("il_"), "object": "line_item", "amount": amount, "currency": price["currency"],
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
            amounts = _allocate_discount(discount["coupon"], [line["amount"] for line in discountable])
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
            "account_tax_ids": None, "amount_due": amount_due, "amount_overpaid": 0, "amount_paid": 0,
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
            "hosted_invoice_url": None, "invoice_pdf": None, "issuer": {"type": "self"},
            "last_finalization_error": None, "latest_revision": None,
            "lines": list_object(lines, f"/v1/invoices/{invoice_id}/lines") | {"total_count": len(lines)},
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
            # Fields from before API 2025-03-31, kept for older clients: the invoice's
            # subscription is also at parent.subscription_details.subscription.
            "subscription": sub["id"], "payment_intent": None, "charge": None, "paid": False,
        })

    def _collect(self, led: Ledger, invoice: Object, method: Object | None, decline: Decline | None,
                 intent: Object | None, email: str | None) -> list[tuple[str, Object, Object | None]]:
        """Attempt payment of an open invoice; the events to emit, in Stripe's order."""
        now = led.now()
        invoice["attempted"] = True
        invoice["attempt_count"] += 1
        if invoice["amount_due"] == 0:
            self._mark_paid(invoice, now)
            return [("invoice.paid", invoice, None), ("invoice.payment_succeeded", invoice, None)]
        if intent is None:
            intent = led.find("payment_intent", invoice["payment_intent"])
        if intent is None:
            description = {"subscription_create": "Subscription creation",
                           "subscription_update": "Subscription update"}.get(invoice["billing_reason"],
                                                                              "Subscription renewal")
            intent = self._new_payment_intent(led, invoice["amount_due"], invoice["currency"],
                                              invoice["customer"], description)
        else:
            intent.update({"customer": invoice["customer"], "amount": invoice["amount_due"]})
        payment = next((x for x in led.newest_first("invoice_payment") if x["invoice"] == invoice["id"]), None)
        if payment is None:
            payment = led.add({
                "id": new_id("inpay_"), "object": "invoice_payment", "amount_paid": None,
                "amount_requested": invoice["amount_due"], "created": now, "currency": invoice["currency"],
                "invoice": invoice["id"], "is_default": True, "livemode": False,
                "payment": {"payment_intent": intent["id"], "type": "payment_intent"}, "status": "open",
                "status_transitions": {"canceled_at": None, "paid_at": None},
            })
        intent["invoice"] = invoice["id"]
        invoice["payment_intent"] = intent["id"]
        self._attempt(led, intent, method, decline, email)
        invoice["charge"] = intent["latest_charge"]
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
                        "paid": True, "auto_advance": False, "next_payment_attempt": None})
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
            "invoice": None, "last_payment_error": None, "latest_charge": None, "livemode": False,
            "metadata": {}, "next_action": None, "on_behalf_of": None, "payment_method": None,
            "payment_method_configuration_details": None, "payment_method_options": {},
            "payment_method_types": ["card"], "processing": None, "receipt_email": None, "review": None,
            "setup_future_usage": "off_session", "shipping": None, "source": None,
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
            "payment_method_details": {"card": card, "type": "card"} if card else None,
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
        intent.update({"status": "requires_payment_method", "last_payment_error": error})
        return error

    def retrieve_invoice(self, led: Ledger, p: Params, invoice_id: str) -> Object:
        return led.get("invoice", invoice_id)

    def list_invoices(self, led: Ledger, p: Params) -> Object:
        customer, subscription = p.text("customer"), p.text("subscription")
        status = p.text("status", choices=("draft", "open", "paid", "uncollectible", "void"))
        return led.page("invoice", (i for i in led.newest_first("invoice")
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
        return led.page("invoice_payment", (x for x in led.newest_first("invoice_payment")
                                            if (invoice is None or x["invoice"] == invoice)
                                            and (intent is None or x["payment"]["payment_intent"] == intent)), p)

    def retrieve_payment_intent(self, led: Ledger, p: Params, intent_id: str) -> Object:
        return led.get("payment_intent", intent_id)

    def list_payment_intents(self, led: Ledger, p: Params) -> Object:
        customer = p.text("customer")
        return led.page("payment_intent", (x for x in led.newest_first("payment_intent")
                                           if customer is None or x["customer"] == customer), p)

    def retrieve_charge(self, led: Ledger, p: Params, charge_id: str) -> Object:
        return led.get("charge", charge_id)

    def retrieve_payment_method(self, led: Ledger, p: Params, method_id: str) -> Object:
        return led.get("payment_method", method_id)

    # -- refunds -------------------------------------------------------------------------------

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
        led.add(refund)
        led.emit("refund.created", refund)
        led.emit("charge.refunded", charge, changed_attributes(before, charge))
        return refund

    def retrieve_refund(self, led: Ledger, p: Params, refund_id: str) -> Object:
        return led.get("refund", refund_id)

    def list_refunds(self, led: Ledger, p: Params) -> Object:
        intent, charge = p.text("payment_intent"), p.text("charge")
        return led.page("refund", (r for r in led.newest_first("refund")
                                   if (intent is None or r["payment_intent"] == intent)
                                   and (charge is None or r["charge"] == charge)), p)

    # -- events ---------------------------------------------------------------------------------

    def retrieve_event(self, led: Ledger, p: Params, event_id: str) -> Object:
        return led.get("event", event_id)

    def list_events(self, led: Ledger, p: Params) -> Object:
        event_type, types = p.text("type"), p.strings("types")
        if event_type and types:
            raise invalid("You may only specify one of these parameters: type, types.")
        wanted = _type_matcher([event_type] if event_type else types)
        return led.page("event", (e for e in led.newest_first("event") if wanted(e["type"])), p)

    # -- the test clock ---------------------------------------------------------------------

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
        before = _snapshot(sub)
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
            start = sub["current_period_end"]
            end = _next_boundary(sub, start)
            previous_period = (sub["current_period_start"], sub["current_period_end"])
            self._set_period(sub, start, end)
            lines = [self._period_line(led, sub, item, start, end) for item in sub["items"]["data"]]
            lines += led.state["pending_invoice_items"].pop(sub["id"], [])
            invoice = self._new_invoice(led, sub, customer, lines, "subscription_cycle", *previous_period)
            sub["latest_invoice"] = invoice["id"]
            self._retire_discounts(led, sub, start)
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
        previous = changed_attributes(before, _snapshot(sub))
        if previous:
            led.emit("customer.subscription.updated", sub, previous)
        return invoice

    def _give_up(self, led: Ledger, sub: Object, before: Object) -> None:
        """Retries are exhausted: Stripe's 'if all retries fail' setting."""
        if self.after_failed_retries == "unpaid":
            sub["status"] = "unpaid"
            led.emit("customer.subscription.updated", sub, changed_attributes(before, _snapshot(sub)))
        else:
            self._end(led, sub, "payment_failed")

    def _retire_discounts(self, led: Ledger, sub: Object, period_start: int) -> None:
        kept = []
        for discount_id in sub["discounts"]:
            discount = led.find("discount", discount_id)
            if discount is None:
                continue
            if discount["coupon"]["duration"] == "once":
                continue
            if discount["end"] and discount["end"] <= period_start:
                continue
            kept.append(discount_id)
        sub["discounts"] = kept

    @staticmethod
    def _set_period(sub: Object, start: int, end: int) -> None:
        sub["current_period_start"], sub["current_period_end"] = start, end
        for item in sub["items"]["data"]:
            item["current_period_start"], item["current_period_end"] = start, end

    def _updated(self, led: Ledger, event_type: str, before: Object, after: Object) -> Object:
        previous = changed_attributes(before, after)
        if previous:
            led.emit(event_type, after, previous)
        return after


# -- helpers -------------------------------------------------------------------------------------


def _flag(value: bool | None, default: bool) -> bool:
    return default if value is None else value


def _snapshot(obj: Object) -> Object:
    return copy.deepcopy(obj)


def _currency(p: Params, name: str, required: bool) -> str | None:
    value = p.text(name, required=required)
    if value is None:
        return None
    if len(value) != 3 or not value.isalpha():
        raise invalid(f"Invalid currency: {value}", p.path(name))
    return value.lower()


def _coupon_valid(coupon: Object, now: int) -> bool:
    if coupon.get("redeem_by") and coupon["redeem_by"] <= now:
        return False
    if coupon.get("max_redemptions") and coupon["times_redeemed"] >= coupon["max_redemptions"]:
        return False
    return True


def _allocate_discount(coupon: Object, amounts: list[int]) -> list[int]:
    if coupon.get("percent_off") is not None:
        return [round(amount * coupon["percent_off"] / 100) for amount in amounts]
    left = coupon["amount_off"]
    result = []
    for amount in amounts:
        taken = min(left, max(amount, 0))
        result.append(taken)
        left -= taken
    return result


def _interval_of(price: Object) -> tuple[str, int]:
    return price["recurring"]["interval"], price["recurring"]["interval_count"]


def _interval_text(recurring: Object) -> str:
    count, interval = recurring["interval_count"], recurring["interval"]
    return interval if count == 1 else f"{count} {interval}s"


def _type_matcher(patterns: list[str]) -> Callable[[str], bool]:
    """Stripe's event type filters: exact names or a trailing ``*`` (``invoice.*``)."""
    if not patterns:
        return lambda _type: True

    def matches(event_type: str) -> bool:
        return any(event_type == p or (p.endswith("*") and event_type.startswith(p[:-1])) for p in patterns)
    return matches


def money(amount: int, currency: str) -> str:
    currency = currency.lower()
    sign = "-" if amount < 0 else ""
    value = abs(amount)
    text = f"{value:,}" if currency in ZERO_DECIMAL else f"{value / 100:,.2f}"
    symbol = SYMBOLS.get(currency)
    return f"{sign}{symbol}{text}" if symbol else f"{sign}{text} {currency.upper()}"


def _day(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, timezone.utc).strftime("%d %b %Y")


def add_interval(timestamp: int, interval: str, count: int, anchor: int) -> int:
    """``timestamp`` plus ``count`` intervals; month ends clamp to the anchor's day
    (a cycle anchored on the 31st bills on Feb 28 and then on Mar 31)."""
    if interval == "day":
        return timestamp + 86400 * count
    if interval == "week":
        return timestamp + 7 * 86400 * count
    start = datetime.fromtimestamp(timestamp, timezone.utc)
    day = datetime.fromtimestamp(anchor, timezone.utc).day
    months = count * (12 if interval == "year" else 1)
    year, month = divmod(start.month - 1 + months, 12)
    year += start.year
    month += 1
    moved = start.replace(year=year, month=month, day=min(day, calendar.monthrange(year, month)[1]))
    return int(moved.timestamp())


def _next_boundary(sub: Object, start: int) -> int:
    interval, count = _interval_of(sub["items"]["data"][0]["price"])
    return add_interval(start, interval, count, sub["billing_cycle_anchor"])
