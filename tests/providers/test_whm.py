"""WHM accounts and TLS, against the running WHM stand-in: the provider contract plus WHM's own rules.

The stand-in is shared with other test runs: names are unique, only faults this module
set are ever cleared, and every fault fires once (`count` 1) for the next request of
one operation.
"""
from __future__ import annotations

import datetime
import secrets

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from providers.core.claims import ClaimLedger
from providers.core.config import current
from providers.core.errors import NeedsOperator, NotOurs, ProviderError
from providers.core.retry import RetryPolicy
from providers.clients.whm import derive_username, username_stem
from providers.resources.whm_account import WhmAccountProvider
from providers.resources.whm_ssl import WhmSslProvider
from tests.providers.conftest import reconfigure
from tests.providers.contract import FAST_RETRY, OTHER_OWNER, OWNER, ProviderContract

pytestmark = pytest.mark.usefixtures("settings")


class WhmStandIn:
    """Talks to the stand-in directly (not through the client under test) to set up and observe."""

    def __init__(self, settings):
        self.url = settings.CPANEL_WHM_URL.rstrip("/")
        self.token = settings.CPANEL_WHM_API_TOKEN
        self.headers = {"Authorization": f"whm {settings.CPANEL_WHM_USERNAME}:{self.token}"}
        self.fault_ids: list[int] = []

    def api(self, function: str, **params) -> dict:
        body = requests.post(f"{self.url}/json-api/{function}", data={"api.version": "1", **params},
                             headers=self.headers, timeout=30).json()
        assert body["metadata"]["result"] == 1, body["metadata"]["reason"]
        return body.get("data") or {}

    def accounts(self, search: str, searchtype: str = "user", method: str = "exact") -> list[dict]:
        return self.api("listaccts", search=search, searchtype=searchtype, searchmethod=method)["acct"]

    def account(self, user: str) -> dict | None:
        found = self.accounts(user)
        return found[0] if found else None

    def create_account(self, username: str, domain: str, plan: str = "mpanel_starter",
                       contact_email: str = "") -> None:
        self.api("createacct", username=username, domain=domain, plan=plan, contactemail=contact_email,
                 password=secrets.token_urlsafe(16))

    def remove_account(self, user: str) -> None:
        requests.post(f"{self.url}/json-api/removeacct", data={"api.version": "1", "username": user},
                      headers=self.headers, timeout=30)

    def drift(self, user: str, **changes) -> None:
        response = requests.post(f"{self.url}/_sandbox/accounts/{user}", json=changes, timeout=10)
        assert response.status_code == 200, response.text

    def fault(self, **spec) -> None:
        response = requests.post(f"{self.url}/_sandbox/faults", json={"count": 1, **spec}, timeout=10)
        assert response.status_code == 201, response.text
        self.fault_ids.append(response.json()["id"])

    def pending_faults(self) -> list[int]:
        live = requests.get(f"{self.url}/_sandbox/state", timeout=10).json()["faults"]
        return [f["id"] for f in live if f["id"] in self.fault_ids]

    def clear_own_faults(self) -> None:
        # The control API can only clear every fault at once: do it only when one of ours
        # is still armed (a failed test), so other runs' faults survive normal runs.
        if self.pending_faults():
            requests.delete(f"{self.url}/_sandbox/faults", timeout=10)
        self.fault_ids.clear()


def claims() -> ClaimLedger:
    return ClaimLedger("whm", current())


def claim(domain: str, owner: str, username: str) -> None:
    """What the provider records before createacct (a crash after it leaves exactly this)."""
    assert claims().claim(domain, owner, username)["owner"] == owner


def home(settings, user: str):
    from pathlib import Path

    return Path(settings.SITES_HOME_ROOT) / user


def unique_domain(prefix: str = "wh") -> str:
    return f"{prefix}{secrets.token_hex(3)}.example"


def self_signed(domain: str) -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, domain)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=90))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(domain), x509.DNSName(f"www.{domain}")]),
                       critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem


@pytest.fixture
def whm(settings):
    stand_in = WhmStandIn(settings)
    yield stand_in
    stand_in.clear_own_faults()


