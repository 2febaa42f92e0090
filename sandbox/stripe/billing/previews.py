"""Invoice previews (``POST /v1/invoices/create_preview``): what a subscription's next invoice,
or a change to it, would bill, computed without storing or charging anything.

As Stripe documents it: ``subscription`` (and optionally ``customer``) with
``subscription_details[items][]`` (``id``, ``price``, ``quantity``, ``deleted``),
``subscription_details[proration_behavior]`` and ``subscription_details[proration_date]``
(default now; answered as ``subscription_proration_date`` so that the update can pass the
same instant and bill exactly the previewed amount). With ``always_invoice`` the preview is
the invoice the update bills at once (the proration lines only); otherwise it is the next
renewal invoice (pending prorations, plus this change's with ``create_prorations``, plus the
next period at the new prices). The preview's id starts with ``upcoming_``, it has no number
and no hosted page, and it never appears in invoice lists.

Choice where the contract is silent: a change of billing interval is not previewed here
(this stand-in's plan changes restart the cycle for it; mpanel keeps the cycle).
"""

from __future__ import annotations

import copy

from ..objects import Ledger, Object
from ..params import Params, StripeError, invalid
from .fields import flag
from .item_changes import change_item, check_currency, named_item
from .periods import current_period, interval_of, next_boundary

BEHAVIORS = ("always_invoice", "create_prorations", "none")


class InvoicePreviews:
    def create_invoice_preview(self, led: Ledger, p: Params) -> Object:
        customer_id = p.text("customer")
        subscription_id = p.text("subscription")
        p.text("preview_mode", choices=("next", "recurring"))
        details = p.child("subscription_details") or Params({}, "subscription_details", p.used)
        behavior = details.text("proration_behavior", choices=BEHAVIORS) or "create_prorations"
        when = details.integer("proration_date") or led.now()
        entries = details.children("items")
        if subscription_id is None:
            if customer_id is None:
                raise invalid("Missing required param: customer.", "customer", "parameter_missing")
            raise invalid("This stand-in previews subscriptions' invoices: pass subscription.", "subscription")
        sub = copy.deepcopy(led.get("subscription", subscription_id, "subscription"))
        if customer_id is not None and customer_id != sub["customer"]:
            raise invalid(f"The subscription {subscription_id} does not belong to the customer {customer_id}.",
                          "subscription")
        if sub["status"] in ("canceled", "incomplete_expired"):
            raise StripeError(400, f"No upcoming invoices for customer: {sub['customer']}",
                              code="invoice_upcoming_none")
        old = {item["id"]: (item["price"], item["quantity"]) for item in sub["items"]["data"]}
        self._preview_items(led, sub, entries)
        new = {item["id"]: (item["price"], item["quantity"]) for item in sub["items"]["data"]}
        start, end = current_period(sub)
        if not start <= when <= end:
            raise invalid("The proration date must be within the subscription's current period.",
                          "subscription_details[proration_date]")
        credits = self._proration_lines(led, sub, old, new, when) if behavior != "none" else []
        if behavior == "always_invoice" and credits:
            lines, reason, period = credits, "subscription_update", (start, end)
        else:
            pending = copy.deepcopy(led.state["pending_invoice_items"].get(sub["id"], []))
            following = next_boundary(sub, end)
            lines = pending + (credits if behavior == "create_prorations" else [])
            lines += [self._period_line(led, sub, item, end, following) for item in sub["items"]["data"]]
            reason, period = "subscription_cycle", (end, end)
        customer = copy.deepcopy(led.get("customer", sub["customer"]))
        stored = self._new_invoice(led, sub, customer, lines, reason, *period)
        led.remove("invoice", stored["id"])  # a preview is never kept: it is not in any list
        preview = dict(stored, id=f"upcoming_{stored['id']}", number=None, status="draft",
                       hosted_invoice_url=None, created=led.now(),
                       status_transitions=dict(stored["status_transitions"], finalized_at=None))
        # Since API 2025-03-31 the instant a preview prorated at is only on its parent.
        preview["parent"]["subscription_details"]["subscription_proration_date"] = when
        for line in preview["lines"]["data"]:
            line["invoice"] = preview["id"]
        preview["lines"] = dict(preview["lines"], url=f"/v1/invoices/{preview['id']}/lines")
        return preview

    def _preview_items(self, led: Ledger, sub: Object, entries: list[Params]) -> None:
        """``subscription_details[items]`` applied to a copy of the subscription's items."""
        items = sub["items"]["data"]
        interval = interval_of(items[0]["price"])
        for index, entry in enumerate(entries):
            where = f"subscription_details[items][{index}]"
            item_id, price_id = entry.text("id"), entry.text("price")
            quantity = entry.integer("quantity", minimum=0)
            deleted = flag(entry.boolean("deleted"), False)
            price = led.get("price", price_id, f"{where}[price]") if price_id else None
            if price is not None and (not price["active"] or price["recurring"] is None):
                raise invalid("The price specified is inactive or not recurring.", f"{where}[price]")
            if price is not None:
                check_currency(price, sub, where)
            if item_id:
                item = named_item(items, item_id, where)
                if deleted:
                    items.remove(item)
                    continue
                change_item(item, price, quantity)
            elif price is None:
                raise invalid(f"Missing required param: {where}[price].", f"{where}[price]", "parameter_missing")
            else:
                items.append(self._new_item(led, sub["id"], price, 1 if quantity is None else quantity,
                                            *current_period(sub)))
        if not items:
            raise invalid("A subscription must keep at least one item.", "subscription_details[items]")
        if {interval_of(i["price"]) for i in items} != {interval}:
            raise invalid("This stand-in does not preview a change of billing interval.",
                          "subscription_details[items]")

