"""The certificate provider against the real pebble CA, validating through the real PowerDNS."""
from __future__ import annotations

import datetime
import pickle
import secrets
import stat
import time

import dns.message
import dns.query
import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509 import DNSName
from cryptography.x509.verification import PolicyBuilder, Store

from providers.clients import acme
from providers.core.config import current
from providers.core.errors import ProviderError
from providers.resources import certificate
from providers.resources.certificate import CertificateProvider
from providers.resources.dns_zone import DnsZoneProvider
from tests.providers.conftest import reconfigure, restore_config
from tests.providers.contract import FAST_RETRY, OWNER, ProviderContract
from tests.providers.dns_acme_proxy import FaultProxy


# --- helpers -------------------------------------------------------------------------------------

def ca_status(settings, serial: str) -> str:
    """What pebble's management API says about a certificate: Valid, Revoked, or missing."""
    response = requests.get(f"{settings.ACME_MANAGEMENT_URL}/cert-status-by-serial/{serial}",
                            verify=settings.ACME_CA_BUNDLE, timeout=10)
    return response.json()["Status"] if response.status_code == 200 else "missing"


def pebble_root(settings) -> x509.Certificate:
    response = requests.get(f"{settings.ACME_MANAGEMENT_URL}/roots/0", verify=settings.ACME_CA_BUNDLE, timeout=10)
    response.raise_for_status()
    return x509.load_pem_x509_certificate(response.content)


def served_txt(settings, name: str) -> list[str]:
    host, port = settings.POWERDNS_DNS_ADDRESS.rsplit(":", 1)
    answer = dns.query.udp(dns.message.make_query(name, "TXT"), host, port=int(port), timeout=3)
    return [b"".join(r.strings).decode() for rrset in answer.answer for r in rrset]


class Zones:
    """Hosted zones made with the DNS zone provider for certificate tests, removed afterwards."""

    def __init__(self):
        self.provider = DnsZoneProvider()
        self.provider.retry = FAST_RETRY
        self.made: list[str] = []

    def make(self, domain: str) -> str:
        checked = self.provider.check({}, {"owner": OWNER, "domain": domain, "server_ip": "192.0.2.10"})
        self.made.append(self.provider.create(checked.inputs).id)
        return domain

    def remove(self, domain: str) -> None:
        self.provider.delete(domain + ".", {})

    def remove_all(self) -> None:
        for zone in self.made:
            self.provider.delete(zone, {})


@pytest.fixture
def zones(settings):
    made = Zones()
    yield made
    made.remove_all()


@pytest.fixture
def cert_provider(settings):
    provider = CertificateProvider()
    provider.retry = FAST_RETRY
    return provider


@pytest.fixture
def issued(cert_provider, zones):
    """A certificate for a fresh hosted domain: (domain, id, outputs); revoked at the end."""
    domain = zones.make(f"cert-{secrets.token_hex(4)}.test")
    checked = cert_provider.check({}, {"domain": domain})
    result = cert_provider.create(checked.inputs)
    yield domain, result.id, {**checked.inputs, **result.outs}
    cert_provider.delete(result.id, result.outs)


# --- the contract ------------------------------------------------------------------------------

