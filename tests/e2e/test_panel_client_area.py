"""The customer's client area (issue 14) in a real browser (Playwright, Debian's Chromium) against
the app, the worker, the engine, PowerDNS, Dovecot and the Stripe, WHM and NameSilo stand-ins.

Two sites are built for the whole module, to keep it fast: a test-mode site with a domain
registered through us (one-click logins, DNS editor, domain page) and a paid Shared Starter site
(billing, downgrade then upgrade with proration, then a failed renewal). Tests run in file order
and each leaves its site as the next expects it. A third customer with an unpaid order is the one
who must get 404 for the others' objects."""
from __future__ import annotations

import re
import time

import dns.message
import dns.query
import dns.rdatatype
import psycopg
import pytest
import requests

from tests.e2e.conftest import seed_payload, wait_for
from tests.e2e.panel_browser import (logged_in_page, logged_in_session,
                                     registrar_record, screenshot, turned_at_the_registrar)
from tests.integration.converge.conftest import Servers


class Site:
    def __init__(self, mpanel, payload: dict, subscription_id: int):
        self.payload, self.id, self.domain = payload, subscription_id, payload["domain"]
        self.email, self.password = payload["customer"]["email"], payload["account"]["password"]
        self.url = f"{mpanel.url}/sites/{subscription_id}"




@pytest.fixture(scope="module")
def hosted(mpanel) -> Site:
    """Test mode (no Stripe), domain registered through us: cPanel, DNS, domain."""
    payload = seed_payload(testMode=True, promoCode="TESTFREE", domainMode="new_registration")
    site = Site(mpanel, payload, mpanel.checkout(payload).json()["subscriptionId"])
    mpanel.wait_until(site.id, provisioningStatus="ready")
    return site


@pytest.fixture(scope="module")
def paid(mpanel) -> Site:
    """Paid through Stripe on Shared Starter (25 mailboxes): billing and plan changes."""
    payload = seed_payload(planSlug="shared_starter")
    body = mpanel.checkout(payload).json()
    assert mpanel.pay(body["checkoutSessionId"]).status_code == 200
    site = Site(mpanel, payload, body["subscriptionId"])
    mpanel.wait_until(site.id, provisioningStatus="ready")
    return site


@pytest.fixture(scope="module")
def stranger(mpanel) -> tuple[requests.Session, str]:
    """Another customer (an unpaid order), logged in."""
    payload = seed_payload()
    assert mpanel.checkout(payload).status_code == 201
    return logged_in_session(mpanel, payload["customer"]["email"], payload["account"]["password"])


def _whm_account(settings, user: str) -> dict:
    return requests.get(f"{settings.CPANEL_WHM_URL}/_sandbox/state", timeout=10).json()["state"]["accounts"][user]


def _cpanel_user(page_html: str) -> str:
    return re.search(r"as <code>([a-z0-9]+)</code>", page_html).group(1)


# --- one-click cPanel and Webmail -------------------------------------------------------------

def test_open_cpanel_logs_in_once_in_a_new_tab_and_a_suspended_account_is_refused(mpanel, settings, chromium,
                                                                                  hosted):
    page = logged_in_page(chromium, mpanel, hosted.email, hosted.password)
    user = _cpanel_user(page.content())
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
    control = f"{settings.CPANEL_WHM_URL}/_sandbox/accounts/{user}"
    requests.post(control, json={"suspended": True, "suspendreason": "Abuse report 4711"},
                  timeout=10).raise_for_status()
    try:
        with page.expect_popup() as opened:
            page.click("text=Open cPanel")
        refused = opened.value
        refused.wait_for_load_state()
        assert "suspended" in refused.content() and "Abuse report 4711" in refused.content()
        assert "cpsess" not in refused.content()
        screenshot(refused, "hosting-login-suspended")
    finally:
        requests.post(control, json={"suspended": False}, timeout=10).raise_for_status()


# --- DNS editor -------------------------------------------------------------------------------

def _answers(settings, name: str, rdtype: str) -> list[str]:
    host, port = settings.POWERDNS_DNS_ADDRESS.rsplit(":", 1)
    answer = dns.query.udp(dns.message.make_query(name, rdtype), host, port=int(port), timeout=3)
    return sorted(r.to_text() for rrset in answer.answer if rrset.rdtype == dns.rdatatype.from_text(rdtype)
                  for r in rrset)


