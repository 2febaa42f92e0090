"""The Stripe account's objects inside one transaction: storage, lists, expansion, events.

Objects are kept in the state exactly in the shape the API answers (a table per kind,
see ``TABLES``), so reading one back is a copy and an event's snapshot is the object
as it was when it happened. Everything here works inside the transaction that
``StateStore.change()`` yields: an operation that fails halfway leaves neither objects
nor events behind.
"""

from __future__ import annotations

import copy
import secrets
import string
from collections import deque
from dataclasses import dataclass
from itertools import islice
from typing import Any, Callable, Iterable, Iterator

from ..common.state import Document, Table, Transaction
from . import schema
from .params import Params, invalid, no_such

# The one version the stand-in models: the one app/services/orders/billing.py pins.
API_VERSION = "2026-08-26.dahlia"
EVENT_RETENTION_SECONDS = 30 * 24 * 3600  # Stripe keeps events for 30 days
MAX_EVENTS = 5000
_ALPHABET = string.ascii_letters + string.digits

Object = dict[str, Any]


@dataclass(frozen=True)
class Kind:
    name: str            # the value of the object's "object" field
    prefix: str          # id prefix; "" for coupons, whose ids are free text
    label: str           # as in Stripe's "No such <label>: 'id'"
    url: str             # the list endpoint, which Stripe reports in list objects


KINDS: dict[str, Kind] = {kind.name: kind for kind in (
    Kind("product", "prod_", "product", "/v1/products"),
    Kind("price", "price_", "price", "/v1/prices"),
    Kind("coupon", "", "coupon", "/v1/coupons"),
    Kind("promotion_code", "promo_", "promotion code", "/v1/promotion_codes"),
    Kind("customer", "cus_", "customer", "/v1/customers"),
    Kind("checkout.session", "cs_test_", "checkout.session", "/v1/checkout/sessions"),
    Kind("subscription", "sub_", "subscription", "/v1/subscriptions"),
    Kind("invoice", "in_", "invoice", "/v1/invoices"),
    Kind("invoice_payment", "inpay_", "invoice_payment", "/v1/invoice_payments"),
    Kind("payment_intent", "pi_", "payment_intent", "/v1/payment_intents"),
    Kind("charge", "ch_", "charge", "/v1/charges"),
    Kind("payment_method", "pm_", "PaymentMethod", "/v1/payment_methods"),
    Kind("refund", "re_", "refund", "/v1/refunds"),
    Kind("discount", "di_", "discount", ""),
    Kind("billing_portal.session", "bps_", "billing_portal.session", "/v1/billing_portal/sessions"),
    Kind("event", "evt_", "event", "/v1/events"),
)}

# Longest prefix first, so "price_" is never taken for a "pi_" and "inpay_" for "in_".
_BY_PREFIX = sorted(((k.prefix, k.name) for k in KINDS.values() if k.prefix), key=lambda p: -len(p[0]))
# Fields whose ids carry no prefix.
_BY_FIELD = {"coupon": "coupon"}


def kind_of(object_id: str, field: str | None = None) -> str | None:
    for prefix, name in _BY_PREFIX:
        if object_id.startswith(prefix):
            return name
    return _BY_FIELD.get(field or "")


def new_id(prefix: str, length: int = 24) -> str:
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(length))


def _ref(field: str) -> Callable[[Object], Any]:
    """The id an object refers to through ``field`` (stored objects hold ids, not objects)."""
    return lambda obj: obj.get(field)


def _invoice_subscription(obj: Object) -> Any:
    if obj.get("object") == "invoice":
        return ((obj.get("parent") or {}).get("subscription_details") or {}).get("subscription")
    return obj.get("subscription")


# The filters lists and operations look objects up by; lists keep their own filter too,
# so an index only narrows what is read.
_OBJECT_INDEXES = {
    "customer": _ref("customer"), "subscription": _invoice_subscription, "invoice": _ref("invoice"),
    "payment_intent": _ref("payment_intent"), "charge": _ref("charge"),
}
_KIND_INDEXES: dict[str, dict[str, Callable[[Object], Any]]] = {
    "customer": {"email": _ref("email")},
    "price": {"lookup_key": _ref("lookup_key")},
    "promotion_code": {"code": lambda promo: promo["code"].lower()},
    "event": {"type": _ref("type"), "created": _ref("created")},
}

