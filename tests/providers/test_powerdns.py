"""The DNS zone provider against the real PowerDNS, checked with real DNS queries."""
from __future__ import annotations

import json
import pickle
import secrets

import dns.message
import dns.query
import dns.rdatatype
import pytest
import requests

from providers.clients import powerdns
from providers.resources import dns_zone
from providers.rules import dns_records
from providers.core.config import current
from providers.core.errors import NotOurs, ProviderError
from providers.core.values import UNKNOWN
from providers.clients.powerdns import PowerDnsClient
from providers.resources.dns_zone import DnsZoneProvider, dkim_public_key
from providers.rules.dns_records import dkim_text
from tests.providers.conftest import reconfigure, restore_config
from tests.providers.contract import FAST_RETRY, OTHER_OWNER, OWNER, ProviderContract
from tests.providers.dns_acme_proxy import FaultProxy


# --- helpers that talk to PowerDNS on their own (not through the code under test) --------------

def api(settings, method: str, path: str, **kwargs) -> requests.Response:
    return requests.request(method, f"{settings.POWERDNS_API_URL}/api/v1/servers/localhost{path}",
                            headers={"X-API-Key": settings.POWERDNS_API_KEY, "Accept": "application/json"},
                            timeout=10, **kwargs)


def dig(settings, name: str, rdtype: str) -> list[str]:
    """What the DNS server answers for name/type: TXT strings reassembled, other rdata as text."""
    host, port = settings.POWERDNS_DNS_ADDRESS.rsplit(":", 1)
    answer = dns.query.udp(dns.message.make_query(name, rdtype), host, port=int(port), timeout=3)
    values = []
    for rrset in answer.answer:
        if rrset.rdtype != dns.rdatatype.from_text(rdtype):
            continue
        for rdata in rrset:
            if rdtype == "TXT":
                values.append(b"".join(rdata.strings).decode())
            else:
                values.append(rdata.to_text().lower())
    return sorted(values)


def txt_strings(settings, name: str) -> list[list[bytes]]:
    host, port = settings.POWERDNS_DNS_ADDRESS.rsplit(":", 1)
    answer = dns.query.udp(dns.message.make_query(name, "TXT"), host, port=int(port), timeout=3)
    return [list(rdata.strings) for rrset in answer.answer for rdata in rrset]


def unique_domain() -> str:
    return f"zone-{secrets.token_hex(4)}.test"


@pytest.fixture
def zone_provider(settings):
    provider = DnsZoneProvider()
    provider.retry = FAST_RETRY
    return provider


@pytest.fixture
def make_zone(zone_provider, settings):
    """Create zones through the provider; delete whatever is left at the end."""
    made = []

    def make(**inputs):
        checked = zone_provider.check({}, {"owner": OWNER, "server_ip": "192.0.2.10", **inputs})
        assert not checked.failures, [(f.property, f.reason) for f in checked.failures]
        result = zone_provider.create(checked.inputs)
        made.append(result.id)
        return result.id, {**checked.inputs, **result.outs}

    yield make
    for id_ in made:
        api(settings, "DELETE", f"/zones/{id_}")


# --- the contract ------------------------------------------------------------------------------

