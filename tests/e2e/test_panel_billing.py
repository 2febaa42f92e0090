"""The customer's billing in the panel (issue 14, items 3 and 4), in a real browser against the
app, the worker, the engine and the Stripe and WHM stand-ins: invoices and the card from Stripe,
the customer portal, an upgrade previewed with its proration, confirmed in Stripe, and the WHM
package changed in place once Stripe's event arrived."""
from __future__ import annotations

import re
import time

import requests

from tests.e2e.conftest import csrf_of, seed_payload, wait_for
from tests.e2e.panel_browser import chromium, logged_in_page, screenshot  # noqa: F401  (fixture)


def _paid_site(mpanel) -> tuple[dict, int]:
    payload = seed_payload()
    body = mpanel.checkout(payload).json()
    assert mpanel.pay(body["checkoutSessionId"]).status_code == 200
    mpanel.wait_until(body["subscriptionId"], provisioningStatus="ready")
    return payload, body["subscriptionId"]


def _whm_account(settings, user: str) -> dict:
    return requests.get(f"{settings.CPANEL_WHM_URL}/_sandbox/state", timeout=10).json()["state"]["accounts"][user]


def test_invoices_portal_and_an_upgrade_with_proration(mpanel, settings, chromium):
    payload, subscription_id = _paid_site(mpanel)
    page = logged_in_page(chromium, mpanel, payload["customer"]["email"], payload["account"]["password"])
    user = re.search(r"as <code>([a-z0-9]+)</code>", page.content()).group(1)
    page.click("text=Invoices, card and plan")
    page.wait_for_load_state()
    text = page.inner_text("main")
    assert "Visa ending 4242" in text and "$2.99" in text and "paid" in text
    number = re.search(r"\b([A-Z0-9]{8}-0001)\b", text).group(1)

    with page.expect_popup() as opened:
        page.get_by_role("link", name="View", exact=True).click()
    invoice_page = opened.value
    invoice_page.wait_for_load_state()
    assert number in invoice_page.content() and "$2.99" in invoice_page.content()

    # Manage billing: Stripe's portal for this customer, and back.
    page.click("text=Manage billing")
    page.wait_for_load_state()
    assert "/p/session/" in page.url and payload["customer"]["email"] in page.content()
    screenshot(page, "billing-portal")
    page.click("text=Return to")
    page.wait_for_load_state()
    assert page.url.endswith(f"/sites/{subscription_id}/billing")

    # Upgrade: the preview shows the prorated difference, the confirmation bills it.
    page.select_option("select[name=plan]", "shared_business")
    page.click("text=Preview the change")
    page.wait_for_load_state()
    preview = page.inner_text("main")
    charged = re.search(r"Charged now\s+\$(\d+\.\d\d)", preview)
    assert charged and 11.90 <= float(charged.group(1)) <= 12.00, preview  # $14.99 - $2.99, prorated
    assert "Unused time" in preview and "Remaining time" in preview
    screenshot(page, "billing-plan-preview")
    page.click("text=Confirm the change to Shared Business")
    page.wait_for_load_state()
    assert "moving to Shared Business" in page.inner_text("main")

    # Stripe's customer.subscription.updated -> desired state -> converge: the package changes in place.
    wait_for(lambda: _whm_account(settings, user)["plan"] == "mpanel_business", 120, "the WHM package to change")
    assert _whm_account(settings, user)["quota_mb"] == 51200, "and the quota with it"
    page.goto(f"{mpanel.url}/sites/{subscription_id}/billing")
    text = page.inner_text("main")
    assert "Shared Business (monthly)" in text and f"${charged.group(1)}" in text, \
        "the proration invoice is listed with the previewed amount"
    screenshot(page, "billing-after-upgrade")


