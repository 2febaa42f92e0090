"""The Stripe account's objects inside one transaction: storage, lists, expansion, events.

Objects are kept in the JSON state exactly in the shape the API answers, so reading
one back is a copy and an event's snapshot is the object as it was when it happened.
Everything here works on the working copy that ``JsonStateStore.change()`` yields:
an operation that fails halfway leaves neither objects nor events behind.
"""

from __future__ import annotations

import copy
import json
import secrets
import string
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator

from ..common.state import Document
from .params import Params, invalid, no_such

API_VERSION = "2025-03-31.basil"
EVENT_RETENTION_SECONDS = 30 * 24 * 3600  # Stripe keeps events for 30 days
MAX_EVENTS = 5000
# Kinds stored as JSON text rather than nested objects: events never change (but
# for pending_webhooks) and are most of the state, and every transaction copies the
# whole document, which costs nothing for a string.
SEALED = frozenset({"event"})
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


def initial_state() -> Document:
    return {
        "schema": 1,
        "objects": {name: {} for name in KINDS},
        # Creation order per kind: lists are newest first and the state file is
        # written with sorted keys, so dict order cannot be trusted after a restart.
        "order": {name: [] for name in KINDS},
        # What a Checkout Session keeps out of its API shape: line items (only
        # answered through expand[] or /line_items), subscription_data, and the
        # PaymentIntent that failed attempts on the payment page share.
        "sessions": {},
        "pending_invoice_items": {},
        "idempotency": {},
        "deliveries": [],
        "next_delivery": 1,
        "card_salt": secrets.token_hex(16),
    }


@dataclass(frozen=True)
class RequestInfo:
    """The API request an event was caused by (``event.request``)."""

    id: str | None = None
    idempotency_key: str | None = None


class Ledger:
    def __init__(self, state: Document, now: Callable[[], float], request: RequestInfo | None = None,
                 endpoint_for: Callable[[str], str | None] | None = None):
        self.state = state
        self._now = now
        self.request = request or RequestInfo()
        # The webhook URL that wants an event of this type, or None.
        self.endpoint_for = endpoint_for or (lambda _type: None)
        self.new_events: list[Object] = []

    def now(self) -> int:
        return int(self._now())

    # -- storage ---------------------------------------------------------------

    def add(self, obj: Object) -> Object:
        kind = obj["object"]
        self.state["objects"][kind][obj["id"]] = _seal(obj) if kind in SEALED else obj
        self.state["order"][kind].append(obj["id"])
        return obj

    def find(self, kind: str, object_id: str | None) -> Object | None:
        """The stored object, to change in place (a fresh copy for sealed kinds: use ``replace``)."""
        if not object_id:
            return None
        found = self.state["objects"][kind].get(object_id)
        return json.loads(found) if kind in SEALED and found is not None else found

    def replace(self, obj: Object) -> None:
        kind = obj["object"]
        self.state["objects"][kind][obj["id"]] = _seal(obj) if kind in SEALED else obj

    def get(self, kind: str, object_id: str, param: str | None = "id") -> Object:
        obj = self.find(kind, object_id)
        if obj is None:
            raise no_such(KINDS[kind].label, object_id, param)
        return obj

    def newest_first(self, kind: str) -> Iterator[Object]:
        objects = self.state["objects"][kind]
        for object_id in reversed(self.state["order"][kind]):
            if object_id in objects:
                yield json.loads(objects[object_id]) if kind in SEALED else objects[object_id]

    def remove(self, kind: str, object_id: str) -> None:
        self.state["objects"][kind].pop(object_id, None)
        self.state["order"][kind] = [i for i in self.state["order"][kind] if i != object_id]

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
        items = [item for item in matching if created_ok(item.get("created", 0))]
        ids = [item["id"] for item in items]
        if after:
            if after not in ids and self.find(kind, after) is None:
                raise no_such(KINDS[kind].label, after, "starting_after")
            items = items[ids.index(after) + 1:] if after in ids else []
            chosen, has_more = items[:limit], len(items) > limit
        elif before:
            if before not in ids and self.find(kind, before) is None:
                raise no_such(KINDS[kind].label, before, "ending_before")
            items = items[:ids.index(before)] if before in ids else []
            chosen, has_more = items[-limit:], len(items) > limit
        else:
            chosen, has_more = items[:limit], len(items) > limit
        return list_object(chosen, url or KINDS[kind].url, has_more)

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
        self.state["deliveries"].append(delivery)
        return delivery

    def _forget_old_events(self) -> None:
        """Stripe keeps events 30 days; the sandbox also keeps at most MAX_EVENTS."""
        horizon = self.now() - EVENT_RETENTION_SECONDS
        order = self.state["order"]["event"]
        events = self.state["objects"]["event"]
        forgotten = False
        while order and (len(order) > MAX_EVENTS or order[0] not in events
                         or json.loads(events[order[0]])["created"] < horizon):
            events.pop(order.pop(0), None)
            forgotten = True
        if forgotten:
            kept = set(order)
            self.state["deliveries"] = [d for d in self.state["deliveries"] if d["event"] in kept]


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


def _seal(obj: Object) -> str:
    return json.dumps(obj, separators=(",", ":"))


def list_object(data: list[Object], url: str, has_more: bool = False) -> Object:
    return {"object": "list", "data": data, "has_more": has_more, "url": url}


def changed_attributes(before: Object, after: Object) -> Object:
    """``previous_attributes``: the old value of every top-level field that changed."""
    return {key: copy.deepcopy(before.get(key)) for key in after if before.get(key) != after.get(key)}


def _session_line_items(ledger: Ledger, session: Object) -> Object:
    items = ledger.state["sessions"].get(session["id"], {}).get("line_items", [])
    return list_object(copy.deepcopy(items), f"/v1/checkout/sessions/{session['id']}/line_items")


def _invoice_payments(ledger: Ledger, invoice: Object) -> Object:
    payments = [p for p in ledger.newest_first("invoice_payment") if p["invoice"] == invoice["id"]]
    return list_object(copy.deepcopy(payments), f"/v1/invoice_payments?invoice={invoice['id']}")


# Fields Stripe leaves out unless asked for with expand[].
INCLUDABLE: dict[str, dict[str, Callable[[Ledger, Object], Any]]] = {
    "checkout.session": {"line_items": _session_line_items},
    "invoice": {"payments": _invoice_payments},
}


# Runs its work on a Ledger in one state transaction (``work`` is called with the ledger);
# the app builds it, and the API, the payment page and the control routes share it.
Transaction = Callable[[RequestInfo | None, Callable[["Ledger"], Any]], Any]