@pytest.fixture
def accounts_provider():
    return WhmAccountProvider(retry=FAST_RETRY)


@pytest.fixture
def make_account(accounts_provider, whm):
    """Create accounts through the provider; remove them (upstream) after the test."""
    made: list[str] = []

    def make(**inputs):
        checked = accounts_provider.check({}, {"owner": OWNER, "plan": "mpanel_starter", **inputs})
        assert not checked.failures, checked.failures
        result = accounts_provider.create(checked.inputs)
        made.append(result.id)
        return result.id, {**checked.inputs, **result.outs}

    yield make
    for user in made:
        whm.remove_account(user)


# --- the contract ---------------------------------------------------------------------------

class TestWhmAccountContract(ProviderContract):
    @pytest.fixture(autouse=True)
    def _stand_in(self, whm, monkeypatch, settings):
        self.whm = whm
        self.settings = settings
        self.monkeypatch = monkeypatch

    def make_provider(self):
        return WhmAccountProvider()

    def new_inputs(self, unique):
        return {"owner": OWNER, "domain": f"ct{unique}.example", "plan": "mpanel_starter",
                "contact_email": f"owner@ct{unique}.example"}

    def invalid_inputs(self, inputs):
        return [
            ({**inputs, "domain": "not a domain"}, "domain"),
            ({**inputs, "domain": "-shop.example"}, "domain"),
            ({**inputs, "username": "1shop"}, "username"),
            ({**inputs, "username": "testshop"}, "username"),
            ({**inputs, "username": "Shop"}, "username"),
            ({**inputs, "username": "a" * 17}, "username"),
            ({**inputs, "quota_mb": 0}, "quota_mb"),
            ({**inputs, "quota_mb": 1_048_577}, "quota_mb"),
            ({**inputs, "quota_mb": 1.5}, "quota_mb"),
            ({**inputs, "plan": ""}, "plan"),
        ]

    def in_place_change(self, inputs):
        return {**inputs, "plan": "mpanel_business"}, "plan"

    def replacing_change(self, inputs):
        return {**inputs, "domain": unique_domain("rp")}, "domain"

    def expected_outputs(self, inputs):
        return {"domain": inputs["domain"], "plan": inputs["plan"], "suspended": False,
                "contact_email": inputs["contact_email"], "cpanel_url": "https://127.0.0.1:2083"}

    def exists_upstream(self, id_, outs):
        return self.whm.account(id_) is not None

    def make_drift(self, id_, outs):
        self.whm.drift(id_, plan="mpanel_student")
        return "plan"

    def create_behind_pulumi(self, inputs):
        # What a create that crashed after createacct leaves: our claim, and the account under the
        # derived name.
        claim(inputs["domain"], inputs["owner"], username_stem(inputs["domain"]))
        self.whm.create_account(username_stem(inputs["domain"]), inputs["domain"], inputs["plan"],
                                contact_email=inputs["contact_email"])
        return username_stem(inputs["domain"])

    def objects_upstream(self, inputs):
        return len(self.whm.accounts(inputs["domain"], "domain"))

    def create_foreign(self, inputs):
        # Made in WHM by someone else, with the very contact email this order gives: that email
        # is the orderer's to choose, so it proves nothing.
        self.foreign_user = "fx" + secrets.token_hex(3)
        self.whm.create_account(self.foreign_user, inputs["domain"], "mpanel_student",
                                contact_email=inputs["contact_email"])
        (home(self.settings, self.foreign_user) / "public_html" / "index.html").write_text("their site\n")
        return inputs

    def upstream_snapshot(self, inputs):
        summary = self.whm.api("accountsummary", user=self.foreign_user)["acct"][0]
        return summary, (home(self.settings, self.foreign_user) / "public_html" / "index.html").read_text()

    def remove_foreign(self, inputs):
        self.whm.remove_account(self.foreign_user)

    def inject_fault(self, transient):
        if transient:
            self.whm.fault(operation="createacct", kind="http", status=503)
        else:
            reconfigure(CPANEL_WHM_API_TOKEN="not-the-token-" + secrets.token_hex(8))

    def fault_fired(self):
        return bool(self.whm.fault_ids) and self.whm.pending_faults() == []

    def clear_faults(self):
        self.whm.clear_own_faults()


