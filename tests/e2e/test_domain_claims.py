"""Proof of control over HTTP (issue 23 item 2): the panel's "Check now" turns the live state to
proven once `_mpanel-verify.<domain>` carries the order's token, and the real owner of a domain
held by an unverified order claims it by the same TXT proof: the holding order is flagged for the
operators (once), its hold released, nothing of it destroyed.

The public resolver is the test's own DNS stand-in, so the app under test is one of the test's
own (the same application, served over HTTP on a port of its own) with DELEGATION_RESOLVER
pointing at it; the orders are unpaid, so no stack is built."""
from __future__ import annotations

import threading
from contextlib import closing
from dataclasses import replace

import psycopg
import pytest
import requests
from werkzeug.serving import make_server

from tests.dns_stand_in import PublicDns
from tests.e2e.conftest import csrf_of, seed_payload
from tests.e2e.panel_browser import logged_in_page, logged_in_session, screenshot


class App:
    def __init__(self, settings, url):
        self.s, self.url = settings, url

    def post(self, path: str, body: dict | None = None) -> requests.Response:
        return requests.post(f"{self.url}/api/marketing{path}", json=body or {}, timeout=30,
                             headers={"X-API-Key": self.s.MARKETING_API_KEY})

    def checkout(self, payload: dict) -> requests.Response:
        return self.post("/checkout-intent", payload)


@pytest.fixture
def public_dns():
    with closing(PublicDns()) as server:
        yield server