class TestDnsZoneContract(ProviderContract):
    @pytest.fixture(autouse=True)
    def _environment(self, settings):
        self.settings = settings
        self.proxy = None
        yield
        self.clear_faults()

    def make_provider(self):
        return DnsZoneProvider()

    def new_inputs(self, unique):
        return {"owner": OWNER, "domain": f"contract-{unique}.test", "server_ip": "192.0.2.10",
                "records": [{"name": "blog", "type": "A", "content": "192.0.2.20", "ttl": 300}]}

    def invalid_inputs(self, inputs):
        return [
            ({**inputs, "domain": "not a domain"}, "domain"),
            ({**inputs, "domain": "-bad-.test"}, "domain"),
            ({**inputs, "server_ip": "300.1.2.3"}, "server_ip"),
            ({**inputs, "server_ip": "2001:db8::1"}, "server_ip"),
            ({**inputs, "records": [{"name": "x", "type": "BOGUS", "content": "1", "ttl": 300}]}, "records"),
            ({**inputs, "records": [{"name": "x", "type": "A", "content": "192.0.2.1", "ttl": -5}]}, "records"),
            ({**inputs, "records": [{"name": "bad name!", "type": "A", "content": "192.0.2.1", "ttl": 300}]},
             "records"),
            ({**inputs, "records": [{"name": "x", "type": "A", "content": "not-an-ip", "ttl": 300}]}, "records"),
        ]

    def in_place_change(self, inputs):
        return {**inputs, "server_ip": "192.0.2.11"}, "server_ip"

    def replacing_change(self, inputs):
        return {**inputs, "domain": "other-" + inputs["domain"]}, "domain"

    def expected_outputs(self, inputs):
        return {"domain": inputs["domain"], "server_ip": inputs["server_ip"], "mail_host": inputs["mail_host"],
                "nameservers": inputs["nameservers"], "dkim_selector": "mpanel",
                "records": [{"name": "blog", "type": "A", "content": "192.0.2.20", "ttl": 300}]}

    def exists_upstream(self, id_, outs):
        return api(self.settings, "GET", f"/zones/{id_}").status_code == 200

    def make_drift(self, id_, outs):
        response = api(self.settings, "PATCH", f"/zones/{id_}", json={"rrsets": [{
            "name": id_, "type": "A", "ttl": 3600, "changetype": "REPLACE",
            "records": [{"content": "198.51.100.7", "disabled": False}]}]})
        assert response.status_code == 204, response.text
        return "server_ip"

    def create_behind_pulumi(self, inputs):
        # A create that crashed after PowerDNS made the zone, before the state recorded it.
        zone = inputs["domain"] + "."
        response = api(self.settings, "POST", "/zones", json={
            "name": zone, "kind": "Native", "nameservers": [n + "." for n in inputs["nameservers"]],
            "account": inputs["owner"],
            "rrsets": [{"name": zone, "type": "A", "ttl": 3600, "changetype": "REPLACE",
                        "records": [{"content": inputs["server_ip"], "disabled": False}]}]})
        assert response.status_code == 201, response.text
        return response.json()["id"]

    def objects_upstream(self, inputs):
        zones = api(self.settings, "GET", "/zones", params={"zone": inputs["domain"] + "."})
        return len(zones.json())

    def create_foreign(self, inputs):
        # Another stack's zone, with our nameservers (every zone on this server has them).
        zone = inputs["domain"] + "."
        response = api(self.settings, "POST", "/zones", json={
            "name": zone, "kind": "Native", "nameservers": [n + "." for n in inputs["nameservers"]],
            "account": OTHER_OWNER,
            "rrsets": [{"name": zone, "type": "A", "ttl": 3600, "changetype": "REPLACE",
                        "records": [{"content": "198.51.100.80", "disabled": False}]},
                       {"name": "shop." + zone, "type": "CNAME", "ttl": 300, "changetype": "REPLACE",
                        "records": [{"content": "shops.example.net.", "disabled": False}]}]})
        assert response.status_code == 201, response.text
        return inputs

    def upstream_snapshot(self, inputs):
        return api(self.settings, "GET", f"/zones/{inputs['domain']}.").json()

    def foreign_still_works(self, inputs):
        return dig(self.settings, inputs["domain"], "A") == ["198.51.100.80"]

    def remove_foreign(self, inputs):
        api(self.settings, "DELETE", f"/zones/{inputs['domain']}.")

    def inject_fault(self, transient):
        if transient:
            self.proxy = FaultProxy(self.settings.POWERDNS_API_URL, failures=1).start()
            reconfigure(POWERDNS_API_URL=self.proxy.url)
        else:
            reconfigure(POWERDNS_API_KEY="wrong-" + secrets.token_hex(8))

    def fault_fired(self):
        return self.proxy is not None and self.proxy.failures == 0 and len(self.proxy.requests()) >= 2

    def clear_faults(self):
        restore_config()
        if self.proxy is not None:
            self.proxy.stop()
            self.proxy = None

    # a few contract-adjacent checks that need the same hooks
    def test_the_transient_fault_really_was_answered_503_first(self, provider, inputs):
        self.inject_fault(transient=True)
        result = provider.create(provider.check({}, inputs).inputs)
        try:
            # Create looks the zone up first: that lookup met the 503 and was asked again.
            assert [r.method for r in self.proxy.requests()][:3] == ["GET", "GET", "POST"]
        finally:
            self.clear_faults()
            provider.delete(result.id, result.outs)

    def test_a_rejected_key_never_appears_in_the_error(self, provider, inputs):
        self.inject_fault(transient=False)
        wrong_key = current().POWERDNS_API_KEY
        with pytest.raises(ProviderError) as caught:
            provider.create(provider.check({}, inputs).inputs)
        assert caught.value.status == 401 and "POWERDNS_API_KEY" in caught.value.message
        assert wrong_key not in str(caught.value) and self.settings.POWERDNS_API_KEY not in str(caught.value)