class TestWhmSslContract(ProviderContract):
    """The certificate of an account made for each test straight at the stand-in."""

    @pytest.fixture(autouse=True)
    def _stand_in(self, whm):
        self.whm = whm
        self.accounts: list[str] = []
        yield
        for user in self.accounts:
            whm.remove_account(user)

    def make_provider(self):
        return WhmSslProvider()

    def new_inputs(self, unique):
        domain, username = f"sl{unique}.example", f"sl{unique}"
        self.whm.create_account(username, domain)
        self.accounts.append(username)
        crt, key = self_signed(domain)
        return {"domain": domain, "username": username, "certificate_pem": crt, "private_key_pem": key}

    def invalid_inputs(self, inputs):
        return [
            ({**inputs, "domain": "bad domain"}, "domain"),
            ({**inputs, "username": "9lives"}, "username"),
            ({**inputs, "certificate_pem": "hello"}, "certificate_pem"),
            ({**inputs, "private_key_pem": inputs["certificate_pem"]}, "private_key_pem"),
            ({**inputs, "chain_pem": "not a chain"}, "chain_pem"),
            ({**inputs, "force_https": "yes"}, "force_https"),
        ]

    def in_place_change(self, inputs):
        return {**inputs, "force_https": False}, "force_https"

    def replacing_change(self, inputs):
        return {**inputs, "username": "other" + secrets.token_hex(2)}, "username"

    def expected_outputs(self, inputs):
        return {"domain": inputs["domain"], "username": inputs["username"], "force_https": True}

    def exists_upstream(self, id_, outs):
        # Delete keeps the certificate (it goes with the account) and turns the redirect off:
        # "exists" means "installed and forcing HTTPS".
        body = requests.get(f"{self.whm.url}/json-api/fetchsslinfo", params={"api.version": "1", "domain": id_},
                            headers=self.whm.headers, timeout=10).json()
        return body["metadata"]["result"] == 1 and body["data"].get("ssl_redirect") == 1

    def make_drift(self, id_, outs):
        self.whm.api("uapi_cpanel", **{"cpanel.user": outs["username"], "cpanel.module": "SSL",
                                       "cpanel.function": "toggle_ssl_redirect_for_domains", "domains": id_,
                                       "state": "0"})
        return "force_https"

    def create_behind_pulumi(self, inputs):
        self.whm.api("installssl", domain=inputs["domain"], crt=inputs["certificate_pem"],
                     key=inputs["private_key_pem"])
        return inputs["domain"]

    def objects_upstream(self, inputs):
        body = requests.get(f"{self.whm.url}/json-api/fetchsslinfo", params={"api.version": "1",
                            "domain": inputs["domain"]}, headers=self.whm.headers, timeout=10).json()
        return 1 if body["metadata"]["result"] == 1 else 0

    def inject_fault(self, transient):
        if transient:
            self.whm.fault(operation="installssl", kind="http", status=503)
        else:
            reconfigure(CPANEL_WHM_API_TOKEN="not-the-token-" + secrets.token_hex(8))

    def fault_fired(self):
        return bool(self.whm.fault_ids) and self.whm.pending_faults() == []

    def clear_faults(self):
        self.whm.clear_own_faults()

    def test_read_of_a_vanished_object_reports_it_deleted(self, provider, created):
        # Delete keeps the certificate; it vanishes with its account.
        id_, outs = created
        provider.delete(id_, outs)
        assert not self.exists_upstream(id_, outs)
        self.whm.remove_account(outs["username"])
        assert provider.read(id_, outs).id in ("", None)


# --- usernames --------------------------------------------------------------------------------

def test_a_username_is_derived_from_the_domain_within_whm_rules():
    assert username_stem("myshop.example") == "myshop"
    assert username_stem("my-big-shop.example.com") == "mybigsho"
    assert username_stem("bakery.co.uk") == "bakery"
    assert username_stem("4seasons.example") == "u4season"
    assert username_stem("testing-lab.example") == "utesting"


