"""The Stripe side of `mpanel chaos`: real paid checkouts through the app and the Stripe
stand-in, then their real events redelivered as Stripe may: each 1-4 times, shuffled, late,
concurrently, retried when the answer is not a 2xx, beside forged and stale copies that the
webhook must refuse (app/web/webhooks.py: the signature over the raw body, 300 s tolerance).

Automatic delivery is paused while the events are collected and discarded once they are in
hand, so every delivery of them is one of ours and counted.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import random
import secrets
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import requests

from app.devtools.loopback import a_customer

from app.settings import Settings

FORGED_PREFIX = "evt_chaos_"  # every forged or stale event carries an id of its own, never recorded
STALE_AFTER = 300             # the webhook's tolerance


@dataclass
class Order:
    subscription_id: int
    session_id: str
    email: str
    domain: str
    mode: str
    paid: bool


@dataclass
class Delivery:
    kind: str            # genuine, forged (wrong secret), tampered (body changed after signing), stale
    event_id: str
    delay: float
    body: bytes = b""
    header: str = ""


@dataclass
class Deliveries:
    """What was sent and how the webhook answered."""
    by_kind: Counter = field(default_factory=Counter)
    answers: Counter = field(default_factory=Counter)       # (kind, status) -> count
    accepted_forgeries: list = field(default_factory=list)   # (kind, event id, status)
    undelivered: list = field(default_factory=list)          # genuine events never answered 2xx
    resent: int = 0                                           # genuine copies sent again after a non-2xx
    on_time: int = 0                                          # first sends within the window (their delay)
    late: int = 0                                             # first sends after it (senders all busy)


class Stripe:
    def __init__(self, settings: Settings, app_url: str):
        self.s = settings
        self.app_url = app_url.rstrip("/")
        self.base = settings.STRIPE_API_BASE.rstrip("/")
        self.http = requests.Session()

    def control(self, path: str, body: dict | None = None, method: str = "POST") -> dict:
        r = self.http.request(method, f"{self.base}/_sandbox/{path}", json=body, timeout=30)
        r.raise_for_status()
        return r.json()

    def pause(self) -> bool:
        """Pause automatic delivery; returns whether it was paused before."""
        before = self.control("webhooks", method="GET")["paused"]
        self.control("webhooks", {"paused": True})
        return before

    def checkout(self, rng: random.Random, marker: str, mode: str, tries: int = 8) -> Order:
        """A checkout intent with the seed's payload, as the marketing site sends it; retried
        on a 5xx (nothing is written then) as the marketing site would."""
        from app.devtools.demo import seed_checkout

        token = f"{marker}-{secrets.token_hex(3)}"
        payload = {**seed_checkout(token), "domainMode": mode}
        customer = a_customer()  # each from an address of its own, as real customers come
        for attempt in range(tries):
            r = customer.post(f"{self.app_url}/api/marketing/checkout-intent", json=payload, timeout=60,
                               headers={"X-API-Key": self.s.MARKETING_API_KEY})
            if r.status_code == 201:
                body = r.json()
                return Order(body["subscriptionId"], body["checkoutSessionId"], payload["customer"]["email"],
                             body["domain"], mode, paid=False)
            if r.status_code < 500:
                raise RuntimeError(f"checkout refused: HTTP {r.status_code} {r.text[:300]}")
            time.sleep(min(8, 2 ** attempt * 0.5))
        raise RuntimeError(f"checkout kept failing: HTTP {r.status_code} {r.text[:300]}")

    def pay(self, order: Order) -> None:
        r = self.http.post(f"{self.base}/_sandbox/checkout/{order.session_id}/pay",
                           json={"card": "4242424242424242"}, timeout=60)
        r.raise_for_status()
        order.paid = True

    def pending_events(self, since: float) -> list[str]:
        """The events waiting for delivery (webhooks paused) created since `since`."""
        found = self.control("deliveries?status=pending", method="GET")["deliveries"]
        return sorted({d["event"] for d in found if d["created"] >= since and not d.get("manual")})

    def take_over(self, since: float) -> list[str]:
        """The events Stripe holds for us, from here on delivered only by us."""
        events = self.pending_events(since)
        self.control("webhooks", {"paused": True, "discard_pending": True})
        return events

    def signed(self, event_id: str) -> tuple[bytes, str]:
        body = self.control(f"events/{event_id}/signed", method="GET")
        return body["payload"].encode(), body["headers"]["Stripe-Signature"]


def _sign(secret: str, body: bytes, timestamp: int) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def _counterfeit(body: bytes, new_id: str, decoy_session: str | None) -> bytes:
    """A copy of a real event under an id of its own; a checkout.session.completed is pointed
    at an unpaid decoy order's session, so that accepting it would show."""
    event = json.loads(body)
    event["id"] = new_id
    obj = (event.get("data") or {}).get("object") or {}
    if decoy_session and event.get("type") == "checkout.session.completed":
        obj["id"] = decoy_session
    return json.dumps(event, indent=2).encode()


