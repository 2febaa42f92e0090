"""`mpanel demo`: the seed's "Local Testing" checklist, run against the running system.

As a new user would: a checkout intent with the seed's JSON, the hosted Stripe
checkout page paid with 4242..., the signed webhook, provisioning, and the welcome
email in the SMTP server. Prints a timeline; exits non-zero if any step did not happen.
"""
from __future__ import annotations

import mailbox
import re
import secrets
import sys
import time
from email import message_from_bytes, policy

import requests

from app import db
from app.settings import Settings


def seed_checkout(token: str) -> dict:
    """The seed's curl payload, with the domain and email made unique for this run."""
    return {
        "planSlug": "shared_student", "billingCycle": "monthly", "domain": f"test-site-{token}.com",
        "domainMode": "external",
        "customer": {"email": f"test-{token}@example.com", "firstName": "Test", "lastName": "Customer"},
        "account": {"password": "TestPassword123!"},
    }


class Timeline:
    def __init__(self):
        self.started = time.perf_counter()
        self.failed = False

    def step(self, what: str, ok: bool = True, detail: str = "") -> bool:
        mark = "ok  " if ok else "FAIL"
        print(f"{time.perf_counter() - self.started:7.2f}s  {mark} {what}{('  ' + detail) if detail else ''}",
              flush=True)
        self.failed |= not ok
        return ok


def _poll(predicate, deadline: float, every: float = 0.2):
    give_up = time.monotonic() + deadline
    while time.monotonic() < give_up:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    return None


def run(deadline: float = 120.0) -> int:
    settings = Settings.from_env()
    timeline = Timeline()
    http = requests.Session()
    token = secrets.token_hex(3)
    payload = seed_checkout(token)
    email = payload["customer"]["email"]
    print(f"mpanel demo against {settings.APP_URL} (domain {payload['domain']}, email {email})\n")

    try:
        r = http.post(f"{settings.APP_URL}/api/marketing/checkout-intent", json=payload,
                      headers={"X-API-Key": settings.MARKETING_API_KEY}, timeout=30)
    except requests.ConnectionError:
        timeline.step("checkout intent", False, f"nothing answers at {settings.APP_URL}: start it with `make run`")
        return 1
    if not timeline.step("POST /api/marketing/checkout-intent", r.status_code == 201, f"HTTP {r.status_code}"):
        print(r.text)
        return 1
    created = r.json()
    sid, checkout_url = created["subscriptionId"], created["checkoutUrl"]

    with db.transaction(settings.DATABASE_URL) as conn:  # the seed's step 4: check the database
        row = conn.execute("SELECT id, status FROM subscriptions WHERE id = %s", (sid,)).fetchone()
    timeline.step("subscription row written", row is not None and row["status"] == "pending_payment",
                  f"id {sid}, status {row and row['status']}")

    page = http.get(checkout_url, timeout=30)
    timeline.step("Stripe hosted checkout page", page.status_code == 200, checkout_url)
    action = re.search(r'<form[^>]*action="([^"]+)"', page.text)
    target = requests.compat.urljoin(checkout_url, action.group(1)) if action else checkout_url
    paid = http.post(target, data={"email": email, "cardnumber": "4242 4242 4242 4242", "exp": "12 / 34",
                                   "cvc": "123", "name": "Test Customer", "action": "pay"}, timeout=30)
    timeline.step("paid with 4242 4242 4242 4242", paid.ok and "session_id=" in paid.url, f"landed on {paid.url}")

    def webhook_received():
        with db.transaction(settings.DATABASE_URL) as conn:
            return conn.execute("SELECT processed_at FROM stripe_events WHERE type = 'checkout.session.completed' "
                                "AND payload->'data'->'object'->>'id' = %s AND processed_at IS NOT NULL",
                                (created["checkoutSessionId"],)).fetchone()
    timeline.step("signed webhook checkout.session.completed received and processed",
                  bool(_poll(webhook_received, 30)))

    seen: set[str] = set()

    def provisioned():
        status = http.get(f"{settings.APP_URL}/api/marketing/subscriptions/{sid}/status",
                          headers={"X-API-Key": settings.MARKETING_API_KEY}, timeout=10).json()
        for step in status["steps"]:
            if step["status"] == "done" and step["resource"] not in seen:
                seen.add(step["resource"])
                timeline.step(f"  provisioned {step['resource']}", True, f"{step['op']} in {step['durationMs']} ms")
        return status if status["provisioningStatus"] in ("ready", "failed") else None
    final = _poll(provisioned, deadline, every=0.25)
    timeline.step("hosting account ready", bool(final) and final["provisioningStatus"] == "ready",
                  (final or {}).get("error") or "")

    def welcome():
        for message in mailbox.Maildir(settings.SMTP_MAILDIR, create=True):
            if email in (message.get("To") or ""):
                return message_from_bytes(message.as_bytes(), policy=policy.default)
        return None
    message = _poll(welcome, 60)
    timeline.step("welcome email in the SMTP server", message is not None,
                  f"\"{message['Subject']}\" in {settings.SMTP_MAILDIR}" if message else "")
    print(f"\n{'all steps happened' if not timeline.failed else 'some steps did not happen'}"
          f" in {time.perf_counter() - timeline.started:.1f} s")
    return 1 if timeline.failed else 0


if __name__ == "__main__":
    sys.exit(run())
