"""The customer's domain page (issue 14, item 5) in a real browser: the registrar's state
(NameSilo getDomainInfo through the stand-in), a registrar-side expiry change shown, and the
auto-renew toggle applied at the registrar by the converge."""
from __future__ import annotations

import requests

from tests.e2e.conftest import csrf_of, seed_payload, wait_for
from tests.e2e.panel_browser import chromium, logged_in_page, screenshot  # noqa: F401  (fixture)


def _registrar(settings, domain: str) -> dict:
    answer = requests.get(f"{settings.NAMESILO_API_URL}/getDomainInfo", timeout=10, params={
        "version": "1", "type": "json", "key": settings.NAMESILO_API_KEY, "domain": domain})
    return answer.json()["reply"]


def test_the_domain_page_shows_the_registrar_and_turns_auto_renew_off(mpanel, settings, chromium):
    payload = seed_payload(testMode=True, promoCode="TESTFREE", domainMode="new_registration")
    subscription_id = mpanel.checkout(payload).json()["subscriptionId"]
    mpanel.wait_until(subscription_id, provisioningStatus="ready")
    domain = payload["domain"]
    page = logged_in_page(chromium, mpanel, payload["customer"]["email"], payload["account"]["password"])
    page.click("text=Registration, expiry and auto-renew")
    page.wait_for_load_state()
    text = page.inner_text("table[aria-label=domain]")
    assert _registrar(settings, domain)["expires"] in text and "Auto-renew\ton" in text

    control = settings.NAMESILO_API_URL.rsplit("/api", 1)[0]
    requests.post(f"{control}/_sandbox/domains/{domain}", json={"expires": "2031-05-17"},
                  timeout=10).raise_for_status()
    page.reload()
    assert "2031-05-17" in page.inner_text("table[aria-label=domain]"), "the registrar's expiry, as it is now"

    page.click("text=Turn auto-renew off")
    page.wait_for_load_state()
    assert "being turned off" in page.inner_text("main")
    wait_for(lambda: _registrar(settings, domain)["auto_renew"] == "No", 90, "auto-renew off at the registrar")
    page.reload()
    text = page.inner_text("table[aria-label=domain]")
    assert "Auto-renew\toff" in text and "Turn auto-renew on" in text
    screenshot(page, "domain-page")


def test_auto_renew_bad_input_and_another_customers_domain(mpanel):
    mine = seed_payload(testMode=True, promoCode="TESTFREE", domainMode="new_registration")
    subscription_id = mpanel.checkout(mine).json()["subscriptionId"]
    theirs = mpanel.checkout(seed_payload()).json()["subscriptionId"]
    mpanel.wait_until(subscription_id, provisioningStatus="ready")
    browser = requests.Session()
    form = browser.get(f"{mpanel.url}/login", timeout=10)
    dashboard = browser.post(f"{mpanel.url}/login", timeout=30, data={
        "csrf": csrf_of(form.text), "email": mine["customer"]["email"], "password": mine["account"]["password"]})
    token = csrf_of(dashboard.text)
    bad = browser.post(f"{mpanel.url}/sites/{subscription_id}/domain/auto-renew",
                       data={"csrf": token, "auto_renew": "maybe"}, timeout=10)
    assert bad.status_code == 422 and "auto_renew" in bad.text
    assert browser.get(f"{mpanel.url}/sites/{theirs}/domain", timeout=10).status_code == 404
    other = browser.post(f"{mpanel.url}/sites/{theirs}/domain/auto-renew", data={"csrf": token, "auto_renew": "off"},
                         timeout=10, allow_redirects=False)
    assert other.status_code == 404