def test_a_number_is_added_when_the_first_eight_characters_are_taken():
    assert derive_username("bakeryshop.example", []) == "bakerysh"
    assert derive_username("bakeryshop.example", ["bakeryshopping"]) == "bakerys1"
    assert derive_username("bakeryshop.example", ["bakerysh", "bakerys1"]) == "bakerys2"
    assert derive_username("mail.example", []) == "mail1"


def test_a_second_domain_with_the_same_first_eight_characters_gets_a_digit(make_account, whm):
    # Ends in a letter: a stem ending in "1" would itself be the first numbered name.
    stem = "cl" + secrets.token_hex(3)[:5] + "z"
    first, _ = make_account(domain=f"{stem}one.example")
    second, outs = make_account(domain=f"{stem}two.example")
    assert first == stem
    assert second == stem[:7] + "1" and outs["username"] == second
    assert whm.account(second)["domain"] == f"{stem}two.example"


def test_an_explicit_username_is_used_as_given(make_account, whm):
    username = "ex" + secrets.token_hex(3)
    id_, outs = make_account(domain=unique_domain(), username=username)
    assert id_ == username == outs["username"]
    assert whm.account(username) is not None


# --- what create applies --------------------------------------------------------------------

def test_the_package_and_a_quota_override_are_applied(make_account, whm):
    plain, _ = make_account(domain=unique_domain(), plan="mpanel_student")
    custom, _ = make_account(domain=unique_domain(), plan="mpanel_student", quota_mb=1234)
    assert whm.api("accountsummary", user=plain)["acct"][0]["disklimit"] == "5120M"
    summary = whm.api("accountsummary", user=custom)["acct"][0]
    assert (summary["plan"], summary["disklimit"]) == ("mpanel_student", "1234M")


def test_create_outputs_the_login_details(make_account, settings):
    id_, outs = make_account(domain=unique_domain(), contact_email="owner@example.com")
    assert outs["username"] == id_
    assert len(outs["password"]) >= 20
    assert outs["ip"] and outs["suspended"] is False and outs["plan"] == "mpanel_starter"
    assert outs["cpanel_url"] == "https://127.0.0.1:2083"


def test_an_account_created_suspended_is_suspended_with_its_reason(make_account, whm):
    id_, outs = make_account(domain=unique_domain(), suspended=True, suspend_reason="unpaid invoice")
    summary = whm.api("accountsummary", user=id_)["acct"][0]
    assert outs["suspended"] is True
    assert (summary["suspended"], summary["suspendreason"]) == (1, "unpaid invoice")


# --- in-place changes -------------------------------------------------------------------------

def test_suspend_and_unsuspend_happen_in_place(accounts_provider, make_account, whm):
    id_, outs = make_account(domain=unique_domain())
    suspended = accounts_provider.check(outs, {**outs, "suspended": True, "suspend_reason": "payment failed"}).inputs
    diff = accounts_provider.diff(id_, outs, suspended)
    assert diff.changes is True and diff.replaces == []
    outs = accounts_provider.update(id_, outs, suspended).outs
    summary = whm.api("accountsummary", user=id_)["acct"][0]
    assert outs["suspended"] is True and (summary["suspended"], summary["suspendreason"]) == (1, "payment failed")

    active = accounts_provider.check(outs, {**outs, "suspended": False}).inputs
    outs = accounts_provider.update(id_, outs, active).outs
    assert outs["suspended"] is False and whm.api("accountsummary", user=id_)["acct"][0]["suspended"] == 0


def test_a_package_change_happens_in_place_and_applies_the_new_limits(accounts_provider, make_account, whm):
    id_, outs = make_account(domain=unique_domain(), plan="mpanel_student")
    news = accounts_provider.check(outs, {**outs, "plan": "mpanel_business"}).inputs
    assert accounts_provider.diff(id_, outs, news).replaces == []
    outs = accounts_provider.update(id_, outs, news).outs
    summary = whm.api("accountsummary", user=id_)["acct"][0]
    assert outs["plan"] == summary["plan"] == "mpanel_business" and summary["disklimit"] == "51200M"
    assert outs["password"]