class TestCertificateContract(ProviderContract):
    @pytest.fixture(autouse=True)
    def _environment(self, settings, zones):
        self.settings = settings
        self.zones = zones
        self.proxy = None
        self.domain = None
        self.patches = pytest.MonkeyPatch()
        yield
        self.patches.undo()

    def make_provider(self):
        return CertificateProvider()

    def new_inputs(self, unique):
        self.domain = self.zones.make(f"contract-{unique}.test")
        return {"domain": self.domain}

    def invalid_inputs(self, inputs):
        return [
            ({**inputs, "domain": "not a domain"}, "domain"),
            ({**inputs, "alt_names": ["ok.example.com", "bad name"]}, "alt_names"),
            ({**inputs, "alt_names": "www.example.com"}, "alt_names"),
            ({**inputs, "key_type": "dsa1024"}, "key_type"),
            ({**inputs, "renew_before_days": -1}, "renew_before_days"),
            ({**inputs, "renew_before_days": "thirty"}, "renew_before_days"),
        ]

    def in_place_change(self, inputs):
        return {**inputs, "renew_before_days": 31}, "renew_before_days"

    def replacing_change(self, inputs):
        return {**inputs, "alt_names": [f"www.{inputs['domain']}", f"shop.{inputs['domain']}"]}, "alt_names"

    def expected_outputs(self, inputs):
        return {"domain": inputs["domain"], "alt_names": [f"www.{inputs['domain']}"], "renew_before_days": 30,
                "key_type": "ec256", "renewal_due": False}

    def exists_upstream(self, id_, outs):
        return ca_status(self.settings, id_) == "Valid"

    def make_drift(self, id_, outs):
        # A certificate changes behind our back only by ageing (revocation reads as gone):
        # move the provider's clock to the day before it expires.
        expiry = acme.parse_iso(outs["not_after"])
        self.patches.setattr(acme, "utcnow", lambda: expiry - datetime.timedelta(days=1))
        return "renewal_due"

    def create_behind_pulumi(self, inputs):
        # Issued, then the worker died before the state recorded it: the key is lost with it.
        # Nothing to adopt: a certificate without its key is of no use, so a new one is issued.
        acme.AcmeClient(current(), FAST_RETRY).issue(inputs["domain"], inputs["alt_names"], inputs["key_type"])
        return None

    def inject_fault(self, transient):
        if transient:
            upstream = self.settings.ACME_DIRECTORY_URL.rsplit("/", 1)[0]
            self.proxy = FaultProxy(upstream, failures=1, verify=self.settings.ACME_CA_BUNDLE).start()
            reconfigure(ACME_DIRECTORY_URL=self.proxy.url + "/dir")
        else:
            # The zone the challenge must go into is gone: nothing a retry could fix.
            self.zones.remove(self.domain)

    def fault_fired(self):
        return self.proxy is not None and self.proxy.failures == 0 and len(self.proxy.requests()) >= 2

    def clear_faults(self):
        self.patches.undo()
        restore_config()
        if self.proxy is not None:
            self.proxy.stop()
            self.proxy = None

    def test_the_transient_fault_was_a_503_on_the_directory_then_a_success(self, provider, inputs):
        self.inject_fault(transient=True)
        result = provider.create(provider.check({}, inputs).inputs)
        try:
            assert [r.path for r in self.proxy.requests()] == ["/dir", "/dir"]
        finally:
            self.clear_faults()
            provider.delete(result.id, result.outs)

    def test_a_missing_zone_is_named_in_the_error(self, provider, inputs):
        self.inject_fault(transient=False)
        with pytest.raises(ProviderError) as caught:
            provider.create(provider.check({}, inputs).inputs)
        assert caught.value.code == "zone_not_found" and inputs["domain"] in caught.value.message


# --- what is issued --------------------------------------------------------------------------------

def test_the_issued_chain_verifies_against_pebbles_root_for_the_domain_and_www(issued, settings):
    domain, id_, outs = issued
    leaf = x509.load_pem_x509_certificate(outs["certificate_pem"].encode())
    intermediates = x509.load_pem_x509_certificates(outs["chain_pem"].encode())

    verifier = PolicyBuilder().store(Store([pebble_root(settings)])).build_server_verifier(DNSName(f"www.{domain}"))
    chain = verifier.verify(leaf, intermediates)

    assert chain[0] == leaf and chain[-1] == pebble_root(settings)
    sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sorted(sans.get_values_for_type(DNSName)) == sorted([domain, f"www.{domain}"])
    assert outs["fullchain_pem"] == outs["certificate_pem"] + outs["chain_pem"]
    assert id_ == outs["serial"] == format(leaf.serial_number, "x")
    assert outs["issuer"] == leaf.issuer.rfc4514_string()
    assert acme.parse_iso(outs["not_after"]) == leaf.not_valid_after_utc
    assert outs["not_after"].endswith("Z") and outs["renewal_due"] is False


def test_the_private_key_output_belongs_to_the_certificate_and_is_the_requested_type(issued):
    _, _, outs = issued
    key = serialization.load_pem_private_key(outs["private_key_pem"].encode(), password=None)
    leaf = x509.load_pem_x509_certificate(outs["certificate_pem"].encode())
    assert key.public_key() == leaf.public_key()
    assert key.curve.name == "secp256r1"


def test_an_rsa_key_type_gets_an_rsa_certificate(cert_provider, zones):
    domain = zones.make(f"rsa-{secrets.token_hex(4)}.test")
    outs = cert_provider.create(cert_provider.check({}, {"domain": domain, "alt_names": [],
                                                         "key_type": "rsa2048"}).inputs).outs
    try:
        leaf = x509.load_pem_x509_certificate(outs["certificate_pem"].encode())
        assert leaf.public_key().key_size == 2048
        assert leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value \
            .get_values_for_type(DNSName) == [domain]
    finally:
        cert_provider.delete(outs["serial"], outs)


def test_no_challenge_txt_record_is_left_after_issuance(issued, settings):
    domain, _, _ = issued
    assert served_txt(settings, f"_acme-challenge.{domain}") == []
    assert served_txt(settings, f"_acme-challenge.www.{domain}") == []


