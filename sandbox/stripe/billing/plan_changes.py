"""Changing a subscription's items, and billing the change as ``proration_behavior`` says."""

from __future__ import annotations

from ..objects import Ledger, Object
from ..params import Params, invalid, merge_metadata
from .fields import flag
from .item_changes import change_item, check_currency, named_item
from .periods import add_interval, current_period, date_text, interval_of


class PlanChanges:
    """``items[]`` of subscriptions.update: credits and debits for the rest of the period,
    billed at the next renewal, at once, or not at all; a new interval restarts the cycle."""

    def _change_items(self, led: Ledger, sub: Object, entries: list[Params], behavior: str,
                      when: int) -> list[tuple[str, Object, Object | None]]:
        """Apply ``items[]`` and bill the change as ``proration_behavior`` says."""
        if not entries:
            return []
        items = sub["items"]["data"]
        old = {item["id"]: (item["price"], item["quantity"]) for item in items}
        old_interval = interval_of(items[0]["price"])
        for index, entry in enumerate(entries):
            where = f"items[{index}]"
            item_id = entry.text("id")
            price_id = entry.text("price")
            quantity = entry.integer("quantity", minimum=0)
            deleted = flag(entry.boolean("deleted"), False)
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
                check_currency(price, sub, where)
            if item_id:
                item = named_item(items, item_id, where)
                if deleted:
                    items.remove(item)
                    continue
                change_item(item, price, quantity)
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
                                      *current_period(sub))
                item["metadata"] = merge_metadata({}, item_metadata)
                items.append(item)
        if not items:
            raise invalid("A subscription must keep at least one item.", "items")
        if len({interval_of(i["price"]) for i in items}) > 1:
            raise invalid("All prices on a subscription must have the same billing interval.", "items")
        if sub["status"] in ("canceled", "incomplete_expired"):
            return []
        new = {item["id"]: (item["price"], item["quantity"]) for item in items}
        credits = self._proration_lines(led, sub, old, new, when)
        if interval_of(items[0]["price"]) != old_interval:
            # A new billing interval restarts the cycle now and bills it at once.
            return self._restart_cycle(led, sub, credits if behavior != "none" else [], when)
        if behavior == "none" or not credits:
            return []
        if behavior == "create_prorations":
            led.state["pending_invoice_items"].setdefault(sub["id"], []).extend(credits)
            return []
        return self._bill_now(led, sub, credits, "subscription_update", when)

    def _proration_lines(self, led: Ledger, sub: Object, old: dict, new: dict, when: int) -> list[Object]:
        start, end = current_period(sub)
        fraction = min(1.0, max(0.0, (end - when) / (end - start))) if end > start else 0.0
        lines = []
        day = date_text(when)
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
        start, end = period or current_period(sub)
        invoice = self._new_invoice(led, sub, customer, lines, reason, start, end)
        method = led.find("payment_method", sub["default_payment_method"])
        # After the subscription's own customer.subscription.updated (the caller emits these
        # after it), as Stripe: the invoice issued, then its payment.
        events = self._issued(invoice) + self._collect(led, invoice, method, None, None, customer["email"])
        sub["latest_invoice"] = invoice["id"]
        return events