# Creation order is the table's own: lists are newest first.
TABLES = [Table(name, {**_OBJECT_INDEXES, **_KIND_INDEXES.get(name, {})}) for name in KINDS] + [
    # What a Checkout Session keeps out of its API shape, by session id: line items
    # (only answered through expand[] or /line_items), subscription_data, and the
    # PaymentIntent that failed attempts on the payment page share.
    Table("sessions"),
    Table("pending_invoice_items"),                                  # by subscription id
    Table("idempotency", {"created": _ref("created")}),              # by key
    # Webhook deliveries by id; ``due_at`` is when a pending one is next attempted.
    Table("deliveries", {"event": _ref("event"), "type": _ref("type"), "status": _ref("status"),
                         "due_at": lambda d: d["next_attempt_at"] if d["status"] == "pending" else None}),
]


def initial_state() -> Document:
    return {
        "schema": 2,
        **{table.name: {} for table in TABLES},
        "next_delivery": 1,
        "card_salt": secrets.token_hex(16),
    }


@dataclass(frozen=True)
class RequestInfo:
    """The API request an event was caused by (``event.request``)."""

    id: str | None = None
    idempotency_key: str | None = None


class Ledger:
    def __init__(self, state: Transaction, now: Callable[[], float], request: RequestInfo | None = None,
                 endpoint_for: Callable[[str], str | None] | None = None):
        self.state = state
        self._now = now
        self.request = request or RequestInfo()
        # The webhook URL that wants an event of this type, or None.
        self.endpoint_for = endpoint_for or (lambda _type: None)
        self.new_events: list[Object] = []
        # Where this stand-in's own pages are reached (hosted invoices, the customer portal).
        self.public_url = ""

    def now(self) -> int:
        return int(self._now())

    # -- storage ---------------------------------------------------------------

    def add(self, obj: Object) -> Object:
        self.state[obj["object"]][obj["id"]] = obj
        return obj

    def find(self, kind: str, object_id: str | None) -> Object | None:
        """The stored object, to change in place: the change is saved with the transaction."""
        if not object_id:
            return None
        return self.state[kind].get(object_id)

    def replace(self, obj: Object) -> None:
        self.state[obj["object"]][obj["id"]] = obj

    def get(self, kind: str, object_id: str, param: str | None = "id") -> Object:
        obj = self.find(kind, object_id)
        if obj is None:
            raise no_such(KINDS[kind].label, object_id, param)
        return obj

    def newest_first(self, kind: str, **indexed: str | None) -> Iterator[Object]:
        """Objects of a kind, newest first, read lazily; ``indexed`` filters (``customer=``)
        that are None are ignored."""
        return self.state[kind].newest_first(**{k: v for k, v in indexed.items() if v is not None})

    def remove(self, kind: str, object_id: str) -> None:
        self.state[kind].pop(object_id, None)

    # -- lists -------------------------------------------------------------------

    def page(self, kind: str, matching: Iterable[Object], params: Params, url: str | None = None) -> Object:
        """One page of a Stripe list, newest first, with limit/starting_after/ending_before."""
        limit = params.integer("limit", minimum=1, maximum=100)
        limit = 10 if limit is None else limit
        after = params.text("starting_after")
        before = params.text("ending_before")
        if after and before:
            raise invalid("You may only specify one of these parameters: ending_before, starting_after.")
        created_ok = _created_filter(params)
        # Read lazily: a page of 10 out of thousands reads a dozen objects.
        items = (item for item in matching if created_ok(item.get("created", 0)))
        cursor = after or before
        if cursor:
            preceding: deque[Object] = deque(maxlen=limit + 1)
            for item in items:
                if item["id"] == cursor:
                    break
                preceding.append(item)
            else:
                if self.find(kind, cursor) is None:
                    raise no_such(KINDS[kind].label, cursor, "starting_after" if after else "ending_before")
                return list_object([], url or KINDS[kind].url, False)
            if before:
                return list_object(list(preceding)[-limit:], url or KINDS[kind].url, len(preceding) > limit)
        chosen = list(islice(items, limit + 1))
        return list_object(chosen[:limit], url or KINDS[kind].url, len(chosen) > limit)

    # -- expansion ---------------------------------------------------------------

    def render(self, obj: Object, expand: list[str]) -> Object:
        """A copy for the answer, with ``expand[]`` paths (``subscription``,
        ``subscription.latest_invoice``, ``data.customer`` in lists) replaced by objects."""
        rendered = copy.deepcopy(obj)
        for path in expand:
            self._expand(rendered, path.split("."), path)
        return rendered

    def _expand(self, node: Any, path: list[str], whole: str) -> None:
        if isinstance(node, list):
            for item in node:
                self._expand(item, path, whole)
            return
        if not isinstance(node, dict):
            return
        head, rest = path[0], path[1:]
        includable = INCLUDABLE.get(node.get("object", ""), {})
        if head in includable and head not in node:
            node[head] = includable[head](self, node)
        if head not in node:
            raise invalid(f"This property cannot be expanded ({whole}).", "expand")
        value = node[head]
        if isinstance(value, list) and value and all(isinstance(item, str) for item in value):
            value = node[head] = [self._target(item, head, whole) for item in value]  # e.g. discounts
        elif isinstance(value, str):
            value = node[head] = self._target(value, head, whole)
        elif value is not None and not isinstance(value, (dict, list)):
            raise invalid(f"This property cannot be expanded ({whole}).", "expand")
        if rest and value is not None:
            self._expand(value, rest, whole)

    def _target(self, object_id: str, field: str, whole: str) -> Object:
        kind = kind_of(object_id, field)
        target = self.find(kind, object_id) if kind else None
        if target is None:
            raise invalid(f"This property cannot be expanded ({whole}).", "expand")
        return copy.deepcopy(target)

    # -- events --------------------------------------------------------------------

    def emit(self, event_type: str, obj: Object, previous: Object | None = None) -> Object:
        url = self.endpoint_for(event_type)
        data: Object = {"object": copy.deepcopy(obj)}
        if previous:
            data["previous_attributes"] = copy.deepcopy(previous)
        event = {
            "id": new_id("evt_"),
            "object": "event",
            "api_version": API_VERSION,
            "created": self.now(),
            "data": data,
            "livemode": False,
            "pending_webhooks": 1 if url else 0,
            "request": {"id": self.request.id, "idempotency_key": self.request.idempotency_key},
            "type": event_type,
        }
        schema.check(event, f"event {event_type}")
        schema.check(event["data"]["object"], f"event {event_type} data.object")
        self.add(event)
        if url:
            self.queue_delivery(event, url, manual=False)
        self.new_events.append(event)
        self._forget_old_events()
        return event

    def queue_delivery(self, event: Object, url: str, manual: bool) -> Object:
        number = self.state["next_delivery"]
        self.state["next_delivery"] = number + 1
        delivery = {
            "id": f"whdel_{number}", "event": event["id"], "type": event["type"], "url": url,
            "status": "pending", "attempts": [], "manual": manual,
            "created": self._now(), "next_attempt_at": None if manual else self._now(),
        }
        self.state["deliveries"][delivery["id"]] = delivery
        return delivery

    def _forget_old_events(self) -> None:
        """Stripe keeps events 30 days; the sandbox also keeps at most MAX_EVENTS."""
        events = self.state["event"]
        forgotten = events.trim(MAX_EVENTS) + events.delete_below("created", self.now() - EVENT_RETENTION_SECONDS)
        for event_id in forgotten:
            self.state["deliveries"].delete_where(event=event_id)