def test_a_wrong_challenge_value_fails_quickly_with_the_acme_problem_and_cleans_up(
        cert_provider, zones, settings, monkeypatch):
    domain = zones.make(f"wrong-{secrets.token_hex(4)}.test")
    monkeypatch.setattr(acme, "challenge_txt_value", lambda challb, key: "not-the-right-value")

    started = time.monotonic()
    with pytest.raises(ProviderError) as caught:
        cert_provider.create(cert_provider.check({}, {"domain": domain}).inputs)
    elapsed = time.monotonic() - started

    error = caught.value
    assert error.provider == "acme" and not error.retryable
    assert error.message.startswith("DNS-01 validation failed for ")
    assert domain in error.message and "Correct value not found" in error.message
    assert error.code == "urn:ietf:params:acme:error:unauthorized"
    assert elapsed < 5, f"a refused challenge took {elapsed:.2f}s"
    assert served_txt(settings, f"_acme-challenge.{domain}") == []
    assert served_txt(settings, f"_acme-challenge.www.{domain}") == []


# --- renewal -------------------------------------------------------------------------------------

def test_a_certificate_inside_its_renewal_window_is_replaced_and_a_fresh_one_is_not(issued, cert_provider):
    _, id_, outs = issued
    inputs = {k: outs[k] for k in certificate.INPUT_KEYS}
    lifetime_days = (acme.parse_iso(outs["not_after"]) - acme.utcnow()).days

    fresh = cert_provider.diff(id_, outs, cert_provider.check(outs, inputs).inputs)
    due = cert_provider.diff(id_, outs, cert_provider.check(
        outs, {**inputs, "renew_before_days": lifetime_days + 1}).inputs)

    assert fresh.changes is False and fresh.replaces == []
    assert due.changes is True and due.replaces == ["not_after"] and due.delete_before_replace is False


def test_the_renewal_window_is_reached_by_time_alone(issued, cert_provider, monkeypatch):
    _, id_, outs = issued
    inputs = cert_provider.check(outs, {k: outs[k] for k in certificate.INPUT_KEYS}).inputs
    expiry = acme.parse_iso(outs["not_after"])
    monkeypatch.setattr(acme, "utcnow", lambda: expiry - datetime.timedelta(days=inputs["renew_before_days"] - 1))

    assert cert_provider.diff(id_, outs, inputs).replaces == ["not_after"]
    assert cert_provider.read(id_, outs).outs["renewal_due"] is True


def test_changing_the_key_type_replaces_the_certificate(issued, cert_provider):
    _, id_, outs = issued
    news = cert_provider.check(outs, {**{k: outs[k] for k in certificate.INPUT_KEYS}, "key_type": "ec384"}).inputs
    diff = cert_provider.diff(id_, outs, news)
    assert diff.changes is True and diff.replaces == ["key_type"]


# --- read and delete -----------------------------------------------------------------------------

def test_read_reports_the_stored_certificate_as_it_is(issued, cert_provider):
    _, id_, outs = issued
    read = cert_provider.read(id_, outs)
    assert read.id == id_ and read.outs == outs


def test_read_of_state_without_a_certificate_reports_it_gone(cert_provider, settings):
    assert cert_provider.read("abc", {"domain": "example.com"}).id == ""


def test_delete_revokes_the_certificate_at_the_ca(issued, cert_provider, settings):
    _, id_, outs = issued
    cert_provider.delete(id_, outs)
    assert ca_status(settings, id_) == "Revoked"
    assert cert_provider.read(id_, outs).id == ""


# --- account, check, hygiene ---------------------------------------------------------------------

def test_the_account_key_is_created_private_on_first_use_and_then_reused(cert_provider, zones, tmp_path,
                                                                         configure, settings):
    path = tmp_path / "keys" / "acme-account.pem"
    configure(ACME_ACCOUNT_KEY_PATH=str(path))
    domain = zones.make(f"acct-{secrets.token_hex(4)}.test")

    first = cert_provider.create(cert_provider.check({}, {"domain": domain}).inputs).outs
    key_bytes = path.read_bytes()
    second = cert_provider.create(cert_provider.check({}, {"domain": domain}).inputs).outs
    try:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert path.read_bytes() == key_bytes
        assert first["serial"] != second["serial"]
    finally:
        for outs in (first, second):
            cert_provider.delete(outs["serial"], outs)


def test_check_fills_in_the_defaults(cert_provider):
    checked = cert_provider.check({}, {"domain": "Example.COM"})
    assert checked.failures == []
    assert checked.inputs == {"domain": "example.com", "alt_names": ["www.example.com"],
                              "renew_before_days": 30, "key_type": "ec256"}


def test_check_accepts_a_wildcard_alt_name_and_drops_a_repeated_domain(cert_provider):
    checked = cert_provider.check({}, {"domain": "example.com", "alt_names": ["*.Example.com", "example.com"]})
    assert checked.failures == [] and checked.inputs["alt_names"] == ["*.example.com"]


def test_the_provider_pickles_without_any_credential_or_key(settings, issued):
    import dill

    provider = CertificateProvider()
    blob = dill.dumps(provider, recurse=True) + pickle.dumps(provider)
    assert b"PRIVATE KEY" not in blob and settings.POWERDNS_API_KEY.encode() not in blob