def _record_count(settings, domain: str) -> int:
    with psycopg.connect(settings.DATABASE_URL) as conn:
        return conn.execute("SELECT count(*) FROM dns_records r JOIN domains d ON d.id = r.domain_id "
                            "WHERE d.name = %s", (domain,)).fetchone()[0]


def _add(page, name: str, rtype: str, content: str, ttl: str = "") -> None:
    page.fill("input[name=name]", name)
    page.select_option("select[name=type]", rtype)
    page.fill("input[name=content]", content)
    page.fill("input[name=ttl]", ttl)
    page.click("text=Add record")
    page.wait_for_load_state()


def test_records_added_in_the_editor_answer_from_powerdns_and_reset_removes_them(mpanel, settings, chromium,
                                                                                 hosted):
    domain = hosted.domain
    page = logged_in_page(chromium, mpanel, hosted.email, hosted.password)
    page.click("text=DNS records")
    page.wait_for_load_state()
    managed = page.inner_text("table[aria-label='managed records']")
    assert "our nameservers" in managed and "DKIM" in managed and "remove" not in managed

    _add(page, "verify", "TXT", "site-verification=abc123", "300")
    assert "being published" in page.inner_text("main")
    _add(page, f"lists.{domain}", "MX", "10 mx.lists.example.net")
    wait_for(lambda: _answers(settings, f"verify.{domain}", "TXT") == ['"site-verification=abc123"'], 60,
             "the TXT record to answer")
    wait_for(lambda: _answers(settings, f"lists.{domain}", "MX") == ["10 mx.lists.example.net."], 60,
             "the MX record to answer")
    page.reload()
    mine = page.inner_text("table[aria-label='your records']")
    assert mine.count("live") == 2 and "being applied" not in mine
    screenshot(page, "dns-editor")

    # Bad input: refused naming the field, nothing written, the zone untouched.
    for name, rtype, content, ttl, field in (("@", "CNAME", "elsewhere.example.net", "", "name"),
                                             ("www", "CNAME", "elsewhere.example.net", "", "name"),
                                             ("@", "MX", "10 other.example.net", "", "name"),
                                             ("shop.other.com", "A", "192.0.2.7", "", "name"),
                                             ("shop", "A", "not-an-address", "", "content"),
                                             ("shop", "A", "192.0.2.7", "5", "ttl")):
        _add(page, name, rtype, content, ttl)
        assert page.inner_text("p[role=alert]").startswith(f"{field}:"), (name, rtype, content)
    screenshot(page, "dns-editor-refused")
    assert _record_count(settings, domain) == 2
    assert _answers(settings, domain, "MX") == [f"10 {settings.MAIL_SERVER_HOST}."]

    page.click("text=Reset to defaults")
    page.wait_for_load_state()
    wait_for(lambda: _answers(settings, f"verify.{domain}", "TXT") == [], 60, "the TXT record to go")
    assert _record_count(settings, domain) == 0 and _answers(settings, f"lists.{domain}", "MX") == []
    assert _answers(settings, domain, "MX") == [f"10 {settings.MAIL_SERVER_HOST}."]


# --- domain -------------------------------------------------------------------------------------



def test_the_nightly_sync_brings_a_registrar_side_change_and_reports_drift(mpanel, settings, chromium, hosted):
    from app.services.domains.registrar_sync import sync_registrations

    control = f"{settings.NAMESILO_API_URL.rsplit('/api', 1)[0]}/_sandbox/domains/{hosted.domain}"
    requests.post(control, json={"expires": "2031-05-17"}, timeout=10).raise_for_status()
    sync_registrations(settings)
    page = logged_in_page(chromium, mpanel, hosted.email, hosted.password)
    assert "registered until 2031-05-17" in page.inner_text("main"), "the dashboard shows the registrar's expiry"

    requests.post(control, json={"nameservers": ["ns9.elsewhere.example"]}, timeout=10).raise_for_status()
    report = sync_registrations(settings)
    assert [d for d in report.drifted if d["name"] == hosted.domain and "ns9.elsewhere.example" in d["problems"][0]]
    ops = settings.OPS_EMAIL or "support@"
    wait_for(lambda: [m for m in mpanel.mails_to(ops) if "registrar drift" in m["Subject"]
                      and hosted.domain in m.get_body(("plain",)).get_content()], 30, "the operators' drift email")
    requests.post(control, json={"nameservers": [settings.NS1, settings.NS2]}, timeout=10).raise_for_status()