# --- what the zone serves ------------------------------------------------------------------------

def test_the_zone_answers_real_dns_queries_for_web_mail_and_mail_policy(make_zone, settings):
    domain = unique_domain()
    id_, outs = make_zone(domain=domain, server_ip="192.0.2.44")

    assert id_ == domain + "."
    assert dig(settings, domain, "A") == ["192.0.2.44"]
    assert dig(settings, f"www.{domain}", "A") == ["192.0.2.44"]
    assert dig(settings, domain, "MX") == [f"10 {settings.MAIL_SERVER_HOST}."]
    assert dig(settings, domain, "NS") == sorted([settings.NS1 + ".", settings.NS2 + "."])
    assert dig(settings, domain, "TXT") == ["v=spf1 a mx -all"]
    assert dig(settings, f"_dmarc.{domain}", "TXT") == [f"v=DMARC1; p=quarantine; rua=mailto:postmaster@{domain}"]
    assert dig(settings, f"mpanel._domainkey.{domain}", "TXT") == [dkim_text(outs["dkim_public_key"])]


def test_the_dkim_record_is_one_txt_of_255_byte_strings_carrying_the_generated_key(make_zone, settings):
    domain = unique_domain()
    _, outs = make_zone(domain=domain, dkim_selector="s2025")

    (strings,) = txt_strings(settings, f"s2025._domainkey.{domain}")
    assert len(strings) > 1 and all(len(s) <= 255 for s in strings) and len(strings[0]) == 255
    assert b"".join(strings).decode() == f"v=DKIM1; k=rsa; p={outs['dkim_public_key']}"
    assert dkim_public_key(outs["dkim_private_key"]) == outs["dkim_public_key"]
    assert outs["dkim_private_key"].startswith("-----BEGIN PRIVATE KEY-----")
    assert outs["serial"] > 0


def test_extra_records_are_served_beside_the_managed_ones(make_zone, settings):
    domain = unique_domain()
    long_text = "k=" + "x" * 400
    make_zone(domain=domain, records=[
        {"name": "@", "type": "TXT", "content": "google-site-verification=abc", "ttl": 3600},
        {"name": "blog", "type": "CNAME", "content": "Sites.Example.net", "ttl": 300},
        {"name": "lists", "type": "MX", "content": "5 mx.example.net", "ttl": 300},
        {"name": "_sip._tcp", "type": "SRV", "content": "10 5 5060 SIP.example.net", "ttl": 300},
        {"name": "long", "type": "TXT", "content": long_text, "ttl": 300},
        {"name": "@", "type": "AAAA", "content": "2001:DB8:0::1", "ttl": 300},
        {"name": "@", "type": "CAA", "content": '0 issue "letsencrypt.org"', "ttl": 300},
    ])

    assert dig(settings, domain, "TXT") == ["google-site-verification=abc", "v=spf1 a mx -all"]
    assert dig(settings, f"blog.{domain}", "CNAME") == ["sites.example.net."]
    assert dig(settings, f"lists.{domain}", "MX") == ["5 mx.example.net."]
    assert dig(settings, f"_sip._tcp.{domain}", "SRV") == ["10 5 5060 sip.example.net."]
    assert dig(settings, f"long.{domain}", "TXT") == [long_text]
    assert dig(settings, domain, "AAAA") == ["2001:db8::1"]
    assert dig(settings, domain, "CAA") == ['0 issue "letsencrypt.org"']


def test_read_of_an_untouched_zone_reports_exactly_the_created_outputs(make_zone, zone_provider):
    id_, outs = make_zone(domain=unique_domain(), records=[
        {"name": "@", "type": "TXT", "content": "hello \"world\"", "ttl": 600},
        {"name": "blog", "type": "CNAME", "content": "sites.example.net", "ttl": 300},
    ])
    read = zone_provider.read(id_, outs)
    assert read.id == id_
    assert read.outs == outs


