"""Subscriptions: created by Checkout, read, updated, canceled.

How a change of items is billed (prorations, a new interval) is ``plan_changes``.
"""

from __future__ import annotations

from ..objects import Ledger, Object, changed_attributes, list_object, new_id
from ..params import Params, invalid, merge_metadata
from .fields import snapshot
from .periods import add_interval, current_period


class Subscriptions:
    """subscriptions.*; the period is on each item (API 2025-03-31 removed it from the top level)."""

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
            "billing_cycle_anchor": now, "billing_cycle_anchor_config": None,
            # Flexible billing is what new subscriptions get since API 2025-10-29.clover (prorations
            # credit what was actually billed); the stand-in models that mode only.
            "billing_mode": {"flexible": {"proration_discounts": "included"}, "type": "flexible", "updated_at": now},
            "billing_schedules": [], "billing_thresholds": None,
            "cancel_at": None, "cancel_at_period_end": False, "canceled_at": None,
            "cancellation_details": {"comment": None, "feedback": None, "reason": None},
            "collection_method": "charge_automatically", "created": now,
            "currency": lines[0]["currency"], "customer": customer["id"],
            "days_until_due": None, "default_payment_method": method["id"] if method else None,
            "default_source": None, "default_tax_rates": [],
            "description": private["subscription_data"]["description"], "discounts": [], "ended_at": None,
            "invoice_settings": {"account_tax_ids": None, "issuer": {"type": "self"}},
            "items": list_object(items, f"/v1/subscription_items?subscription={subscription_id}"),
            "latest_invoice": None, "livemode": False,
            "metadata": dict(private["subscription_data"]["metadata"]),
            "next_pending_invoice_item_invoice": None, "on_behalf_of": None, "pause_collection": None,
            "payment_settings": {"payment_method_options": None, "payment_method_types": None,
                                 "save_default_payment_method": "off"},
            "pending_invoice_item_interval": None, "pending_setup_intent": None, "pending_update": None,
            "schedule": None, "start_date": now, "status": "incomplete", "test_clock": None,
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
        return led.page("subscription", filter(wanted, led.newest_first("subscription", customer=customer)), p)

    def update_subscription(self, led: Ledger, p: Params, subscription_id: str) -> Object:
        sub = led.get("subscription", subscription_id)
        before = snapshot(sub)
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
            sub["cancel_at"] = current_period(sub)[1] if cancel_at_period_end else None
            sub["canceled_at"] = now if cancel_at_period_end else None
            sub["cancellation_details"]["reason"] = "cancellation_requested" if cancel_at_period_end else None
        billed = self._change_items(led, sub, p.children("items"), behavior, proration_date or now)
        p.reject_unknown()
        after = snapshot(sub)
        previous = changed_attributes(before, after)
        if previous:
            led.emit("customer.subscription.updated", sub, previous)
        for event_type, obj, prev in billed:
            led.emit(event_type, obj, prev)
        return sub

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

    @staticmethod
    def _set_period(sub: Object, start: int, end: int) -> None:
        for item in sub["items"]["data"]:
            item["current_period_start"], item["current_period_end"] = start, end
