"""Products and prices: the catalogue Checkout and subscriptions sell from."""

from __future__ import annotations

from ..objects import Ledger, Object, new_id
from ..params import Params, invalid, merge_metadata
from .fields import add_created, currency_param, emit_update, flag

INTERVALS = ("day", "week", "month", "year")


class Catalog:
    """products.* and prices.*; a lookup key belongs to one price at a time."""

    def create_product(self, led: Ledger, p: Params) -> Object:
        product_id = p.text("id") or new_id("prod_", 14)
        if led.find("product", product_id):
            raise invalid("Product already exists.", "id", "resource_already_exists")
        now = led.now()
        product = {
            "id": product_id, "object": "product", "active": flag(p.boolean("active"), True),
            "created": now, "default_price": None, "description": p.text("description", empty_is_none=True),
            "images": p.strings("images"), "livemode": False, "marketing_features": [],
            "metadata": merge_metadata({}, p.metadata()), "name": p.text("name", required=True, max_length=250),
            "package_dimensions": None, "shippable": None,
            "statement_descriptor": p.text("statement_descriptor", max_length=22),
            "tax_code": p.text("tax_code"), "unit_label": p.text("unit_label"),
            "updated": now, "url": p.text("url"),
        }
        p.reject_unknown()
        add_created(led, product)
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
        return emit_update(led, "product.updated", before, product)

    def list_products(self, led: Ledger, p: Params) -> Object:
        active, ids = p.boolean("active"), p.strings("ids")
        return led.page("product", (x for x in led.newest_first("product")
                                    if (active is None or x["active"] == active) and (not ids or x["id"] in ids)), p)

    def create_price(self, led: Ledger, p: Params) -> Object:
        currency = currency_param(p, "currency", required=True)
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
                         "usage_type": usage_type}
        lookup_key = p.text("lookup_key", max_length=200, empty_is_none=True)
        transfer = flag(p.boolean("transfer_lookup_key"), False)
        price = {
            "id": new_id("price_"), "object": "price", "active": flag(p.boolean("active"), True),
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
                "id": new_id("prod_", 14), "object": "product", "active": flag(product_data.boolean("active"), True),
                "created": led.now(), "default_price": None, "description": None, "images": [],
                "livemode": False, "marketing_features": [], "metadata": merge_metadata({}, product_data.metadata()),
                "name": product_data.text("name", required=True), "package_dimensions": None, "shippable": None,
                "statement_descriptor": product_data.text("statement_descriptor"), "tax_code": None,
                "unit_label": product_data.text("unit_label"),
                "updated": led.now(), "url": None,
            }
            price["product"] = product["id"]
        p.reject_unknown()
        self._claim_lookup_key(led, lookup_key, transfer, price["id"])
        if product is not None:
            add_created(led, product)
        add_created(led, price)
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
            self._claim_lookup_key(led, key, flag(p.boolean("transfer_lookup_key"), False), price_id)
            price["lookup_key"] = key
        price["metadata"] = merge_metadata(price["metadata"], p.metadata())
        p.reject_unknown()
        return emit_update(led, "price.updated", before, price)

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
        only_key = lookup_keys[0] if lookup_keys and len(lookup_keys) == 1 else None
        return led.page("price", filter(wanted, led.newest_first("price", lookup_key=only_key)), p)

    def _claim_lookup_key(self, led: Ledger, key: str | None, transfer: bool, owner: str) -> None:
        if key is None:
            return
        for other in led.newest_first("price", lookup_key=key):
            if other["lookup_key"] == key and other["id"] != owner:
                if not transfer:
                    raise invalid(f"A price (`{other['id']}`) already uses that lookup key.", "lookup_key")
                before = dict(other)
                other["lookup_key"] = None
                emit_update(led, "price.updated", before, other)