def test_read_reports_a_record_changed_behind_our_back_and_the_next_update_restores_only_it(
        make_zone, zone_provider, settings):
    domain = unique_domain()
    id_, outs = make_zone(domain=domain, records=[{"name": "blog", "type": "A", "content": "192.0.2.20", "ttl": 300}])
    api(settings, "PATCH", f"/zones/{id_}", json={"rrsets": [
        {"name": f"blog.{id_}", "type": "A", "ttl": 300, "changetype": "REPLACE",
         "records": [{"content": "203.0.113.9", "disabled": False}]},
        {"name": f"www.{id_}", "type": "A", "changetype": "DELETE", "records": []}]})

    refreshed = zone_provider.read(id_, outs).outs
    assert refreshed["records"] == [{"name": "blog", "type": "A", "content": "203.0.113.9", "ttl": 300}]
    inputs = {k: outs[k] for k in dns_zone.INPUT_KEYS}
    assert zone_provider.diff(id_, refreshed, inputs).changes is True

    sent = _patches_sent_by(lambda: zone_provider.update(id_, refreshed, inputs), settings)
    assert sorted((r["name"], r["type"], r["changetype"]) for r in sent) == [
        (f"blog.{id_}", "A", "REPLACE"), (f"www.{id_}", "A", "REPLACE")]
    assert dig(settings, f"blog.{domain}", "A") == ["192.0.2.20"]
    assert dig(settings, f"www.{domain}", "A") == ["192.0.2.10"]


# --- updates are minimal -------------------------------------------------------------------------

def _patches_sent_by(action, settings) -> list[dict]:
    """Run `action` with the provider talking through a recording proxy; the rrsets it PATCHed."""
    with FaultProxy(settings.POWERDNS_API_URL) as proxy:
        reconfigure(POWERDNS_API_URL=proxy.url)
        try:
            action()
        finally:
            restore_config()
        return [rrset for r in proxy.requests("PATCH") for rrset in json.loads(r.body)["rrsets"]]


def test_an_update_sends_only_the_rrset_that_changed(make_zone, zone_provider, settings):
    domain = unique_domain()
    id_, outs = make_zone(domain=domain, records=[{"name": "blog", "type": "A", "content": "192.0.2.20", "ttl": 300}])
    news = zone_provider.check(outs, {**{k: outs[k] for k in dns_zone.INPUT_KEYS},
                                      "mail_host": "mx2.migrahosting.com"}).inputs

    updated = {}
    sent = _patches_sent_by(lambda: updated.update(zone_provider.update(id_, outs, news).outs), settings)

    assert sent == [{"name": id_, "type": "MX", "ttl": 3600, "changetype": "REPLACE",
                     "records": [{"content": "10 mx2.migrahosting.com.", "disabled": False}]}]
    assert dig(settings, domain, "MX") == ["10 mx2.migrahosting.com."]
    assert updated["serial"] > outs["serial"]
    assert updated["dkim_private_key"] == outs["dkim_private_key"]


def test_a_removed_extra_record_is_deleted_and_nothing_else_is_touched(make_zone, zone_provider, settings):
    domain = unique_domain()
    id_, outs = make_zone(domain=domain, records=[
        {"name": "blog", "type": "A", "content": "192.0.2.20", "ttl": 300},
        {"name": "shop", "type": "A", "content": "192.0.2.21", "ttl": 300}])
    news = zone_provider.check(outs, {**{k: outs[k] for k in dns_zone.INPUT_KEYS},
                                      "records": [{"name": "shop", "type": "A", "content": "192.0.2.21",
                                                   "ttl": 300}]}).inputs

    sent = _patches_sent_by(lambda: zone_provider.update(id_, outs, news), settings)

    assert sent == [{"name": f"blog.{id_}", "type": "A", "changetype": "DELETE", "records": []}]
    assert dig(settings, f"blog.{domain}", "A") == []
    assert dig(settings, f"shop.{domain}", "A") == ["192.0.2.21"]


def test_a_diff_with_nothing_to_change_leads_to_no_patch_at_all(make_zone, zone_provider, settings):
    id_, outs = make_zone(domain=unique_domain())
    news = zone_provider.check(outs, {k: outs[k] for k in dns_zone.INPUT_KEYS}).inputs
    assert zone_provider.diff(id_, outs, news).changes is False
    assert _patches_sent_by(lambda: zone_provider.update(id_, outs, news), settings) == []


def test_changing_the_dkim_selector_moves_the_same_key_to_the_new_name(make_zone, zone_provider, settings):
    domain = unique_domain()
    id_, outs = make_zone(domain=domain)
    news = zone_provider.check(outs, {**{k: outs[k] for k in dns_zone.INPUT_KEYS}, "dkim_selector": "k2"}).inputs

    updated = zone_provider.update(id_, outs, news).outs

    assert dig(settings, f"k2._domainkey.{domain}", "TXT") == [dkim_text(outs["dkim_public_key"])]
    assert dig(settings, f"mpanel._domainkey.{domain}", "TXT") == []
    assert updated["dkim_public_key"] == outs["dkim_public_key"]