def test_a_package_change_carrying_the_new_packages_quota_needs_no_quota_override(accounts_provider, make_account, whm):
    # How the hosting program declares accounts: the plan's package and the plan's quota.
    id_, outs = make_account(domain=unique_domain(), plan="mpanel_student", quota_mb=5120)
    news = accounts_provider.check(outs, {**outs, "plan": "mpanel_business", "quota_mb": 51200}).inputs
    outs = accounts_provider.update(id_, outs, news).outs
    summary = whm.api("accountsummary", user=id_)["acct"][0]
    assert (summary["plan"], summary["disklimit"]) == ("mpanel_business", "51200M")
    assert accounts_provider.diff(id_, accounts_provider.read(id_, outs).outs, news).changes is False


def test_a_new_password_version_rotates_the_password(accounts_provider, make_account):
    id_, outs = make_account(domain=unique_domain())
    news = accounts_provider.check(outs, {**outs, "password_version": 2}).inputs
    assert accounts_provider.diff(id_, outs, news).changes is True
    updated = accounts_provider.update(id_, outs, news).outs
    assert updated["password"] and updated["password"] != outs["password"]


def test_a_changed_username_is_never_a_replacement_but_a_question_for_an_operator(accounts_provider,
                                                                                 make_account):
    id_, outs = make_account(domain=unique_domain())
    with pytest.raises(NeedsOperator) as caught:
        accounts_provider.diff(id_, outs, accounts_provider.check(outs, {**outs, "username": "other"}).inputs)
    assert "username" in caught.value.message and "operator must decide" in caught.value.message


def test_a_primary_domain_renamed_in_whm_is_reported_for_an_operator_and_the_account_kept(
        accounts_provider, make_account, whm, settings):
    domain = unique_domain("pd")
    id_, outs = make_account(domain=domain)
    (home(settings, id_) / "public_html" / "index.html").write_text("the customer's site\n")
    renamed = unique_domain("rn")
    whm.drift(id_, domain=renamed)  # a support engineer renamed it in WHM

    read = accounts_provider.read(id_, outs)
    assert read.outs["domain"] == renamed and read.outs["created_domain"] == domain
    with pytest.raises(NeedsOperator) as caught:
        accounts_provider.diff(id_, read.outs, accounts_provider.check(outs, {**outs, "domain": domain}).inputs)
    assert caught.value.code == "needs_operator" and not caught.value.retryable
    assert f"changed from {domain} to {renamed} outside mpanel" in caught.value.message
    assert whm.account(id_)["domain"] == renamed
    assert (home(settings, id_) / "public_html" / "index.html").read_text() == "the customer's site\n"


def test_an_account_claimed_by_another_stack_is_not_adopted(accounts_provider, whm):
    domain = unique_domain("cl")
    username = username_stem(domain)
    claim(domain, OTHER_OWNER, username)
    whm.create_account(username, domain, contact_email=f"owner@{domain}")
    before = whm.api("accountsummary", user=username)["acct"][0]
    try:
        with pytest.raises(NotOurs) as caught:
            accounts_provider.create(accounts_provider.check({}, {"owner": OWNER, "domain": domain,
                                                                  "plan": "mpanel_business"}).inputs)
        assert OTHER_OWNER in caught.value.message and username in caught.value.message
        assert whm.api("accountsummary", user=username)["acct"][0] == before
    finally:
        whm.remove_account(username)
        claims().release(domain, OTHER_OWNER)


def test_a_domain_claimed_by_another_stack_gets_no_second_account(accounts_provider, whm):
    domain = unique_domain("c2")
    claim(domain, OTHER_OWNER, "someone")  # another stack's create, under way or crashed before createacct
    try:
        with pytest.raises(NotOurs) as caught:
            accounts_provider.create(accounts_provider.check({}, {"owner": OWNER, "domain": domain,
                                                                  "plan": "mpanel_starter"}).inputs)
        assert OTHER_OWNER in caught.value.message
        assert whm.accounts(domain, searchtype="domain") == []
    finally:
        claims().release(domain, OTHER_OWNER)


