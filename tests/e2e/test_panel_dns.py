"""The customer's DNS editor (issue 14, item 2) in a real browser against the app, the worker,
the engine and PowerDNS: records added answer from PowerDNS within seconds, bad input is refused
naming the field and changes nothing, managed records are read-only, reset brings the defaults
back, another customer's zone is not found."""
from __future__ import annotations

import dns.message
import dns.query
import dns.rdatatype
import psycopg
import requests

from tests.e2e.conftest import csrf_of, seed_payload, wait_for
from tests.e2e.panel_browser import chromium, logged_in_page, screenshot  # noqa: F401  (fixture)


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


def test_records_added_in_the_editor_answer_from_powerdns_and_reset_removes_them(mpanel, settings, chromium):
    payload = seed_payload(testMode=True, promoCode="TESTFREE")
    subscription_id = mpanel.checkout(payload).json()["subscriptionId"]
    mpanel.wait_until(subscription_id, provisioningStatus="ready")
    domain = payload["domain"]
    page = logged_in_page(chromium, mpanel, payload["customer"]["email"], payload["account"]["password"])
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


def test_another_customers_zone_is_not_found(mpanel):
    mine = seed_payload()
    assert mpanel.checkout(mine).status_code == 201
    theirs = mpanel.checkout(seed_payload(testMode=True, promoCode="TESTFREE")).json()["subscriptionId"]
    mpanel.wait_until(theirs, provisioningStatus="ready")
    browser = requests.Session()
    form = browser.get(f"{mpanel.url}/login", timeout=10)
    dashboard = browser.post(f"{mpanel.url}/login", timeout=30, data={
        "csrf": csrf_of(form.text), "email": mine["customer"]["email"], "password": mine["account"]["password"]})
    token = csrf_of(dashboard.text)
    assert browser.get(f"{mpanel.url}/sites/{theirs}/dns", timeout=10).status_code == 404
    for path, data in ((f"/sites/{theirs}/dns", {"name": "x", "type": "TXT", "content": "hi"}),
                       (f"/sites/{theirs}/dns/reset", {}), (f"/sites/{theirs}/dns/1/remove", {})):
        answer = browser.post(mpanel.url + path, data={"csrf": token, **data}, timeout=10, allow_redirects=False)
        assert answer.status_code == 404, path