def plan_deliveries(events: list[str], n: int, rng: random.Random, max_delay: float) -> list[Delivery]:
    """N deliveries: every genuine event 1-4 times, the rest forged, tampered or stale copies
    (about one in eight), shuffled, each sent after a random delay."""
    copies = {e: 1 for e in events}
    bad = max(3, n // 8)
    budget = max(0, n - len(events) - bad)
    room = [e for e in events for _ in range(3)]
    rng.shuffle(room)
    for e in room[:budget]:
        copies[e] += 1
    bad = max(bad, n - sum(copies.values()))
    plan = [Delivery("genuine", e, rng.uniform(0, max_delay)) for e, c in copies.items() for _ in range(c)]
    for i in range(bad):
        kind = ("forged", "tampered", "stale")[i % 3]
        plan.append(Delivery(kind, rng.choice(events), rng.uniform(0, max_delay)))
    rng.shuffle(plan)
    return plan


def deliver(stripe: Stripe, plan: list[Delivery], rng: random.Random, decoy_sessions: list[str],
            senders: int = 8, stop: threading.Event | None = None) -> Deliveries:
    """Send the plan concurrently; a genuine copy answered with anything but a 2xx is sent
    again (Stripe retries) until it is taken, for up to 10 minutes."""
    result = Deliveries()
    lock = threading.Lock()
    secret = stripe.s.STRIPE_WEBHOOK_SECRET
    url = f"{stripe.app_url}/api/webhooks/stripe"
    started = time.monotonic()

    def prepare(d: Delivery) -> tuple[bytes, str]:
        body, header = stripe.signed(d.event_id)
        if d.kind == "genuine":
            return body, header
        fake_id = f"{FORGED_PREFIX}{d.kind}_{secrets.token_hex(6)}"
        d.event_id = fake_id
        with lock:
            decoy = rng.choice(decoy_sessions) if decoy_sessions else None
        renamed = _counterfeit(body, fake_id, decoy)
        if d.kind == "forged":   # signed, but not with our secret
            return renamed, _sign("whsec_" + secrets.token_hex(16), renamed, int(time.time()))
        if d.kind == "tampered":  # Stripe's signature, over other bytes
            return renamed, header
        with lock:
            age = rng.randint(STALE_AFTER + 5, 86400)
        return renamed, _sign(secret, renamed, int(time.time()) - age)

    window = max((d.delay for d in plan), default=0.0) + 1.0

    def send(d: Delivery) -> None:
        time.sleep(max(0.0, d.delay - (time.monotonic() - started)))
        with lock:
            if time.monotonic() - started <= window:
                result.on_time += 1
            else:
                result.late += 1
        give_up = time.monotonic() + 600
        wait = 0.5
        while True:
            try:
                body, header = prepare(d) if d.kind == "genuine" or not d.body else (d.body, d.header)
                d.body, d.header = body, header
                r = requests.post(url, data=body, timeout=30,
                                  headers={"Content-Type": "application/json; charset=utf-8",
                                           "Stripe-Signature": header, "User-Agent": "Stripe/1.0 (mpanel chaos)"})
                status = r.status_code
            except requests.RequestException:
                status = 0
            with lock:
                result.answers[(d.kind, status)] += 1
                if d.kind != "genuine" and 200 <= status < 300:
                    result.accepted_forgeries.append((d.kind, d.event_id, status))
            if d.kind != "genuine" or 200 <= status < 300:
                return
            if d.kind == "genuine" and 400 <= status < 500:
                with lock:
                    result.undelivered.append((d.event_id, status))
                return
            if time.monotonic() > give_up or (stop is not None and stop.is_set()):
                with lock:
                    result.undelivered.append((d.event_id, status))
                return
            with lock:
                result.resent += 1
            time.sleep(wait)
            wait = min(wait * 2, 15)

    for d in plan:
        result.by_kind[d.kind] += 1
    with ThreadPoolExecutor(senders) as pool:
        # Handed out in the order they are due (each waits for its own moment), so that a few
        # late ones cannot hold every sender; the order of arrival is still random.
        list(pool.map(send, sorted(plan, key=lambda d: d.delay)))
    return result