def test_the_domain_page_shows_the_registrar_and_turns_auto_renew_off(mpanel, settings, chromium, hosted):
    domain = hosted.domain
    page = logged_in_page(chromium, mpanel, hosted.email, hosted.password)
    page.click("text=Registration, expiry and auto-renew")
    page.wait_for_load_state()
    text = page.inner_text("table[aria-label=domain]")
    assert "2031-05-17" in text and registrar_record(settings, domain)["expires"] in text and "Auto-renew\ton" in text

    text = turned_at_the_registrar(page, settings, domain, "Turn auto-renew off", "being turned off", "auto_renew", "No",
                                   "auto-renew off at the registrar")
    assert "Auto-renew\toff" in text and "Turn auto-renew on" in text
    screenshot(page, "domain-page")
    browser, token = logged_in_session(mpanel, hosted.email, hosted.password)
    bad = browser.post(f"{hosted.url}/domain/auto-renew", data={"csrf": token, "auto_renew": "maybe"}, timeout=10)
    assert bad.status_code == 422 and "auto_renew" in bad.text
    forged = browser.post(f"{hosted.url}/domain/auto-renew", data={"auto_renew": "on"}, timeout=10)
    assert forged.status_code == 400 and registrar_record(settings, domain)["auto_renew"] == "No"


# --- billing and plan changes -----------------------------------------------------------------

def test_invoices_card_hosted_invoice_and_the_customer_portal(mpanel, chromium, paid):
    page = logged_in_page(chromium, mpanel, paid.email, paid.password)
    page.click("text=Invoices, card and plan")
    page.wait_for_load_state()
    text = page.inner_text("main")
    assert "Visa ending 4242" in text and "$6.99" in text and "paid" in text
    number = re.search(r"\b([A-Z0-9]{8}-0001)\b", text).group(1)

    with page.expect_popup() as opened:
        page.get_by_role("link", name="View", exact=True).click()
    invoice_page = opened.value
    invoice_page.wait_for_load_state()
    assert number in invoice_page.content() and "$6.99" in invoice_page.content()

    page.click("text=Manage billing")
    page.wait_for_load_state()
    assert "/p/session/" in page.url and paid.email in page.content()
    screenshot(page, "billing-portal")
    page.click("text=Return to")
    page.wait_for_load_state()
    assert page.url.endswith(f"/sites/{paid.id}/billing")


def test_plan_change_bad_input_changes_nothing(mpanel, paid):
    browser, token = logged_in_session(mpanel, paid.email, paid.password)
    unknown = browser.post(f"{paid.url}/plan/preview", data={"csrf": token, "plan": "shared_platinum"}, timeout=30)
    assert unknown.status_code == 422 and "choose one of the plans" in unknown.text
    same = browser.post(f"{paid.url}/plan/preview", data={"csrf": token, "plan": "shared_starter"}, timeout=30)
    assert same.status_code == 422 and "already on" in same.text
    stale = browser.post(f"{paid.url}/plan", timeout=30, data={
        "csrf": token, "plan": "shared_business", "proration_date": str(int(time.time()) - 3 * 3600)})
    assert stale.status_code == 422 and "preview the change again" in stale.text
    unpreviewed = browser.post(f"{paid.url}/plan", data={"csrf": token, "plan": "shared_business"}, timeout=30)
    assert unpreviewed.status_code == 422 and "Shared Starter (monthly)" in unpreviewed.text


def test_a_downgrade_keeps_mailboxes_beyond_the_smaller_plan_and_refuses_new_ones(mpanel, settings, paid):
    browser, token = logged_in_session(mpanel, paid.email, paid.password)
    password = "Kept-Mailbox-2026!"
    for n in range(5):  # with admin@, six: one more than Shared Student includes
        added = browser.post(f"{paid.url}/mailboxes", timeout=30,
                             data={"csrf": token, "local_part": f"team{n}", "password": password})
        assert added.status_code == 200, added.text
    wait_for(lambda: all(Servers(settings).imap_login(f"team{n}@{paid.domain}", password) for n in range(5)), 120,
             "the five mailboxes to open")

    preview = browser.post(f"{paid.url}/plan/preview", data={"csrf": token, "plan": "shared_student"}, timeout=30)
    assert preview.status_code == 200 and "Credited to your next invoices" in preview.text
    assert "1 more mailboxes than" in preview.text and "they are all kept" in preview.text
    proration_date = re.search(r'name="proration_date" value="(\d+)"', preview.text).group(1)
    confirmed = browser.post(f"{paid.url}/plan", timeout=30,
                             data={"csrf": token, "plan": "shared_student", "proration_date": proration_date})
    assert confirmed.status_code == 200 and "moving to Shared Student" in confirmed.text
    user = _cpanel_user(browser.get(f"{mpanel.url}/dashboard", timeout=10).text)
    wait_for(lambda: _whm_account(settings, user)["plan"] == "mpanel_student", 120, "the WHM package to change")

    dashboard = browser.get(f"{mpanel.url}/dashboard", timeout=10).text
    assert "6 of 5 in your plan" in dashboard and "Add mailbox" not in dashboard
    assert all(Servers(settings).imap_login(f"team{n}@{paid.domain}", password) for n in range(5)), "all kept"
    refused = browser.post(f"{paid.url}/mailboxes", timeout=30,
                           data={"csrf": token, "local_part": "one-more", "password": password})
    assert refused.status_code == 422 and "all in use" in refused.text


