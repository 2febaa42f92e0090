"""The real application and worker, started as a new user would run them, over HTTP."""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import sys
import time

import pytest

from tests.integration.mail.outbox import Outbox
from tests.polling import wait_for  # noqa: F401  (the e2e tests import it from here)
import requests


class Mpanel:
    """What a client of the running system can do: the marketing site, Stripe, a mail reader."""

    def __init__(self, settings, layout):
        self.s = settings
        self.url = layout.app_url
        self.stripe = settings.STRIPE_API_BASE

    # marketing site
    def checkout(self, payload: dict, api_key: str | None = None) -> requests.Response:
        return requests.post(f"{self.url}/api/marketing/checkout-intent", json=payload, timeout=30,
                             headers={"X-API-Key": self.s.MARKETING_API_KEY if api_key is None else api_key})

    def status(self, subscription_id: int) -> dict:
        r = requests.get(f"{self.url}/api/marketing/subscriptions/{subscription_id}/status",
                         headers={"X-API-Key": self.s.MARKETING_API_KEY}, timeout=10)
        r.raise_for_status()
        return r.json()

    def wait_until(self, subscription_id: int, deadline: float = 120, **expected) -> dict:
        def matches():
            st = self.status(subscription_id)
            return st if all(st.get(k) == v for k, v in expected.items()) else None
        return wait_for(matches, deadline, f"subscription {subscription_id} to reach {expected}", every=0.25)

    # Stripe stand-in
    def pay(self, session_id: str, card: str = "4242 4242 4242 4242") -> requests.Response:
        return requests.post(f"{self.stripe}/_sandbox/checkout/{session_id}/pay", json={"card": card}, timeout=30)

    def paid_and_ready(self, **changes) -> tuple[dict, int]:
        """A checkout of the seed payload (with `changes`), paid, its site provisioned: (payload, subscription id)."""
        payload = seed_payload(**changes)
        body = self.checkout(payload).json()
        assert self.pay(body["checkoutSessionId"]).status_code == 200
        self.wait_until(body["subscriptionId"], provisioningStatus="ready")
        return payload, body["subscriptionId"]

    def stripe_control(self, path: str, body: dict | None = None) -> dict:
        r = requests.post(f"{self.stripe}/_sandbox/{path}", json=body or {}, timeout=30)
        r.raise_for_status()
        return r.json()

    def stripe_events(self, **params) -> list[dict]:
        r = requests.get(f"{self.stripe}/v1/events", params={"limit": 100, **params}, timeout=10,
                         headers={"Authorization": f"Bearer {self.s.STRIPE_SECRET_KEY}"})
        r.raise_for_status()
        return r.json()["data"]

    def webhook(self, event: dict | bytes, *, secret: str | None = None, timestamp: int | None = None,
                signature: str | None = None) -> requests.Response:
        """Deliver an event as Stripe does, signing it ourselves (api-contracts.md)."""
        body = event if isinstance(event, bytes) else json.dumps(event).encode()
        t = int(time.time()) if timestamp is None else timestamp
        mac = hmac.new((secret or self.s.STRIPE_WEBHOOK_SECRET).encode(), f"{t}.".encode() + body,
                       hashlib.sha256).hexdigest()
        header = signature if signature is not None else f"t={t},v1={mac}"
        return requests.post(f"{self.url}/api/webhooks/stripe", data=body, timeout=10,
                             headers={"Content-Type": "application/json", "Stripe-Signature": header})

    # mail
    def mails_to(self, recipient: str) -> list:
        """Messages the SMTP server received for `recipient`, parsed (text and HTML parts), oldest first."""
        return Outbox(self.s.SMTP_MAILDIR).to(recipient, within=True)


@pytest.fixture(scope="package")
def mpanel(settings, layout):
    """`mpanel serve` and `mpanel worker`, as `make run` starts them, for the e2e package
    (stopped after it, so later tests own the queue)."""
    children = [
        # The domain page's live delegation check asks the local PowerDNS (which serves every
        # zone we host, with our nameservers): it answers, so the page must say what it found.
        subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--port", str(layout.app_port)],
                         env={**os.environ, "DELEGATION_RESOLVER": f"127.0.0.1:{layout.port('dns')}"}),
        subprocess.Popen([sys.executable, "-m", "app.cli", "worker", "--concurrency", "2"]),
    ]
    client = Mpanel(settings, layout)
    # Generous: on a loaded machine a cold start (first .pyc compile, Flask and the engine's SDK
    # imported) has taken over 30 s; a quiet one answers in about 2 s.
    try:
        wait_until_answering(f"{client.url}/healthz", 180, "the app to answer")
        yield client
    finally:  # also when it never answered: no server or worker outlives the package
        for child in children:
            child.terminate()
        for child in children:
            child.wait(60)


@pytest.fixture(scope="package")
def browser_process():
    """One Chromium and one Playwright driver for the package, not one per module: a launch costs
    about 1.5 s of CPU and some 25 modules drive a browser (tests/e2e/panel_browser.py)."""
    from tests.e2e.panel_browser import launched_chromium

    yield from launched_chromium()


@pytest.fixture(scope="module")
def chromium(browser_process):
    """The package's one browser, for a module: the contexts its tests left open are closed after
    it, so a page still at work (a progress page polls) stops with it."""
    yield browser_process
    for context in list(browser_process.contexts):
        context.close()


@pytest.fixture(autouse=True)
def forget_login_guesses_from_here(settings):
    """Every e2e client is 127.0.0.1: each test starts with that address's login throttle
    counters forgotten, so one test's wrong passwords do not slow the next."""
    import psycopg

    with psycopg.connect(settings.DATABASE_URL, autocommit=True) as conn:
        conn.execute("DELETE FROM login_throttle WHERE key LIKE '%127.0.0.1'")


def csrf_of(page: str) -> str:
    """The CSRF token a panel page's forms carry."""
    import re

    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


@pytest.fixture
def paused_delivery(mpanel):
    """Stripe keeps its webhook deliveries until the test (or this fixture) lets them go."""
    mpanel.stripe_control("webhooks", {"paused": True})
    yield
    mpanel.stripe_control("webhooks", {"paused": False})


def wait_until_answering(url: str, deadline: float, what: str) -> None:
    """Polls `url` until it answers 200 (a server still starting refuses or errors)."""
    def up():
        try:
            return requests.get(url, timeout=1).status_code == 200
        except requests.RequestException:
            return False
    wait_for(up, deadline, what)


def seed_payload(**changes) -> dict:
    """The seed's curl example, made unique (the same payload `mpanel demo` sends)."""
    import secrets

    from app.devtools.demo import seed_checkout

    return {**seed_checkout(secrets.token_hex(4)), **changes}