@pytest.fixture
def app(settings, public_dns):
    from app import create_app

    checking = replace(settings, DELEGATION_RESOLVER=public_dns.address)
    server = make_server("127.0.0.1", 0, create_app(checking, open_queue=False), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield App(checking, f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()


@pytest.fixture
def orders(settings):
    """Subscriptions the test placed, let go at the end (abandoned, their domains released)."""
    placed: list[int] = []
    yield placed
    with psycopg.connect(settings.DATABASE_URL, autocommit=True) as conn:
        conn.execute("UPDATE subscriptions SET status = 'abandoned' WHERE id = ANY(%s)", (placed,))
        conn.execute("UPDATE domains SET status = 'released' WHERE subscription_id = ANY(%s)", (placed,))


def _row(settings, sql: str, *params):
    with psycopg.connect(settings.DATABASE_URL) as conn:
        conn.row_factory = psycopg.rows.dict_row
        return conn.execute(sql, params).fetchone()


def test_check_now_in_the_panel_shows_the_domain_proven_once_the_txt_is_published(app, settings, public_dns,
                                                                                  orders):
    payload = seed_payload(domainMode="external")
    created = app.checkout(payload)
    assert created.status_code == 201, created.text
    sid, domain = created.json()["subscriptionId"], payload["domain"]
    orders.append(sid)
    token = _row(settings, "SELECT control_token FROM domains WHERE subscription_id = %s", sid)["control_token"]

    browser, _ = logged_in_session(app, payload["customer"]["email"], payload["account"]["password"])
    home = browser.get(f"{app.url}/dashboard", timeout=10).text
    assert "Proof of control" in home and f"_mpanel-verify.{domain}" in home
    page = browser.get(f"{app.url}/sites/{sid}/domain", timeout=10).text
    assert "waiting" in page and f"_mpanel-verify.{domain}" in page and token in page and "Check now" in page

    def check_now() -> str:
        form = browser.get(f"{app.url}/sites/{sid}/domain", timeout=10).text
        answer = browser.post(f"{app.url}/sites/{sid}/domain/check-control", data={"csrf": csrf_of(form)},
                              timeout=30)
        assert answer.status_code == 200, answer.text
        return answer.text

    before = check_now()
    assert "No proof of control found yet" in before and f"no TXT at _mpanel-verify.{domain}" in before
    assert "proven (" not in before

    public_dns.txt[f"_mpanel-verify.{domain}"] = token
    after = check_now()
    assert "Proof of control found" in after and "proven (txt)" in after and "Check now" not in after
    assert _row(settings, "SELECT control_proven_by FROM domains WHERE subscription_id = %s",
                sid)["control_proven_by"] == "txt"
    assert "Proof of control" not in browser.get(f"{app.url}/dashboard", timeout=10).text


def test_the_real_owner_claims_a_domain_held_by_an_unverified_order(app, settings, public_dns, orders):
    held = seed_payload(domainMode="external")
    domain = held["domain"]
    first = app.checkout(held)
    assert first.status_code == 201, first.text
    holder = first.json()["subscriptionId"]
    orders.append(holder)

    owner = seed_payload(domain=domain, domainMode="external")
    refused = app.checkout(owner)
    assert refused.status_code == 409, refused.text

    assert app.post("/domain-claims", {"domain": "not a domain"}).status_code == 422
    assert app.post("/domain-claims", {"domain": seed_payload()["domain"]}).json()["error"] == "not_held"
    started = app.post("/domain-claims", {"domain": domain.upper()})
    assert started.status_code == 201, started.text
    claim = started.json()
    holder_token = _row(settings, "SELECT control_token FROM domains WHERE subscription_id = %s",
                        holder)["control_token"]
    assert claim["domain"] == domain and claim["record"] == f"_mpanel-verify.{domain}"
    assert claim["status"] == "waiting" and claim["token"] != holder_token

    waiting = app.post(f"/domain-claims/{claim['claimId']}/check")
    assert waiting.status_code == 200 and waiting.json()["status"] == "waiting"
    assert f"no TXT at _mpanel-verify.{domain}" in waiting.json()["found"]
    assert app.post("/domain-claims/999999999/check").status_code == 404

    public_dns.txt[claim["record"]] = claim["token"]
    for _ in range(2):  # checked twice: flagged and told once
        done = app.post(f"/domain-claims/{claim['claimId']}/check")
        assert done.status_code == 200 and done.json()["status"] == "claimed", done.text

    row = _row(settings, "SELECT d.status, d.control_claimed_at, d.control_proven_at, s.status AS order_status, "
                         "s.needs_attention_since, s.provisioning_error FROM domains d "
                         "JOIN subscriptions s ON s.id = d.subscription_id WHERE s.id = %s", holder)
    assert row["control_claimed_at"] is not None and row["control_proven_at"] is None
    assert row["status"] != "released" and row["order_status"] == "pending_payment"  # nothing destroyed
    assert row["needs_attention_since"] is not None and f"claim {claim['claimId']}" in row["provisioning_error"]
    alerts = _row(settings, "SELECT count(*) AS n FROM procrastinate_jobs WHERE task_name = 'send_attention_alert' "
                            "AND (args->>'subscription_id')::bigint = %s", holder)["n"]
    assert alerts == 1

    # The holding order's customer no longer proves anything with their own token...
    public_dns.txt[claim["record"]] = holder_token
    browser, _ = logged_in_session(app, held["customer"]["email"], held["account"]["password"])
    page = browser.get(f"{app.url}/sites/{holder}/domain", timeout=10).text
    assert "claimed by the domain's owner" in page and "Check now" not in page
    # ...and the owner can order the domain now.
    placed = app.checkout(owner)
    assert placed.status_code == 201, placed.text
    orders.append(placed.json()["subscriptionId"])


def test_the_domain_page_says_the_website_waits_for_proof_in_a_browser(chromium, app, settings, public_dns, orders):
    payload = seed_payload(domainMode="external")
    created = app.checkout(payload)
    assert created.status_code == 201, created.text
    sid, domain = created.json()["subscriptionId"], payload["domain"]
    orders.append(sid)
    token = _row(settings, "SELECT control_token FROM domains WHERE subscription_id = %s", sid)["control_token"]

    page = logged_in_page(chromium, app, payload["customer"]["email"], payload["account"]["password"])
    assert "website is not published" in page.inner_text("main")
    page.goto(f"{app.url}/sites/{sid}/domain")
    assert domain in page.inner_text("#web-held")
    screenshot(page, "domain-web-held")

    public_dns.txt[f"_mpanel-verify.{domain}"] = token
    page.click("text=Check now")
    page.wait_for_load_state()
    assert "send visitors to your website" in page.inner_text("main") and page.locator("#web-held").count() == 0
    screenshot(page, "domain-web-proven")
    page.context.close()