def test_the_claim_is_recorded_before_createacct_and_released_by_delete(accounts_provider, make_account):
    domain = unique_domain("rl")
    id_, outs = make_account(domain=domain)
    assert claims().find(domain)["owner"] == OWNER and claims().find(domain)["detail"] == id_
    accounts_provider.delete(id_, outs)
    assert claims().find(domain) is None


# --- drift and adoption -------------------------------------------------------------------------

def test_read_shows_a_suspension_made_behind_its_back(accounts_provider, make_account, whm):
    id_, outs = make_account(domain=unique_domain())
    whm.drift(id_, suspended=True)
    read = accounts_provider.read(id_, outs)
    assert read.outs["suspended"] is True
    assert accounts_provider.diff(id_, read.outs, accounts_provider.check(outs, outs).inputs).changes is True


def test_the_address_whm_gave_the_account_is_an_output_and_read_sees_it_move(accounts_provider, make_account, whm):
    id_, outs = make_account(domain=unique_domain())
    assert outs["ip"] == whm.api("accountsummary", user=id_)["acct"][0]["ip"]

    whm.drift(id_, ip="198.51.100.23")  # the account moved to another address behind our back
    read = accounts_provider.read(id_, outs)
    assert read.outs["ip"] == "198.51.100.23"
    # Not an input: the account itself stays as it is; what follows the address is the zone.
    assert accounts_provider.diff(id_, read.outs, accounts_provider.check(outs, outs).inputs).changes is False


def test_adopting_an_account_resets_its_password_and_aligns_plan_and_suspension(accounts_provider, whm):
    domain = unique_domain("ad")
    username = username_stem(domain)
    claim(domain, OWNER, username)
    whm.create_account(username, domain, plan="mpanel_student", contact_email=f"owner@{domain}")
    whm.drift(username, suspended=True)
    try:
        inputs = accounts_provider.check({}, {"owner": OWNER, "domain": domain, "plan": "mpanel_business",
                                              "contact_email": f"owner@{domain}"}).inputs
        result = accounts_provider.create(inputs)
        summary = whm.api("accountsummary", user=username)["acct"][0]
        assert result.id == username
        assert (summary["plan"], summary["suspended"]) == ("mpanel_business", 0)
        assert result.outs["password"]
    finally:
        whm.remove_account(username)


def test_a_domain_held_by_another_username_is_refused_clearly(accounts_provider, whm):
    domain = unique_domain("cf")
    whm.create_account(username_stem(domain), domain)
    try:
        inputs = accounts_provider.check({}, {"owner": OWNER, "domain": domain, "plan": "mpanel_starter",
                                              "username": "zz" + secrets.token_hex(3)}).inputs
        with pytest.raises(ProviderError) as caught:
            accounts_provider.create(inputs)
        assert not caught.value.retryable
        assert f"already belongs to the WHM account {username_stem(domain)}" in str(caught.value)
    finally:
        whm.remove_account(username_stem(domain))


def test_an_account_mpanel_did_not_create_is_never_taken_over(accounts_provider, whm):
    domain = unique_domain("legacy")
    whm.create_account(username_stem(domain), domain, contact_email="someone-else@example.org")
    try:
        inputs = accounts_provider.check({}, {"owner": OWNER, "domain": domain, "plan": "mpanel_starter",
                                              "contact_email": f"owner@{domain}"}).inputs
        with pytest.raises(ProviderError) as caught:
            accounts_provider.create(inputs)
        assert not caught.value.retryable and "not created by mpanel" in str(caught.value)
        assert isinstance(caught.value, NotOurs) and caught.value.code == "not_ours"
    finally:
        whm.remove_account(username_stem(domain))


def test_a_create_that_timed_out_upstream_is_adopted_not_duplicated(whm):
    provider = WhmAccountProvider(retry=RetryPolicy(deadline=15.0, first_delay=0.05, max_delay=0.2),
                                  create_timeout=1.0)
    domain = unique_domain("to")
    # The stand-in creates the account, then holds the answer longer than the client waits.
    whm.fault(operation="createacct", kind="timeout", seconds=3)
    result = provider.create(provider.check({}, {"owner": OWNER, "domain": domain, "plan": "mpanel_starter",
                                                  "contact_email": f"owner@{domain}"}).inputs)
    try:
        assert whm.pending_faults() == []
        assert [a["user"] for a in whm.accounts(domain, searchtype="domain")] == [result.id]
        assert [a["user"] for a in whm.accounts("^" + username_stem(domain)[:6], method="regex")] == [result.id]
        assert result.outs["password"]
    finally:
        whm.remove_account(result.id)