def test_an_upgrade_is_previewed_billed_prorated_and_changes_the_whm_package(mpanel, settings, chromium, paid):
    page = logged_in_page(chromium, mpanel, paid.email, paid.password)
    user = _cpanel_user(page.content())
    page.goto(f"{paid.url}/billing")
    page.select_option("select[name=plan]", "shared_business")
    page.click("text=Preview the change")
    page.wait_for_load_state()
    preview = page.inner_text("main")
    total = re.search(r"Total\s+\$(\d+\.\d\d)", preview)
    charged = re.search(r"Charged now \(after your credit\)\s+\$(\d+\.\d\d)", preview)
    # $14.99 - $2.99 for (nearly) the whole period; the downgrade's credit waits on the balance.
    assert total and 11.90 <= float(total.group(1)) <= 12.00, preview
    assert charged and float(charged.group(1)) < float(total.group(1)), "the credit is used first"
    assert "Unused time" in preview and "Remaining time" in preview
    screenshot(page, "billing-plan-preview")
    page.click("text=Confirm the change to Shared Business")
    page.wait_for_load_state()
    assert "moving to Shared Business" in page.inner_text("main")

    wait_for(lambda: _whm_account(settings, user)["plan"] == "mpanel_business", 120, "the WHM package to change")
    assert _whm_account(settings, user)["quota_mb"] == 51200, "and the quota with it"
    page.goto(f"{paid.url}/billing")
    text = page.inner_text("main")
    assert "Shared Business (monthly)" in text and f"${total.group(1)}" in text, \
        "the proration invoice is listed with the previewed amount"
    screenshot(page, "billing-after-upgrade")


def test_a_site_suspended_for_a_failed_renewal_is_refused_cpanel_with_the_reason(mpanel, settings, paid):
    with psycopg.connect(settings.DATABASE_URL) as conn:
        stripe_sub = conn.execute("SELECT stripe_subscription_id FROM subscriptions WHERE id = %s",
                                  (paid.id,)).fetchone()[0]
    mpanel.stripe_control(f"subscriptions/{stripe_sub}/advance", {"outcome": "renewal_failed"})
    mpanel.wait_until(paid.id, status="suspended", websiteStatus="suspended")
    browser, token = logged_in_session(mpanel, paid.email, paid.password)
    refused = browser.post(f"{paid.url}/open/cpanel", data={"csrf": token}, timeout=30, allow_redirects=False)
    assert refused.status_code == 409 and "renewal payment failed" in refused.text
    assert "cpsess" not in refused.text and "Location" not in refused.headers


# --- another customer's objects -----------------------------------------------------------------

def test_another_customers_objects_are_not_found(mpanel, hosted, paid, stranger):
    browser, token = stranger
    for site in (hosted, paid):
        for path in ("/billing", "/dns", "/domain"):
            assert browser.get(site.url + path, timeout=10).status_code == 404, path
        for path, data in (("/open/cpanel", {}), ("/open/webmail", {}), ("/billing/portal", {}),
                           ("/plan/preview", {"plan": "shared_business"}),
                           ("/dns", {"name": "x", "type": "TXT", "content": "hi"}), ("/dns/reset", {}),
                           ("/dns/1/remove", {}), ("/domain/auto-renew", {"auto_renew": "off"})):
            answer = browser.post(site.url + path, data={"csrf": token, **data}, timeout=30, allow_redirects=False)
            assert answer.status_code == 404, path
    forged = requests.post(f"{hosted.url}/open/cpanel", timeout=10, allow_redirects=False)
    assert forged.status_code == 302 and "/login" in forged.headers["Location"]
