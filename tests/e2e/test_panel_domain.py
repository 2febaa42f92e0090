"""The domain page's registrar lock, transfer code and external delegation check (issue 14, item 5)
in a real browser (Playwright, Debian's Chromium) against the app, the worker, the engine and the
NameSilo stand-in. One site is built (test mode, domain registered through us); an unpaid order
with an external domain is the second customer, who must get 404 for the first one's domain."""
from __future__ import annotations

import pytest
import requests

from tests.e2e.conftest import seed_payload
from tests.e2e.panel_browser import (logged_in_page, logged_in_session,
                                     registrar_record, screenshot, turned_at_the_registrar)






def _code_emails(settings, domain: str) -> list[dict]:
    control = settings.NAMESILO_API_URL.rstrip("/").rsplit("/api", 1)[0] + "/_sandbox/state"
    emails = requests.get(control, timeout=10).json()["state"]["auth_code_emails"].values()
    return [e for e in emails if e["domain"] == domain]


@pytest.fixture(scope="module")
def hosted(mpanel) -> dict:
    payload = seed_payload(testMode=True, promoCode="TESTFREE", domainMode="new_registration")
    subscription_id = mpanel.checkout(payload).json()["subscriptionId"]
    mpanel.wait_until(subscription_id, provisioningStatus="ready")
    return {"id": subscription_id, "domain": payload["domain"], "email": payload["customer"]["email"],
            "password": payload["account"]["password"], "url": f"{mpanel.url}/sites/{subscription_id}/domain"}


@pytest.fixture(scope="module")
def external(mpanel) -> dict:
    """An unpaid order for a domain the customer keeps at their own registrar."""
    payload = seed_payload(domainMode="external")
    body = mpanel.checkout(payload).json()
    return {"id": body["subscriptionId"], "domain": payload["domain"], "email": payload["customer"]["email"],
            "password": payload["account"]["password"], "url": f"{mpanel.url}/sites/{body['subscriptionId']}/domain"}


def test_the_registrar_lock_turned_off_reaches_namesilo_and_bad_input_changes_nothing(mpanel, settings, chromium,
                                                                                       hosted):
    domain = hosted["domain"]
    assert registrar_record(settings, domain)["locked"] == "Yes", "registered locked"
    page = logged_in_page(chromium, mpanel, hosted["email"], hosted["password"])
    page.goto(hosted["url"])
    assert "Registrar lock\ton" in page.inner_text("table[aria-label=domain]")
    text = turned_at_the_registrar(page, settings, domain, "Turn the lock off", "lock is being turned off", "locked", "No",
                                   "the lock off at the registrar")
    assert "Registrar lock\toff" in text and "Turn the lock on" in text and "being turned" not in text

    browser, token = logged_in_session(mpanel, hosted["email"], hosted["password"])
    bad = browser.post(f"{hosted['url']}/lock", data={"csrf": token, "lock": "maybe"}, timeout=10)
    assert bad.status_code == 422 and "lock" in bad.text
    forged = browser.post(f"{hosted['url']}/lock", data={"lock": "on"}, timeout=10)
    assert forged.status_code == 400 and registrar_record(settings, domain)["locked"] == "No"


def test_the_transfer_code_is_emailed_by_the_registrar_and_never_shown(mpanel, settings, chromium, hosted, external):
    domain = hosted["domain"]
    page = logged_in_page(chromium, mpanel, hosted["email"], hosted["password"])
    page.goto(hosted["url"])
    page.click("text=Email me the transfer code")
    page.wait_for_load_state()
    assert f"emailing the transfer code of {domain}" in page.inner_text("main")
    sent = _code_emails(settings, domain)
    assert len(sent) == 1 and sent[0]["to_contact_id"], "one email from the registrar to the domain's contact"
    assert sent[0]["auth_sha256"] not in page.content()
    screenshot(page, "domain-lock-and-transfer-code")

    # Another customer's order: 404 for both actions, and nothing asked of the registrar.
    other, token = logged_in_session(mpanel, external["email"], external["password"])
    for action, form in (("lock", {"lock": "on"}), ("transfer-code", {})):
        assert other.post(f"{hosted['url']}/{action}", data={"csrf": token, **form}, timeout=10).status_code == 404
    assert len(_code_emails(settings, domain)) == 1 and registrar_record(settings, domain)["locked"] == "No"
    # An external domain has no code or lock of ours to give.
    refused = other.post(f"{external['url']}/transfer-code", data={"csrf": token}, timeout=10)
    assert refused.status_code == 409 and "transfer_code" in refused.text


def test_an_external_domain_gets_our_nameservers_and_a_live_delegation_check(mpanel, settings, chromium, external):
    # The resolver asked is the local PowerDNS (tests/e2e/conftest.py). The order is unpaid, so
    # nothing of ours serves the domain yet: here the customer's registrar still delegates it
    # elsewhere, as the resolver will say. The check is live, so it must answer with that.
    elsewhere = ["ns1.their-registrar.example", "ns2.their-registrar.example"]
    zone = _powerdns(settings, "POST", "/zones", json={
        "name": external["domain"] + ".", "kind": "Native", "nameservers": [n + "." for n in elsewhere]})
    assert zone.status_code == 201, zone.text
    try:
        page = logged_in_page(chromium, mpanel, external["email"], external["password"])
        page.goto(external["url"])
        text = page.inner_text("table[aria-label=domain]")
        assert settings.NS1 in text and settings.NS2 in text and "Email me the transfer code" not in text
        row = page.inner_text("tr:has-text('Delegation now')")
        assert "could not be checked" not in row, row
        assert "not yet" in row and "answered" in row and all(ns in row for ns in elsewhere), row
        screenshot(page, "domain-external-delegation")
    finally:
        _powerdns(settings, "DELETE", f"/zones/{external['domain']}.")


def _powerdns(settings, method: str, path: str, **kwargs) -> requests.Response:
    return requests.request(method, f"{settings.POWERDNS_API_URL}/api/v1/servers/localhost{path}",
                            headers={"X-API-Key": settings.POWERDNS_API_KEY}, timeout=10, **kwargs)
