"""The customer logs into the panel with the checkout's email and password (seed step 7)."""
from __future__ import annotations

import re

import requests

from tests.e2e.conftest import seed_payload


def _login(mpanel, email: str, password: str) -> tuple[requests.Session, requests.Response]:
    browser = requests.Session()
    form = browser.get(f"{mpanel.url}/login", timeout=10)
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
    answer = browser.post(f"{mpanel.url}/login", data={"csrf": csrf, "email": email, "password": password},
                          timeout=30)
    return browser, answer


def test_a_customer_logs_in_and_sees_the_active_hosting(mpanel, settings):
    payload = seed_payload(testMode=True, promoCode="TESTFREE")
    body = mpanel.checkout(payload).json()
    mpanel.wait_until(body["subscriptionId"], provisioningStatus="ready")

    browser, answer = _login(mpanel, payload["customer"]["email"].upper(), payload["account"]["password"])
    assert answer.status_code == 200 and answer.url.endswith("/dashboard")
    assert payload["domain"] in answer.text and "active" in answer.text and "cPanel" in answer.text
    assert settings.NS1 in answer.text  # an external domain: the nameservers to set


def test_a_wrong_password_is_refused_without_saying_which_part_was_wrong(mpanel):
    payload = seed_payload()
    assert mpanel.checkout(payload).status_code == 201
    _, wrong = _login(mpanel, payload["customer"]["email"], "not the password")
    _, unknown = _login(mpanel, "nobody-here@example.com", "not the password")
    assert wrong.status_code == unknown.status_code == 401
    assert "do not match" in wrong.text and "do not match" in unknown.text


def test_the_dashboard_needs_a_login_and_a_forged_form_is_refused(mpanel):
    answer = requests.get(f"{mpanel.url}/dashboard", timeout=10, allow_redirects=False)
    assert answer.status_code == 302 and "/login" in answer.headers["Location"]
    forged = requests.post(f"{mpanel.url}/login", data={"email": "a@b.c", "password": "x"}, timeout=10)
    assert forged.status_code == 400
