"""A returning customer buys another site (issue 26 item 8): through the marketing checkout
with their email and password, or from the panel's Add a site; either way the new site is the
same customer's, paid on their Stripe customer, listed on the dashboard beside the first, and
its welcome email does not restate the account's login."""
from __future__ import annotations

import psycopg
import pytest
import requests

from app.services.orders.orders import EMAIL_TAKEN
from tests.e2e.conftest import seed_payload, wait_for
from tests.e2e.panel_browser import screenshot

ACCOUNT_LOGIN = "the one you chose at checkout"


def _row(settings, subscription_id: int) -> dict:
    with psycopg.connect(settings.DATABASE_URL, row_factory=psycopg.rows.dict_row) as conn:
        return conn.execute("SELECT customer_id, status, stripe_customer_id FROM subscriptions WHERE id = %s",
                            (subscription_id,)).fetchone()


def _session(mpanel, session_id: str) -> dict:
    r = requests.get(f"{mpanel.stripe}/v1/checkout/sessions/{session_id}", timeout=10,
                     headers={"Authorization": f"Bearer {mpanel.s.STRIPE_SECRET_KEY}"})
    r.raise_for_status()
    return r.json()


def _welcome(mpanel, email: str, domain: str):
    def found():
        return [m for m in mpanel.mails_to(email) if domain in m["Subject"] and "Welcome" in m["Subject"]]
    [message] = wait_for(found, 90, f"the welcome email for {domain}")
    return message.get_body(("plain",)).get_content(), message.get_body(("html",)).get_content()


@pytest.fixture(scope="module")
def customer(mpanel):
    """A customer with one paid, provisioned site."""
    return mpanel.paid_and_ready(planSlug="shared_starter")


def test_a_wrong_password_stays_a_409_that_says_no_more(mpanel, settings, customer):
    payload, _ = customer
    wrong = mpanel.checkout(seed_payload(customer=payload["customer"], account={"password": "Someone-Else-42"}))
    assert wrong.status_code == 409, wrong.text
    assert (wrong.json()["field"], wrong.json()["message"]) == ("customer.email", EMAIL_TAKEN)


def test_the_right_password_opens_a_checkout_for_the_same_customer(mpanel, settings, customer):
    payload, first_id = customer
    first = _row(settings, first_id)
    again = mpanel.checkout(seed_payload(customer=payload["customer"], account=payload["account"]))
    assert again.status_code == 201, again.text
    body = again.json()
    assert body["subscriptionId"] != first_id and _row(settings, body["subscriptionId"])["customer_id"] == first["customer_id"]
    # The session is the customer's own Stripe customer: their saved card, one customer in Stripe.
    assert _session(mpanel, body["checkoutSessionId"])["customer"] == first["stripe_customer_id"]

    assert mpanel.pay(body["checkoutSessionId"]).status_code == 200
    mpanel.wait_until(body["subscriptionId"], provisioningStatus="ready")
    assert mpanel.status(first_id)["status"] == "active"  # the first site untouched
    second = _row(settings, body["subscriptionId"])
    assert second["stripe_customer_id"] == first["stripe_customer_id"]

    email = payload["customer"]["email"]
    first_text, _ = _welcome(mpanel, email, payload["domain"])
    assert ACCOUNT_LOGIN in first_text
    text, html = _welcome(mpanel, email, body["domain"])
    assert ACCOUNT_LOGIN not in text and ACCOUNT_LOGIN.capitalize() not in html
    assert "next to your other sites" in text and "next to your other sites" in html
    assert "Temporary password:" in text  # the new site's own cPanel login is still there


def test_add_a_site_in_the_panel_through_to_a_second_provisioned_site(mpanel, settings, chromium, customer):
    payload, first_id = customer
    email, password = payload["customer"]["email"], payload["account"]["password"]
    domain = seed_payload()["domain"]
    context = chromium.new_context(viewport={"width": 390, "height": 800})
    page = context.new_page()
    try:
        page.goto(f"{mpanel.url}/login")
        page.fill("input[name=email]", email)
        page.fill("input[name=password]", password)
        with page.expect_navigation():
            page.click("button[type=submit]")
        page.goto(f"{mpanel.url}/dashboard")
        page.click("#add-site")
        page.check("input[name=planSlug][value=shared_student]")
        page.check("input[name=billingCycle][value=yearly]")
        page.fill("input[name=domain]", domain)
        page.check("input[name=domainMode][value=new_registration]")
        screenshot(page, "add-a-site-390")
        with page.expect_navigation():
            page.click("text=Continue to payment")
        assert page.url.startswith(mpanel.stripe), page.url  # Stripe Checkout (the stand-in's page)
        with psycopg.connect(settings.DATABASE_URL) as conn:
            [(sid, customer_id, cycle, session_id)] = conn.execute(
                "SELECT s.id, s.customer_id, s.billing_cycle, s.stripe_checkout_session_id FROM subscriptions s "
                "JOIN domains d "
                "ON d.subscription_id = s.id WHERE d.name = %s", (domain,)).fetchall()
        assert session_id in page.url
        assert customer_id == _row(settings, first_id)["customer_id"] and cycle == "yearly"
        session = _session(mpanel, session_id)
        assert session["customer"] == _row(settings, first_id)["stripe_customer_id"]

        assert mpanel.pay(session_id).status_code == 200
        mpanel.wait_until(sid, provisioningStatus="ready")
        page.goto(f"{mpanel.url}/dashboard")
        html = page.content()
        assert payload["domain"] in html and domain in html
        assert page.locator("table.site").count() >= 2
        for site_id in (first_id, sid):  # each its own billing and DNS
            assert page.locator(f"a[href='/sites/{site_id}/billing']").count() == 1
            assert page.locator(f"a[href='/sites/{site_id}/dns']").count() == 1
        screenshot(page, "dashboard-sites-390")
        text, _ = _welcome(mpanel, email, domain)
        assert ACCOUNT_LOGIN not in text
    finally:
        context.close()


def test_add_a_site_refuses_a_bad_domain_on_its_page(mpanel, settings, customer):
    from tests.e2e.panel_browser import logged_in_session

    payload, _ = customer
    browser, token = logged_in_session(mpanel, payload["customer"]["email"], payload["account"]["password"])
    answer = browser.post(f"{mpanel.url}/sites/new", timeout=30, allow_redirects=False, data={
        "csrf": token, "planSlug": "shared_student", "billingCycle": "monthly", "domain": "not a domain",
        "domainMode": "new_registration"})
    assert answer.status_code == 422 and "must be a domain name" in answer.text
    taken = browser.post(f"{mpanel.url}/sites/new", timeout=30, allow_redirects=False, data={
        "csrf": token, "planSlug": "shared_student", "billingCycle": "monthly", "domain": payload["domain"],
        "domainMode": "new_registration"})
    assert taken.status_code == 409 and "already hosted here" in taken.text
