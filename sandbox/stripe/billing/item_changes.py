"""One entry of a subscription's ``items[]`` change, checked and applied the same way by the
update itself (plan_changes.py) and by its preview (previews.py)."""

from __future__ import annotations

from ..objects import Object
from ..params import invalid


def check_currency(price: Object, sub: Object, where: str) -> None:
    if price["currency"] != sub["currency"]:
        raise invalid(f"The price's currency ({price['currency']}) must match the subscription's "
                      f"({sub['currency']}).", f"{where}[price]")


def named_item(items: list[Object], item_id: str, where: str) -> Object:
    item = next((i for i in items if i["id"] == item_id), None)
    if item is None:
        raise invalid(f"Invalid subscription_item id: {item_id}", f"{where}[id]")
    return item


def change_item(item: Object, price: Object | None, quantity: int | None) -> None:
    """A new price and/or quantity for an existing item; what is not given stays."""
    if price is not None:
        item["price"] = dict(price)
    if quantity is not None:
        item["quantity"] = quantity
