"""One rule for record content (issue 23 item 3), over HTTP: what the zone would refuse is a 422
naming the field and never stored; a record the zone refuses at converge shows as not published."""
from __future__ import annotations

import psycopg
import pytest

from tests.e2e.conftest import seed_payload, wait_for
from tests.e2e.panel_browser import logged_in_session

QUOTED_SPF = '"\\"v=spf1 include:evil.example -all'


@pytest.fixture(scope="module")
def site(mpanel):
    payload = seed_payload(testMode=True, promoCode="TESTFREE", domainMode="new_registration")
    sid = mpanel.checkout(payload).json()["subscriptionId"]
    mpanel.wait_until(sid, provisioningStatus="ready")
    browser, token = logged_in_session(mpanel, payload["customer"]["email"], payload["account"]["password"])
    return browser, token, sid, payload["domain"]


def _records(settings, sid: int) -> list[tuple]:
    with psycopg.connect(settings.DATABASE_URL) as conn:
        return conn.execute("SELECT r.name, r.type, r.content, r.quarantined_reason FROM dns_records r "
                            "JOIN domains d ON d.id = r.domain_id WHERE d.subscription_id = %s ORDER BY r.id",
                            (sid,)).fetchall()


def test_a_quoted_spf_record_is_refused_naming_the_field_and_not_stored(mpanel, settings, site):
    browser, token, sid, _ = site
    refused = browser.post(f"{mpanel.url}/sites/{sid}/dns", timeout=10,
                           data={"csrf": token, "name": "@", "type": "TXT", "content": QUOTED_SPF})
    assert refused.status_code == 422 and "SPF record is managed" in refused.text
    assert _records(settings, sid) == []


def test_a_txt_record_is_stored_quoted_once_and_converges_again(mpanel, settings, site):
    browser, token, sid, _ = site
    added = browser.post(f"{mpanel.url}/sites/{sid}/dns", timeout=10,
                         data={"csrf": token, "name": "note", "type": "TXT", "content": 'say "hi"'})
    assert added.status_code == 200
    assert _records(settings, sid) == [("note", "TXT", '"say \\"hi\\""', None)]
    mpanel.wait_until(sid, provisioningStatus="ready")
    assert 'say "hi"' in browser.get(f"{mpanel.url}/sites/{sid}/dns", timeout=10).text.replace("&#34;", '"')


def test_a_record_quarantined_at_converge_is_shown_with_the_reason(mpanel, settings, site):
    browser, token, sid, _ = site
    with psycopg.connect(settings.DATABASE_URL) as conn:
        conn.execute("INSERT INTO dns_records (domain_id, name, type, content, ttl) "
                     "SELECT id, '@', 'TXT', %s, 300 FROM domains WHERE subscription_id = %s",
                     ('"v=spf1 include:evil.example -all', sid))
    # Any change requests a converge: the good record goes out, the bad one is quarantined.
    browser.post(f"{mpanel.url}/sites/{sid}/dns", timeout=10,
                 data={"csrf": token, "name": "shop", "type": "A", "content": "192.0.2.9"})
    mpanel.wait_until(sid, provisioningStatus="ready")
    wait_for(lambda: any(r[3] for r in _records(settings, sid)), 60, "the bad record to be quarantined")
    page = browser.get(f"{mpanel.url}/sites/{sid}/dns", timeout=10).text
    assert "not published" in page and "SPF record is managed" in page