def test_billing_bad_input_and_another_customers_site(mpanel):
    payload, subscription_id = _paid_site(mpanel)
    theirs = mpanel.checkout(seed_payload()).json()["subscriptionId"]
    browser = requests.Session()
    form = browser.get(f"{mpanel.url}/login", timeout=10)
    dashboard = browser.post(f"{mpanel.url}/login", timeout=30, data={
        "csrf": csrf_of(form.text), "email": payload["customer"]["email"], "password": payload["account"]["password"]})
    token = csrf_of(dashboard.text)
    base = f"{mpanel.url}/sites/{subscription_id}"

    unknown = browser.post(f"{base}/plan/preview", data={"csrf": token, "plan": "shared_platinum"}, timeout=30)
    assert unknown.status_code == 422 and "choose one of the plans" in unknown.text
    same = browser.post(f"{base}/plan/preview", data={"csrf": token, "plan": "shared_student"}, timeout=30)
    assert same.status_code == 422 and "already on" in same.text
    stale = browser.post(f"{base}/plan", timeout=30, data={
        "csrf": token, "plan": "shared_business", "proration_date": str(int(time.time()) - 3 * 3600)})
    assert stale.status_code == 422 and "preview the change again" in stale.text
    unpreviewed = browser.post(f"{base}/plan", data={"csrf": token, "plan": "shared_business"}, timeout=30)
    assert unpreviewed.status_code == 422 and "Shared Student (monthly)" in unpreviewed.text  # nothing changed

    for path in (f"/sites/{theirs}/billing", f"/sites/{subscription_id + 10**6}/billing"):
        assert browser.get(mpanel.url + path, timeout=10).status_code == 404
    for path in (f"/sites/{theirs}/billing/portal", f"/sites/{theirs}/plan/preview"):
        refused = browser.post(mpanel.url + path, data={"csrf": token, "plan": "shared_business"}, timeout=10,
                               allow_redirects=False)
        assert refused.status_code == 404


def test_a_downgrade_keeps_mailboxes_beyond_the_smaller_plan_and_refuses_new_ones(mpanel, settings):
    from tests.integration.converge.conftest import Servers

    payload = seed_payload(planSlug="shared_starter")
    body = mpanel.checkout(payload).json()
    assert mpanel.pay(body["checkoutSessionId"]).status_code == 200
    subscription_id = body["subscriptionId"]
    mpanel.wait_until(subscription_id, provisioningStatus="ready")
    domain = payload["domain"]
    browser = requests.Session()
    form = browser.get(f"{mpanel.url}/login", timeout=10)
    page = browser.post(f"{mpanel.url}/login", timeout=30, data={
        "csrf": csrf_of(form.text), "email": payload["customer"]["email"], "password": payload["account"]["password"]})
    token = csrf_of(page.text)
    password = "Kept-Mailbox-2026!"
    for n in range(5):  # with admin@, six: one more than Shared Student includes
        added = browser.post(f"{mpanel.url}/sites/{subscription_id}/mailboxes", timeout=30,
                             data={"csrf": token, "local_part": f"team{n}", "password": password})
        assert added.status_code == 200, added.text
    wait_for(lambda: all(Servers(settings).imap_login(f"team{n}@{domain}", password) for n in range(5)), 120,
             "the five mailboxes to open")

    preview = browser.post(f"{mpanel.url}/sites/{subscription_id}/plan/preview", timeout=30,
                           data={"csrf": token, "plan": "shared_student"})
    assert preview.status_code == 200 and "Credited to your next invoices" in preview.text
    assert "1 more mailboxes than" in preview.text and "they are all kept" in preview.text
    proration_date = re.search(r'name="proration_date" value="(\d+)"', preview.text).group(1)
    confirmed = browser.post(f"{mpanel.url}/sites/{subscription_id}/plan", timeout=30,
                             data={"csrf": token, "plan": "shared_student", "proration_date": proration_date})
    assert confirmed.status_code == 200 and "moving to Shared Student" in confirmed.text
    user = re.search(r"as <code>([a-z0-9]+)</code>", browser.get(f"{mpanel.url}/dashboard", timeout=10).text).group(1)
    wait_for(lambda: _whm_account(settings, user)["plan"] == "mpanel_student", 120, "the WHM package to change")

    dashboard = browser.get(f"{mpanel.url}/dashboard", timeout=10).text
    assert "6 of 5 in your plan" in dashboard and "Add mailbox" not in dashboard
    assert all(Servers(settings).imap_login(f"team{n}@{domain}", password) for n in range(5)), "all kept"
    refused = browser.post(f"{mpanel.url}/sites/{subscription_id}/mailboxes", timeout=30,
                           data={"csrf": token, "local_part": "one-more", "password": password})
    assert refused.status_code == 422 and "all in use" in refused.text