# --- errors ---------------------------------------------------------------------------------------

def test_a_bad_token_is_a_permanent_403_that_never_shows_the_token(accounts_provider, configure):
    bad_token = "WRONG" + secrets.token_hex(12)
    configure(CPANEL_WHM_API_TOKEN=bad_token)
    with pytest.raises(ProviderError) as caught:
        accounts_provider.read("nobody1", {})
    error = caught.value
    assert (error.status, error.retryable) == (403, False)
    assert "access denied: check CPANEL_WHM_API_TOKEN" in str(error)
    assert bad_token not in str(error) and bad_token not in repr(error)


def test_a_failed_function_is_a_permanent_error_with_whms_reason(accounts_provider):
    inputs = accounts_provider.check({}, {"owner": OWNER, "domain": unique_domain(), "plan": "no_such_package"}).inputs
    with pytest.raises(ProviderError) as caught:
        accounts_provider.create(inputs)
    assert not caught.value.retryable and "no_such_package" in caught.value.message


# --- TLS --------------------------------------------------------------------------------------------

@pytest.fixture
def ssl_provider():
    return WhmSslProvider(retry=FAST_RETRY)


def test_a_self_signed_certificate_is_installed_with_https_forced(ssl_provider, make_account, whm):
    user, account = make_account(domain=unique_domain("tl"))
    domain = account["domain"]
    crt, key = self_signed(domain)
    checked = ssl_provider.check({}, {"owner": OWNER, "domain": domain, "username": user, "certificate_pem": crt,
                                      "private_key_pem": key, "force_https": True})
    assert checked.failures == []
    created = ssl_provider.create(checked.inputs)
    info = whm.api("fetchsslinfo", domain=domain)
    assert created.id == domain
    assert info["crt"].strip() == crt.strip() and info["ssl_redirect"] == 1
    outs = {**checked.inputs, **created.outs}
    assert ssl_provider.read(domain, outs).outs["force_https"] is True
    assert ssl_provider.diff(domain, outs, ssl_provider.check(outs, checked.inputs).inputs).changes is False


def test_turning_https_forcing_off_is_an_in_place_change(ssl_provider, make_account, whm):
    user, account = make_account(domain=unique_domain("tl"))
    crt, key = self_signed(account["domain"])
    inputs = ssl_provider.check({}, {"owner": OWNER, "domain": account["domain"], "username": user, "certificate_pem": crt,
                                     "private_key_pem": key}).inputs
    outs = {**inputs, **ssl_provider.create(inputs).outs}
    news = {**inputs, "force_https": False}
    diff = ssl_provider.diff(account["domain"], outs, news)
    assert diff.changes is True and diff.replaces == []
    ssl_provider.update(account["domain"], outs, news)
    assert whm.api("fetchsslinfo", domain=account["domain"])["ssl_redirect"] == 0


def test_read_shows_a_certificate_replaced_or_redirect_turned_off_behind_its_back(ssl_provider, make_account, whm):
    user, account = make_account(domain=unique_domain("tl"))
    domain = account["domain"]
    crt, key = self_signed(domain)
    inputs = ssl_provider.check({}, {"owner": OWNER, "domain": domain, "username": user, "certificate_pem": crt,
                                     "private_key_pem": key}).inputs
    outs = {**inputs, **ssl_provider.create(inputs).outs}
    other_crt, other_key = self_signed(domain)
    whm.api("installssl", domain=domain, crt=other_crt, key=other_key)
    whm.api("uapi_cpanel", **{"cpanel.user": user, "cpanel.module": "SSL",
                              "cpanel.function": "toggle_ssl_redirect_for_domains", "domains": domain, "state": "0"})
    read = ssl_provider.read(domain, outs)
    assert read.outs["certificate_pem"].strip() == other_crt.strip()
    assert read.outs["force_https"] is False
    assert ssl_provider.diff(domain, read.outs, inputs).changes is True


