"""One-click cPanel and Webmail from the dashboard (issue 14, item 1), in a real browser: WHM's
one-time link opens in a new tab, works once, never appears in a page; a suspended account is
refused with the reason; another customer's site is not found."""
from __future__ import annotations

import re

import requests

from tests.e2e.conftest import csrf_of, seed_payload
from tests.e2e.panel_browser import chromium, logged_in_page, screenshot  # noqa: F401  (fixture)


def _ready_site(mpanel) -> tuple[dict, int]:
    payload = seed_payload(testMode=True, promoCode="TESTFREE")
    subscription_id = mpanel.checkout(payload).json()["subscriptionId"]
    mpanel.wait_until(subscription_id, provisioningStatus="ready")
    return payload, subscription_id


def test_open_cpanel_logs_in_once_in_a_new_tab_and_a_suspended_account_is_refused(mpanel, settings, chromium):
    payload, _ = _ready_site(mpanel)
    page = logged_in_page(chromium, mpanel, payload["customer"]["email"], payload["account"]["password"])
    user = re.search(r"as <code>([a-z0-9]+)</code>", page.content()).group(1)
    assert "cpsess" not in page.content()

    with page.expect_popup() as opened:
        page.click("text=Open cPanel")
    tab = opened.value
    tab.wait_for_load_state()
    assert f"Logged in to cPanel as {user}" in tab.content()
    link = tab.url
    assert "/cpsess" in link and "session=" in link
    screenshot(page, "hosting-login-dashboard")
    assert requests.get(link, timeout=10).status_code == 401, "the link works once"
    assert "cpsess" not in page.content()

    with page.expect_popup() as opened:
        page.click("text=Open Webmail")
    opened.value.wait_for_load_state()
    assert f"Logged in to cPanel as {user}" in opened.value.content() and opened.value.url != link

    # Suspended on the server by an operator: refused, with WHM's own reason, and no link made.
    requests.post(f"{settings.CPANEL_WHM_URL}/_sandbox/accounts/{user}", timeout=10,
                  json={"suspended": True, "suspendreason": "Abuse report 4711"}).raise_for_status()
    with page.expect_popup() as opened:
        page.click("text=Open cPanel")
    refused = opened.value
    refused.wait_for_load_state()
    assert "suspended" in refused.content() and "Abuse report 4711" in refused.content()
    assert "cpsess" not in refused.content()
    screenshot(refused, "hosting-login-suspended")


def test_another_customers_site_and_a_forged_form_are_refused(mpanel):
    mine = seed_payload()
    assert mpanel.checkout(mine).status_code == 201
    _, theirs = _ready_site(mpanel)
    browser = requests.Session()
    form = browser.get(f"{mpanel.url}/login", timeout=10)
    dashboard = browser.post(f"{mpanel.url}/login", timeout=30, data={
        "csrf": csrf_of(form.text), "email": mine["customer"]["email"], "password": mine["account"]["password"]})
    token = csrf_of(dashboard.text)
    other = browser.post(f"{mpanel.url}/sites/{theirs}/open/cpanel", data={"csrf": token}, timeout=10,
                         allow_redirects=False)
    assert other.status_code == 404 and "cpsess" not in other.text
    unknown_app = browser.post(f"{mpanel.url}/sites/{theirs}/open/phpmyadmin", data={"csrf": token}, timeout=10)
    assert unknown_app.status_code == 404
    forged = browser.post(f"{mpanel.url}/sites/{theirs}/open/cpanel", data={}, timeout=10, allow_redirects=False)
    assert forged.status_code == 400
