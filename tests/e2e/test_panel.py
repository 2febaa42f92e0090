"""The customer logs into the panel with the checkout's email and password (seed step 7)."""
from __future__ import annotations

import re

import requests

from tests.e2e.conftest import csrf_of, seed_payload, wait_for


def _login(mpanel, email: str, password: str) -> tuple[requests.Session, requests.Response]:
    browser = requests.Session()
    form = browser.get(f"{mpanel.url}/login", timeout=10)
    answer = browser.post(f"{mpanel.url}/login",
                          data={"csrf": csrf_of(form.text), "email": email, "password": password},
                          timeout=30)
    return browser, answer


def test_a_customer_logs_in_and_sees_the_active_hosting(mpanel, settings):
    payload = seed_payload(testMode=True, promoCode="TESTFREE")
    body = mpanel.checkout(payload).json()
    mpanel.wait_until(body["subscriptionId"], provisioningStatus="ready")

    browser, answer = _login(mpanel, payload["customer"]["email"].upper(), payload["account"]["password"])
    browser.post(f"{mpanel.url}/welcome", data={"csrf": csrf_of(answer.text)}, timeout=10)  # the wizard: skipped
    answer = browser.get(f"{mpanel.url}/dashboard", timeout=10)
    assert answer.status_code == 200
    assert payload["domain"] in answer.text and "active" in answer.text and "cPanel" in answer.text
    assert settings.NS1 in answer.text  # an external domain: the nameservers to set


def test_the_first_login_walks_through_the_wizard_once(mpanel, settings):
    payload = seed_payload(testMode=True, promoCode="TESTFREE")
    body = mpanel.checkout(payload).json()
    mpanel.wait_until(body["subscriptionId"], provisioningStatus="ready")
    email, password = payload["customer"]["email"], payload["account"]["password"]

    browser, first = _login(mpanel, email, password)
    assert first.url.endswith("/welcome"), "the first login opens the wizard"
    assert settings.NS1 in first.text and settings.NS2 in first.text  # external: nameservers to set
    mailbox = browser.get(f"{mpanel.url}/welcome", params={"step": "email"}, timeout=10).text
    assert f"admin@{payload['domain']}" in mailbox and settings.MAIL_SERVER_HOST in mailbox
    website = browser.get(f"{mpanel.url}/welcome", params={"step": "website"}, timeout=10).text
    assert "public_html" in website and mpanel.status(body["subscriptionId"])["cpanelUrl"] in website
    assert "Go to my dashboard" in website and "Next" not in website

    done = browser.post(f"{mpanel.url}/welcome", data={"csrf": csrf_of(website)}, timeout=10)
    assert done.url.endswith("/dashboard") and payload["domain"] in done.text
    _, again = _login(mpanel, email, password)
    assert again.url.endswith("/dashboard"), "the wizard is shown once"


def test_the_wizard_waits_until_the_hosting_is_ready(mpanel):
    payload = seed_payload()  # not paid: nothing is built
    assert mpanel.checkout(payload).status_code == 201
    _, first = _login(mpanel, payload["customer"]["email"], payload["account"]["password"])
    assert first.url.endswith("/dashboard")


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


def _cpanel_password_opens(settings, username: str, password: str) -> bool:
    """The WHM stand-in keeps each account's password as an argon2 hash: ask it."""
    from argon2 import PasswordHasher
    from argon2.exceptions import VerificationError

    state = requests.get(f"{settings.CPANEL_WHM_URL}/_sandbox/state", timeout=10).json()["state"]
    try:
        return PasswordHasher().verify(state["accounts"][username]["password_hash"], password)
    except VerificationError:
        return False


def test_a_customer_gets_a_new_cpanel_password_by_email(mpanel, settings):
    payload = seed_payload(testMode=True, promoCode="TESTFREE")
    body = mpanel.checkout(payload).json()
    status = mpanel.wait_until(body["subscriptionId"], provisioningStatus="ready")
    email = payload["customer"]["email"]
    [welcome] = wait_for(lambda: mpanel.mails_to(email), 60, "the welcome email")
    first = re.search(r"Temporary password:\s+(\S+)", welcome.get_body(("plain",)).get_content()).group(1)
    user = re.search(r"Username:\s+(\S+)", welcome.get_body(("plain",)).get_content()).group(1)
    assert _cpanel_password_opens(settings, user, first)

    browser, answer = _login(mpanel, email, payload["account"]["password"])
    dashboard = browser.post(f"{mpanel.url}/welcome", data={"csrf": csrf_of(answer.text)}, timeout=10)
    action = f"/sites/{body['subscriptionId']}/cpanel-password"
    assert action in dashboard.text
    asked = browser.post(mpanel.url + action, data={"csrf": csrf_of(dashboard.text)}, timeout=10)
    assert asked.url.endswith("/dashboard") and "new cPanel password" in asked.text

    mail = wait_for(lambda: [m for m in mpanel.mails_to(email) if "new cPanel password" in m["Subject"]], 90,
                    "the new-password email")
    text = mail[0].get_body(("plain",)).get_content()
    new = re.search(r"Temporary password:\s+(\S+)", text).group(1)
    assert new != first and status["cpanelUrl"] in text
    assert _cpanel_password_opens(settings, user, new) and not _cpanel_password_opens(settings, user, first)


def test_only_the_owner_can_ask_for_a_new_cpanel_password(mpanel, settings):
    mine = seed_payload(testMode=True, promoCode="TESTFREE")
    theirs = seed_payload(testMode=True, promoCode="TESTFREE")
    mpanel.checkout(mine)
    other = mpanel.checkout(theirs).json()
    mpanel.wait_until(other["subscriptionId"], provisioningStatus="ready")  # live: only ownership refuses
    browser, answer = _login(mpanel, mine["customer"]["email"], mine["account"]["password"])
    refused = browser.post(f"{mpanel.url}/sites/{other['subscriptionId']}/cpanel-password",
                           data={"csrf": csrf_of(answer.text)}, timeout=10)
    assert refused.status_code == 404
    forged = requests.post(f"{mpanel.url}/sites/{other['subscriptionId']}/cpanel-password", timeout=10,
                           allow_redirects=False)
    assert forged.status_code == 302 and "/login" in forged.headers["Location"]