def test_ssl_delete_turns_the_redirect_off_and_succeeds_once_the_account_is_gone(ssl_provider, make_account, whm):
    user, account = make_account(domain=unique_domain("tl"))
    domain = account["domain"]
    crt, key = self_signed(domain)
    inputs = ssl_provider.check({}, {"owner": OWNER, "domain": domain, "username": user, "certificate_pem": crt,
                                     "private_key_pem": key}).inputs
    outs = {**inputs, **ssl_provider.create(inputs).outs}
    ssl_provider.delete(domain, outs)
    assert whm.api("fetchsslinfo", domain=domain)["ssl_redirect"] == 0
    whm.remove_account(user)
    ssl_provider.delete(domain, outs)
    assert ssl_provider.read(domain, outs).id == ""


def test_a_certificate_for_another_domain_is_refused_permanently(ssl_provider, make_account):
    user, account = make_account(domain=unique_domain("tl"))
    crt, key = self_signed("elsewhere.example")
    inputs = ssl_provider.check({}, {"owner": OWNER, "domain": account["domain"], "username": user, "certificate_pem": crt,
                                     "private_key_pem": key}).inputs
    with pytest.raises(ProviderError) as caught:
        ssl_provider.create(inputs)
    assert not caught.value.retryable and "does not cover" in caught.value.message


def test_ssl_check_names_the_property_at_fault(ssl_provider):
    crt, key = self_signed("shop.example")
    good = {"domain": "shop.example", "username": "shop", "certificate_pem": crt, "private_key_pem": key}
    for bad, prop in [({**good, "domain": "bad domain"}, "domain"), ({**good, "username": "9lives"}, "username"),
                      ({**good, "certificate_pem": "hello"}, "certificate_pem"),
                      ({**good, "private_key_pem": crt}, "private_key_pem")]:
        assert prop in [f.property for f in ssl_provider.check({}, bad).failures]


# --- through the real engine ----------------------------------------------------------------------

SECRET_SIG = "4dabf18193072939515e22adb298388d"  # how Pulumi state marks a secret value


def test_the_engine_converges_an_account_and_its_certificate_keeping_secrets_secret(settings, whm):
    """Pickling, numbers arriving as floats, unknowns in preview and secrets: what direct calls miss."""
    import pulumi

    from providers.resources.whm_account import WhmAccount
    from providers.resources.whm_ssl import WhmSsl
    from app.services.hosting.engine import engine_config
    from stacks import engine

    domain = unique_domain("en")
    crt, key = self_signed(domain)
    name = f"whm-{secrets.token_hex(3)}"

    def program():
        account = WhmAccount("account", domain=domain, plan="mpanel_starter", quota_mb=2048, owner=name)
        WhmSsl("tls", domain=account.domain, username=account.username, certificate_pem=crt,
               private_key_pem=pulumi.Output.secret(key))
        pulumi.export("username", account.username)
        pulumi.export("password", account.password)

    stack = engine.inline_stack(engine_config(settings), name, program)
    try:
        assert stack.preview().change_summary == {"create": 3}
        up = stack.up()
        username = up.outputs["username"].value
        assert up.outputs["password"].secret
        assert whm.api("accountsummary", user=username)["acct"][0]["disklimit"] == "2048M"
        assert whm.api("fetchsslinfo", domain=domain)["ssl_redirect"] == 1
        assert stack.preview().change_summary == {"same": 3}
        assert stack.refresh().summary.resource_changes == {"same": 3}

        resources = {r["urn"].rsplit("::", 1)[-1]: r for r in stack.export_stack().deployment["resources"]}
        assert SECRET_SIG in resources["account"]["outputs"]["password"]
        assert SECRET_SIG in resources["tls"]["outputs"]["private_key_pem"]

        assert stack.destroy().summary.resource_changes == {"delete": 3}
        assert whm.account(username) is None
    finally:
        stack.workspace.remove_stack(name, force=True)
        whm.remove_account(username_stem(domain))