def _created_filter(params: Params) -> Callable[[int], bool]:
    """The ``created`` filter lists take: an exact time or ``created[gte]=...`` and friends."""
    if not params.has("created"):
        return lambda _created: True
    if not isinstance(params.tree["created"], dict):
        exact = params.integer("created")
        return lambda created: created == exact
    bounds = params.child("created")
    gt, gte, lt, lte = (bounds.integer(name) for name in ("gt", "gte", "lt", "lte"))
    return lambda created: ((gt is None or created > gt) and (gte is None or created >= gte)
                            and (lt is None or created < lt) and (lte is None or created <= lte))


def list_object(data: list[Object], url: str, has_more: bool = False) -> Object:
    return {"object": "list", "data": data, "has_more": has_more, "url": url}


def changed_attributes(before: Object, after: Object) -> Object:
    """``previous_attributes``: the old value of every top-level field that changed."""
    return {key: copy.deepcopy(before.get(key)) for key in after if before.get(key) != after.get(key)}


def _session_line_items(ledger: Ledger, session: Object) -> Object:
    items = (ledger.state["sessions"].get(session["id"]) or {}).get("line_items", [])
    return list_object(copy.deepcopy(items), f"/v1/checkout/sessions/{session['id']}/line_items")


def _invoice_payments(ledger: Ledger, invoice: Object) -> Object:
    payments = list(ledger.newest_first("invoice_payment", invoice=invoice["id"]))
    return list_object(copy.deepcopy(payments), f"/v1/invoice_payments?invoice={invoice['id']}")


# Fields Stripe leaves out unless asked for with expand[].
INCLUDABLE: dict[str, dict[str, Callable[[Ledger, Object], Any]]] = {
    "checkout.session": {"line_items": _session_line_items},
    "invoice": {"payments": _invoice_payments},
}


# Runs its work on a Ledger in one state transaction (``work`` is called with the ledger);
# the app builds it, and the API, the payment page and the control routes share it.
Transaction = Callable[[RequestInfo | None, Callable[["Ledger"], Any]], Any]
