"""What the Stripe stand-in tests share: a real server, the official library, a
webhook receiver, and polling with a deadline (nothing here sleeps for time).

The fixtures built from these live in ``conftest.py``.
"""

from __future__ import annotations

import http.server
import json
import threading
import time
from pathlib import Path
from typing import Any, Callable

import requests
import stripe
from waitress import wasyncore
from waitress.server import create_server

from sandbox.stripe import create_app

KEY = "sk_test_mpanel_0123456789abcdef"
WEBHOOK_SECRET = "whsec_0123456789abcdef0123456789abcdef"
SUCCESS_URL = "https://shop.example/welcome?session_id={CHECKOUT_SESSION_ID}"
CANCEL_URL = "https://shop.example/plans"


def wait_for(predicate: Callable[[], Any], timeout: float = 5.0, what: str = "condition") -> Any:
    """Poll until ``predicate`` returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


class StripeStandIn:
    """The stand-in served by waitress on a free port, as ``python -m sandbox.stripe`` serves it."""

    def __init__(self, state_path: Path, **options: Any):
        self.app = create_app(state_path, KEY, **options)
        self.server = create_server(self.app, host="127.0.0.1", port=0, threads=8, asyncore_loop_timeout=0.05)
        self.url = f"http://127.0.0.1:{self.server.effective_port}"
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        self.client = stripe.StripeClient(KEY, base_addresses={"api": self.url}, max_network_retries=0)

    def stop(self) -> None:
        if not self.thread.is_alive():
            return
        self.app.extensions["sandbox.stripe.webhooks"].stop()
        # Close every socket from inside waitress's own loop (kept-alive connections
        # would keep it running); the loop ends when nothing is left to watch.
        self.server.trigger.pull_trigger(lambda: wasyncore.close_all(self.server._map))
        self.server.task_dispatcher.shutdown()
        self.thread.join(timeout=5)
        assert not self.thread.is_alive(), "waitress did not stop"
        self.app.extensions["sandbox.state"].close()

    # -- control API ---------------------------------------------------------------

    def control(self, method: str, path: str, body: dict | None = None, expect: int | None = 200) -> Any:
        response = requests.request(method, f"{self.url}/_sandbox{path}", json=body, timeout=10)
        if expect is not None:
            assert response.status_code == expect, response.text
        return response.json()

    def state(self) -> dict:
        return self.control("GET", "/state")["state"]

    def advance(self, subscription_id: str, outcome: str, **extra: Any) -> dict:
        return self.control("POST", f"/subscriptions/{subscription_id}/advance", {"outcome": outcome, **extra})

    def deliveries(self, **filters: str) -> list[dict]:
        query = "&".join(f"{k}={v}" for k, v in filters.items())
        return self.control("GET", f"/deliveries?{query}")["deliveries"]

    def event_types(self, since: str | None = None) -> list[str]:
        """Every event's type, oldest first (optionally only those after event ``since``)."""
        events = [e for e in self.client.v1.events.list(params={"limit": 100}).auto_paging_iter()]
        types, ids = [e.type for e in reversed(events)], [e.id for e in reversed(events)]
        return types[ids.index(since) + 1:] if since else types

    def last_event_id(self) -> str | None:
        page = self.client.v1.events.list(params={"limit": 1}).data
        return page[0].id if page else None

    # -- the catalog and a checkout ------------------------------------------------

    def plan(self, amount: int = 500, interval: str = "month", name: str = "Shared Student",
             lookup_key: str | None = None) -> Any:
        product = self.client.v1.products.create(params={"name": name})
        params: dict[str, Any] = {"product": product.id, "currency": "usd", "unit_amount": amount,
                                  "recurring": {"interval": interval}}
        if lookup_key:
            params["lookup_key"] = lookup_key
        return self.client.v1.prices.create(params=params)

    def checkout(self, price_id: str, **extra: Any) -> Any:
        params: dict[str, Any] = {
            "mode": "subscription", "line_items": [{"price": price_id, "quantity": 1}],
            "success_url": SUCCESS_URL, "cancel_url": CANCEL_URL,
            "customer_email": "owner@shop.example", "client_reference_id": "order-7",
            "metadata": {"subscription_id": "7"}, "subscription_data": {"metadata": {"subscription_id": "7"}},
        }
        params.update(extra)
        params = {k: v for k, v in params.items() if v is not None}
        return self.client.v1.checkout.sessions.create(params=params)

    def pay_on_page(self, session: Any, card: str = "4242 4242 4242 4242", exp: str = "12 / 34",
                    cvc: str = "123", **fields: str) -> requests.Response:
        form = {"email": "owner@shop.example", "cardnumber": card, "exp": exp, "cvc": cvc, "name": "Ada Owner",
                **fields}
        return requests.post(session.url, data=form, allow_redirects=False, timeout=10)

    def subscribe(self, amount: int = 500, interval: str = "month", **extra: Any) -> tuple[Any, Any]:
        """A paid checkout: (session with subscription expanded, subscription)."""
        price = self.plan(amount, interval)
        session = self.checkout(price.id, **extra)
        response = self.pay_on_page(session)
        assert response.status_code == 303, response.text
        session = self.client.v1.checkout.sessions.retrieve(session.id, params={"expand": ["subscription"]})
        return session, session.subscription


class WebhookReceiver:
    """An HTTP endpoint that records raw deliveries and answers the statuses it is told.

    ``hold`` makes it a slow application: each request is answered that many seconds
    after it arrived; ``most_at_once`` is the most requests it has held at one time.
    """

    def __init__(self):
        self.received: list[dict[str, Any]] = []
        self.statuses: list[int] = []
        self.hold = 0.0
        self.in_flight = self.most_at_once = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver.lock:
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                    receiver.in_flight += 1
                    receiver.most_at_once = max(receiver.most_at_once, receiver.in_flight)
                time.sleep(receiver.hold)  # the application at work, not the test waiting
                with receiver.lock:
                    receiver.in_flight -= 1
                    receiver.received.append({"headers": dict(self.headers), "body": body, "status": status})
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/webhooks/stripe"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def events(self) -> list[dict]:
        with self.lock:
            return [json.loads(item["body"]) for item in self.received]

    def types(self) -> list[str]:
        return [event["type"] for event in self.events()]

    def wait_for_type(self, event_type: str, count: int = 1) -> list[dict]:
        def found() -> list[dict] | None:
            matches = [e for e in self.events() if e["type"] == event_type]
            return matches if len(matches) >= count else None
        return wait_for(found, what=f"{count} × {event_type}")
