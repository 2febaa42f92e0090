"""Signed, asynchronous, retried delivery of events to one webhook endpoint.

As Stripe does: the body is the event as pretty-printed JSON, signed in the
``Stripe-Signature`` header (``t=<unix>,v1=<hex hmac_sha256(secret, "t.body")>``,
plus a ``v0`` made with another key, as test mode sends, which verifiers must
ignore); only a 2xx answer counts (redirects are not followed); anything else is
retried with exponential backoff. Deliveries live in the state, so a restart
resumes them, and ``/_sandbox/deliveries`` shows every attempt.

Deliveries run concurrently on a small pool of threads, outside any state
transaction (the receiving application may call the API back while it handles an
event). Like Stripe, the sandbox promises no order between events and delivers at
least once: an endpoint must cope with a ``customer.subscription.updated`` arriving
before the ``checkout.session.completed`` that preceded it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

import requests

from ..common.state import StateStore
from .objects import Ledger

log = logging.getLogger("sandbox.stripe.webhooks")

USER_AGENT = "Stripe/1.0 (+https://stripe.com/docs/webhooks)"
# Test-mode payloads carry a v0 signature made with a key nobody has.
_V0_KEY = "whsec_sandbox_v0_is_not_your_secret"


def sign(payload: str, secret: str, timestamp: int) -> str:
    return hmac.new(secret.encode("utf-8"), f"{timestamp}.{payload}".encode("utf-8"), hashlib.sha256).hexdigest()


def signature_header(payload: str, secret: str, timestamp: int) -> str:
    return f"t={timestamp},v1={sign(payload, secret, timestamp)},v0={sign(payload, _V0_KEY, timestamp)}"


def event_payload(event: dict[str, Any]) -> str:
    return json.dumps(event, indent=2, ensure_ascii=False)


@dataclass
class WebhookSettings:
    url: str | None
    secret: str | None
    attempts: int = 6
    retry_base: float = 0.5      # seconds before the 2nd attempt; doubles each time
    timeout: float = 10.0
    events: tuple[str, ...] = ("*",)

    def wants(self, event_type: str) -> bool:
        return any(p == "*" or p == event_type or (p.endswith(".*") and event_type.startswith(p[:-1]))
                   for p in self.events)


class WebhookSender:
    def __init__(self, store: StateStore, settings: WebhookSettings,
                 now: Callable[[], float] = time.time, http: requests.Session | None = None,
                 workers: int = 8):
        self.store = store
        self.settings = settings
        self._configured_url = settings.url
        self.now = now
        self.http = http or requests.Session()
        self.paused = False
        self.workers = max(1, workers)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        # Deliveries handed to a worker and not yet recorded: the dispatcher skips them.
        self._in_flight: set[str] = set()
        self._in_flight_lock = threading.Lock()
        self._jobs: queue.SimpleQueue[str | None] = queue.SimpleQueue()

    # -- configuration ----------------------------------------------------------

    def endpoint_for(self, event_type: str) -> str | None:
        """Where an event of this type goes, decided when the event is created."""
        if self.settings.url and self.settings.wants(event_type):
            return self.settings.url
        return None

    def configure(self, paused: bool | None = None, url: str | None | object = ...) -> dict[str, Any]:
        if paused is not None:
            self.paused = paused
        if url is not ...:
            self.settings.url = url or None  # type: ignore[assignment]
        self.wake()
        return self.describe()

    def discard_pending(self) -> int:
        """Drop what is waiting (tests that deliver by hand after a pause)."""
        with self.store.change() as state:
            pending = state["deliveries"].where(status="pending")
            for delivery in pending:
                delivery["status"], delivery["next_attempt_at"] = "discarded", None
        return len(pending)

    def restore_defaults(self) -> None:
        self.paused = False
        self.settings.url = self._configured_url

    def describe(self) -> dict[str, Any]:
        return {"url": self.settings.url, "paused": self.paused, "attempts": self.settings.attempts,
                "retry_base": self.settings.retry_base, "events": list(self.settings.events),
                "signing": bool(self.settings.secret)}

    # -- the dispatcher and its workers -------------------------------------------------

    def start(self) -> None:
        if self._threads:
            return
        self._threads = [threading.Thread(target=self._dispatch, name="stripe-webhooks", daemon=True)]
        self._threads += [threading.Thread(target=self._work, name=f"stripe-webhooks-{n}", daemon=True)
                          for n in range(self.workers)]
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        for _ in range(self.workers):
            self._jobs.put(None)
        deadline = time.monotonic() + self.settings.timeout + 1
        for thread in self._threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        self._threads = []

    def wake(self) -> None:
        self._wake.set()

    def _dispatch(self) -> None:
        """Hand due deliveries to idle workers; sleep until the next one is due."""
        while not self._stop.is_set():
            self._wake.clear()
            wait = None
            if not self.paused:
                for delivery_id in self._claim_due():
                    self._jobs.put(delivery_id)
                wait = self._until_next()
            self._wake.wait(timeout=wait)

    def _work(self) -> None:
        while True:
            delivery_id = self._jobs.get()
            if delivery_id is None or self._stop.is_set():
                return
            try:
                self._deliver(delivery_id)
            except Exception:  # noqa: BLE001 - a worker must outlive one bad delivery
                log.exception("delivery %s failed inside the sandbox", delivery_id)
            finally:
                with self._in_flight_lock:
                    self._in_flight.discard(delivery_id)
                self.wake()

    def _claim_due(self) -> list[str]:
        """The oldest due deliveries, as many as there are idle workers."""
        with self._in_flight_lock:
            idle = self.workers - len(self._in_flight)
            if idle <= 0:
                return []
            now = self.now()
            with self.store.view() as state:
                queued = state["deliveries"].lowest("due_at", idle + len(self._in_flight))
            claimed = [d["id"] for d in queued if d["id"] not in self._in_flight and d["next_attempt_at"] <= now][:idle]
            self._in_flight.update(claimed)
            return claimed

    def _until_next(self) -> float | None:
        """Seconds until the next delivery not in flight is due (None: nothing waits)."""
        with self._in_flight_lock:
            if len(self._in_flight) >= self.workers:
                return None  # a worker finishing wakes the dispatcher
            with self.store.view() as state:
                queued = state["deliveries"].lowest("due_at", len(self._in_flight) + 1)
            waiting = [d["next_attempt_at"] for d in queued if d["id"] not in self._in_flight]
        return None if not waiting else max(0.0, waiting[0] - self.now())

    def resend(self, event_id: str) -> dict[str, Any] | None:
        """One immediate attempt, whatever the pause says (the Dashboard's Resend)."""
        url = self.settings.url
        if not url:
            raise ValueError("no webhook URL is configured")
        with self.store.change() as state:
            ledger = Ledger(state, self.now)
            event = ledger.find("event", event_id)
            if event is None:
                return None
            delivery_id = ledger.queue_delivery(event, url, manual=True)["id"]
        return self._deliver(delivery_id)

    def _deliver(self, delivery_id: str) -> dict[str, Any] | None:
        with self.store.view() as state:
            delivery = state["deliveries"].get(delivery_id)
            event = None if delivery is None else Ledger(state, self.now).find("event", delivery["event"])
        if delivery is None:
            return None
        if event is None:
            return self._record(delivery, {"at": self.now(), "status": None, "error": "event is gone"}, final=True)
        url = self.settings.url or delivery["url"]
        payload = event_payload(event)
        timestamp = int(self.now())
        headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": USER_AGENT,
                   "Cache-Control": "no-cache", "Accept": "*/*; q=0.5, application/xml"}
        if self.settings.secret:
            headers["Stripe-Signature"] = signature_header(payload, self.settings.secret, timestamp)
        started = time.monotonic()
        attempt: dict[str, Any] = {"at": self.now(), "url": url, "status": None, "error": None}
        try:
            response = self.http.post(url, data=payload.encode("utf-8"), headers=headers,
                                      timeout=self.settings.timeout, allow_redirects=False)
            attempt["status"] = response.status_code
            attempt["response"] = response.text[:500]
        except requests.RequestException as exc:
            attempt["error"] = f"{type(exc).__name__}: {exc}"
        attempt["ms"] = round((time.monotonic() - started) * 1000, 1)
        ok = attempt["status"] is not None and 200 <= attempt["status"] < 300
        log.info("event %s (%s) -> %s: %s", event["id"], event["type"], url,
                 attempt["status"] if attempt["status"] is not None else attempt["error"])
        return self._record(delivery, attempt, final=ok or delivery["manual"])

    def _record(self, sent: dict[str, Any], attempt: dict[str, Any], final: bool) -> dict[str, Any] | None:
        with self.store.change() as state:
            delivery = state["deliveries"].get(sent["id"])
            if delivery is None or delivery["event"] != sent["event"]:
                return None  # wiped by a reset while the request was out
            delivery["attempts"].append(attempt)
            if delivery["status"] == "discarded":
                return dict(delivery)  # discarded while the request was out: stays so
            ok = attempt["status"] is not None and 200 <= attempt["status"] < 300
            if ok:
                delivery["status"], delivery["next_attempt_at"] = "delivered", None
            elif final or len(delivery["attempts"]) >= self.settings.attempts:
                delivery["status"], delivery["next_attempt_at"] = "failed", None
            else:
                backoff = self.settings.retry_base * 2 ** (len(delivery["attempts"]) - 1)
                delivery["next_attempt_at"] = self.now() + backoff
            ledger = Ledger(state, self.now)
            event = ledger.find("event", delivery["event"])
            if event is not None and not delivery["manual"] and delivery["status"] == "delivered":
                event["pending_webhooks"] = 0
            return dict(delivery)