# --- adoption, deletion, check -------------------------------------------------------------------

def test_a_zone_with_our_nameservers_but_no_owner_mark_is_not_adopted(zone_provider, settings):
    # The operator's own zone (or any made outside mpanel): our NS, account empty.
    domain = unique_domain()
    api(settings, "POST", "/zones", json={
        "name": domain + ".", "kind": "Native", "nameservers": [settings.NS1 + ".", settings.NS2 + "."],
        "rrsets": [{"name": domain + ".", "type": "A", "ttl": 3600, "changetype": "REPLACE",
                    "records": [{"content": "198.51.100.9", "disabled": False}]}]})
    before = api(settings, "GET", f"/zones/{domain}.").json()
    try:
        with pytest.raises(NotOurs) as caught:
            zone_provider.create(zone_provider.check({}, {"owner": OWNER, "domain": domain, "server_ip": "192.0.2.10"}).inputs)
        assert caught.value.code == "not_ours" and not caught.value.retryable
        assert f"{domain}." in caught.value.message and "no mpanel owner mark" in caught.value.message
        assert api(settings, "GET", f"/zones/{domain}.").json() == before
        assert dig(settings, domain, "A") == ["198.51.100.9"]
    finally:
        api(settings, "DELETE", f"/zones/{domain}.")


def test_a_new_zone_carries_its_stack_as_its_account(make_zone, settings):
    id_, outs = make_zone(domain=unique_domain(), owner=OWNER)
    assert api(settings, "GET", f"/zones/{id_}").json()["account"] == OWNER
    assert outs["owner"] == OWNER


def test_a_zone_recorded_before_marks_existed_gets_its_mark_in_place(zone_provider, make_zone, settings):
    id_, outs = make_zone(domain=unique_domain(), owner=OWNER)
    assert api(settings, "PUT", f"/zones/{id_}", json={"account": ""}).status_code == 204
    olds = zone_provider.read(id_, {k: v for k, v in outs.items() if k != "owner"}).outs
    assert olds["owner"] is None
    news = zone_provider.check(olds, {**{k: outs[k] for k in dns_zone.INPUT_KEYS}}).inputs
    diff = zone_provider.diff(id_, olds, news)
    assert diff.changes is True and diff.replaces == []
    zone_provider.update(id_, olds, news)
    assert api(settings, "GET", f"/zones/{id_}").json()["account"] == OWNER


def test_adopting_a_crashed_create_converges_the_zone_to_the_declared_records(zone_provider, settings):
    domain = unique_domain()
    inputs = zone_provider.check({}, {"owner": OWNER, "domain": domain, "server_ip": "192.0.2.10"}).inputs
    api(settings, "POST", "/zones", json={
        "name": domain + ".", "kind": "Native", "nameservers": [n + "." for n in inputs["nameservers"]],
        "account": OWNER,
        "rrsets": [{"name": f"stale.{domain}.", "type": "A", "ttl": 60, "changetype": "REPLACE",
                    "records": [{"content": "192.0.2.99", "disabled": False}]}]})
    try:
        outs = zone_provider.create(inputs).outs
        assert dig(settings, f"www.{domain}", "A") == ["192.0.2.10"]
        assert dig(settings, f"stale.{domain}", "A") == []
        assert dig(settings, f"mpanel._domainkey.{domain}", "TXT") == [dkim_text(outs["dkim_public_key"])]
    finally:
        api(settings, "DELETE", f"/zones/{domain}.")


def test_check_fills_in_the_defaults_from_the_settings(zone_provider, settings):
    inputs = zone_provider.check({}, {"owner": OWNER, "domain": "Example.COM.", "server_ip": " 192.0.2.1 "}).inputs
    assert inputs == {"domain": "example.com", "server_ip": "192.0.2.1", "mail_host": settings.MAIL_SERVER_HOST,
                      "nameservers": [settings.NS1, settings.NS2], "records": [], "dkim_selector": "mpanel",
                      "owner": OWNER}


