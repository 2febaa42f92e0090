"""Coupons, promotion codes, and the discounts they become on a subscription."""

from __future__ import annotations

import secrets
import string
from decimal import ROUND_HALF_UP, Decimal

from ..objects import Ledger, Object, new_id
from ..params import Params, invalid, merge_metadata
from .fields import add_created, currency_param, emit_update, flag
from .periods import add_interval


class Discounts:
    """coupons.* and promotion_codes.*, plus the checks and bookkeeping Checkout and
    renewals share: whether a code or coupon may be used, redeeming it, and when it stops."""

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
        currency = currency_param(p, "currency", required=False)
        if amount_off is not None and currency is None:
            raise invalid("You must pass currency when passing amount_off.", "currency")
        duration = p.text("duration", choices=("forever", "once", "repeating")) or "once"
        months = p.integer("duration_in_months", minimum=1)
        if (duration == "repeating") != (months is not None):
            raise invalid("duration_in_months is required with, and only allowed with, duration=repeating.",
                          "duration_in_months")
        coupon = {
            "id": coupon_id, "object": "coupon", "amount_off": amount_off,
            "created": led.now(), "currency": currency, "duration": duration, "duration_in_months": months,
            "livemode": False, "max_redemptions": p.integer("max_redemptions", minimum=1),
            "metadata": merge_metadata({}, p.metadata()), "name": p.text("name", max_length=40),
            "percent_off": percent_off,
            "redeem_by": p.integer("redeem_by"), "times_redeemed": 0, "valid": True,
        }
        p.reject_unknown()
        add_created(led, coupon)
        return coupon

    def retrieve_coupon(self, led: Ledger, p: Params, coupon_id: str) -> Object:
        coupon = led.get("coupon", coupon_id)
        coupon["valid"] = coupon_valid(coupon, led.now())
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
            "id": new_id("promo_"), "object": "promotion_code", "active": flag(p.boolean("active"), True),
            "code": code, "created": led.now(), "customer": customer,
            "expires_at": p.integer("expires_at"), "livemode": False,
            "max_redemptions": p.integer("max_redemptions", minimum=1),
            "metadata": merge_metadata({}, p.metadata()),
            "promotion": {"coupon": coupon_id, "type": "coupon"},
            "restrictions": {
                "currency_options": {},
                "first_time_transaction": flag(restrictions.boolean("first_time_transaction") if restrictions else None, False),
                "minimum_amount": minimum,
                "minimum_amount_currency": (currency_param(restrictions, "minimum_amount_currency", required=minimum is not None)
                                            if restrictions else None),
            },
            "times_redeemed": 0,
        }
        p.reject_unknown()
        if promo["active"] and any(other["active"] and other["code"].lower() == code.lower()
                                   for other in led.newest_first("promotion_code", code=code.lower())):
            raise invalid(f"An active promotion code with `code: {code}` already exists.", "code")
        add_created(led, promo)
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
        return emit_update(led, "promotion_code.updated", before, promo)

    def list_promotion_codes(self, led: Ledger, p: Params) -> Object:
        code, coupon, customer, active = p.text("code"), p.text("coupon"), p.text("customer"), p.boolean("active")

        def wanted(promo: Object) -> bool:
            return ((code is None or promo["code"].lower() == code.lower())
                    and (coupon is None or promo["promotion"]["coupon"] == coupon)
                    and (customer is None or promo["customer"] == customer)
                    and (active is None or promo["active"] == active))
        return led.page("promotion_code", filter(wanted, led.newest_first("promotion_code",
                                                                           code=code.lower() if code else None)), p)

    def _usable_coupon(self, led: Ledger, coupon_id: str, param: str, currency: str) -> Object:
        coupon = led.get("coupon", coupon_id, param)
        if not coupon_valid(coupon, led.now()):
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

    def _redeem(self, led: Ledger, applied: Object, customer_id: str, subscription: Object, now: int) -> Object:
        coupon = led.get("coupon", applied["coupon"])
        coupon["times_redeemed"] += 1
        coupon["valid"] = coupon_valid(coupon, now)
        if applied.get("promotion_code"):
            promo = led.get("promotion_code", applied["promotion_code"])
            promo["times_redeemed"] += 1
        end = None
        if coupon["duration"] == "repeating":
            end = add_interval(now, "month", coupon["duration_in_months"], now)
        discount = led.add({
            "id": new_id("di_"), "object": "discount", "checkout_session": None,
            "customer": customer_id, "end": end, "invoice": None, "invoice_item": None,
            "promotion_code": applied.get("promotion_code"), "source": {"coupon": coupon["id"], "type": "coupon"},
            "start": now, "subscription": subscription["id"], "subscription_item": None,
        })
        subscription["discounts"] = [discount["id"]]
        return discount

    def _retire_discounts(self, led: Ledger, sub: Object, period_start: int) -> None:
        kept = []
        for discount_id in sub["discounts"]:
            discount = led.find("discount", discount_id)
            if discount is None:
                continue
            if led.get("coupon", discount["source"]["coupon"])["duration"] == "once":
                continue
            if discount["end"] and discount["end"] <= period_start:
                continue
            kept.append(discount_id)
        sub["discounts"] = kept


def coupon_valid(coupon: Object, now: int) -> bool:
    if coupon.get("redeem_by") and coupon["redeem_by"] <= now:
        return False
    if coupon.get("max_redemptions") and coupon["times_redeemed"] >= coupon["max_redemptions"]:
        return False
    return True


def percent_off_amount(amount: int, percent_off: float) -> int:
    """Stripe's rule: the discount is computed on the amount and rounded to the minor unit,
    half up (the total is what is left). mpanel prices orders by the same rule
    (app/services/orders/orders.percent_off_amount; the sandbox may not import the app, so
    tests/unit/test_discount_rounding.py holds the two to one table)."""
    exact = Decimal(amount) * Decimal(str(percent_off)) / 100
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def allocate_discount(coupon: Object, amounts: list[int]) -> list[int]:
    if coupon.get("percent_off") is not None:
        return [percent_off_amount(amount, coupon["percent_off"]) for amount in amounts]
    left = coupon["amount_off"]
    result = []
    for amount in amounts:
        taken = min(left, max(amount, 0))
        result.append(taken)
        left -= taken
    return result