@pytest.mark.parametrize("records, reason", [
    ([{"name": "@", "type": "A", "content": "192.0.2.1"}], "server_ip"),
    ([{"name": "@", "type": "MX", "content": "10 mx.example.net"}], "mail_host"),
    ([{"name": "@", "type": "TXT", "content": "v=spf1 -all"}], "SPF"),
    ([{"name": "www", "type": "CNAME", "content": "example.net"}], "CNAME"),
    ([{"name": "a", "type": "CNAME", "content": "example.net"}, {"name": "a", "type": "TXT", "content": "x"}],
     "CNAME"),
    ([{"name": "a", "type": "A", "content": "192.0.2.1", "ttl": 300},
      {"name": "a", "type": "A", "content": "192.0.2.2", "ttl": 600}], "one ttl"),
    ([{"name": "_acme-challenge", "type": "TXT", "content": "x"}], "certificate"),
    ([{"name": "a.example.com.", "type": "A", "content": "192.0.2.1"}], "relative"),
])
def test_check_refuses_records_that_clash_with_the_zone_it_manages(zone_provider, records, reason):
    failures = zone_provider.check({}, {"owner": OWNER, "domain": "example.com", "server_ip": "192.0.2.1", "records": records}).failures
    assert [f.property for f in failures] == ["records"] * len(failures) and failures
    assert any(reason in f.reason for f in failures), [f.reason for f in failures]


def test_check_lets_unknown_values_through_during_preview(zone_provider):
    checked = zone_provider.check({}, {"owner": OWNER, "domain": "example.com", "server_ip": UNKNOWN})
    assert checked.failures == [] and checked.inputs["server_ip"] == UNKNOWN
    diff = zone_provider.diff("example.com.", {"domain": "example.com"}, checked.inputs)
    assert diff.changes is True and diff.replaces == []


def test_a_vanished_zone_is_recreated_by_the_next_update(make_zone, zone_provider, settings):
    domain = unique_domain()
    id_, outs = make_zone(domain=domain)
    api(settings, "DELETE", f"/zones/{id_}")
    news = zone_provider.check(outs, {**{k: outs[k] for k in dns_zone.INPUT_KEYS}, "server_ip": "192.0.2.12"}).inputs
    zone_provider.update(id_, outs, news)
    assert dig(settings, f"www.{domain}", "A") == ["192.0.2.12"]


# --- the challenge helpers the certificate provider uses -----------------------------------------

def test_challenge_txt_records_are_one_rrset_and_invisible_to_the_zone_resource(make_zone, zone_provider, settings):
    domain = unique_domain()
    id_, outs = make_zone(domain=domain)
    client = PowerDnsClient(current(), FAST_RETRY)

    assert client.zone_for(f"www.{domain}") == id_
    client.set_txt(id_, f"_acme-challenge.{domain}", ["token-one", "token-two"])
    assert dig(settings, f"_acme-challenge.{domain}", "TXT") == ["token-one", "token-two"]
    read = zone_provider.read(id_, outs).outs
    assert read["records"] == outs["records"] and read["rrsets"] == outs["rrsets"]

    client.clear_txt(id_, f"_acme-challenge.{domain}")
    client.clear_txt(id_, f"_acme-challenge.{domain}")
    assert dig(settings, f"_acme-challenge.{domain}", "TXT") == []


def test_a_change_powerdns_refuses_is_permanent_and_carries_its_reason(make_zone, settings):
    id_, _ = make_zone(domain=unique_domain())
    with pytest.raises(ProviderError) as caught:
        PowerDnsClient(current(), FAST_RETRY).patch_rrsets(id_, [powerdns.replace(
            f"www.{id_}", "CNAME", 300, [{"content": "elsewhere.example.net.", "disabled": False}])])
    assert caught.value.status == 422 and not caught.value.retryable
    assert "Conflicts with pre-existing RRset" in caught.value.message


def test_zone_for_a_name_no_zone_serves_is_none(settings):
    assert PowerDnsClient(current(), FAST_RETRY).zone_for(f"www.{unique_domain()}") is None


# --- hygiene -------------------------------------------------------------------------------------

def test_the_provider_pickles_without_any_credential(settings):
    import dill

    provider = DnsZoneProvider()
    provider.retry = FAST_RETRY
    blob = dill.dumps(provider, recurse=True) + pickle.dumps(provider)
    assert settings.POWERDNS_API_KEY.encode() not in blob


@pytest.mark.parametrize("text", ["", "plain", 'quo"te and back\\slash', "caf\u00e9 \u2603", "y" * 600],
                         ids=["empty", "plain", "escapes", "utf-8", "longer-than-255"])
def test_txt_content_round_trips_through_the_quoted_form(text):
    content = dns_records.txt_content(text)
    assert dns_records.txt_text(content) == text
    assert content.startswith('"') and content.endswith('"')
