"""The WHM stand-in answers as cPanel WHM API 1 does, and fails on demand."""

from __future__ import annotations

import datetime
import logging
import os
import stat

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from sandbox.whm import create_app
from tests.sandbox.disk import stored_bytes

TOKEN = "WHMTOKEN0123456789"
AUTH = {"Authorization": f"whm root:{TOKEN}"}
PASSWORD = "correct-horse-9"


class Whm:
    """A WHM client over Flask's test client: the parts of the protocol tests need."""

    def __init__(self, app):
        self.app = app
        self.http = app.test_client()

    def get(self, function, headers=AUTH, **params):
        return self.http.get(f"/json-api/{function}", query_string={"api.version": "1", **params},
                             headers=headers)

    def post(self, function, headers=AUTH, **params):
        return self.http.post(f"/json-api/{function}", data={"api.version": "1", **params},
                              headers=headers)

    def ok(self, function, **params):
        body = self.post(function, **params).get_json()
        assert body["metadata"]["result"] == 1, body["metadata"]["reason"]
        return body["data"]

    def reason(self, function, **params):
        body = self.post(function, **params).get_json()
        assert body["metadata"]["result"] == 0, body
        return body["metadata"]["reason"]

    def create(self, username="shop", domain="shop.example", plan="mpanel_starter", **extra):
        return self.ok("createacct", username=username, domain=domain, plan=plan,
                       password=PASSWORD, **extra)

    def account(self, user):
        return self.ok("accountsummary", user=user)["acct"][0]

    def stored_hash(self, user):
        return self.http.get("/_sandbox/state").get_json()["state"]["accounts"][user]["password_hash"]

    def fault(self, **spec):
        response = self.http.post("/_sandbox/faults", json=spec)
        assert response.status_code == 201, response.get_json()
        return response.get_json()


@pytest.fixture
def state_path(tmp_path):
    return tmp_path / "whm" / "state.sqlite3"


@pytest.fixture
def whm(state_path, sleeps):
    return Whm(create_app(state_path, TOKEN, sleep=sleeps))


def certificate_pair(*names, key=None, days=90):
    key = key or ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject).issuer_name(subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
        .sign(key, hashes.SHA256())
    )
    crt = cert.public_bytes(serialization.Encoding.PEM).decode()
    pem_key = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    return crt, pem_key


# -- protocol ------------------------------------------------------------------


def test_a_successful_call_answers_the_api1_envelope_with_data(whm):
    response = whm.get("listpkgs")

    assert response.status_code == 200
    body = response.get_json()
    assert body["metadata"] == {"command": "listpkgs", "version": 1, "result": 1, "reason": "OK",
                                "output": {"raw": ""}}
    names = {pkg["name"]: pkg["QUOTA"] for pkg in body["data"]["pkg"]}
    assert names == {"default": "unlimited", "mpanel_student": "5120", "mpanel_starter": "20480",
                     "mpanel_business": "51200"}


def test_a_failed_call_answers_http_200_with_result_0_a_reason_and_no_data(whm):
    response = whm.get("accountsummary", user="nobodyhere")

    assert response.status_code == 200
    body = response.get_json()
    assert body["metadata"]["result"] == 0
    assert "nobodyhere" in body["metadata"]["reason"]
    assert "data" not in body


@pytest.mark.parametrize("headers", [
    {},
    {"Authorization": "whm root:wrong-token"},
    {"Authorization": f"whm reseller:{TOKEN}"},
    {"Authorization": f"Bearer {TOKEN}"},
], ids=["missing", "wrong token", "wrong user", "wrong scheme"])
def test_bad_credentials_get_403_with_the_legacy_cpanelresult_body(whm, headers):
    response = whm.get("listaccts", headers=headers)

    assert response.status_code == 403
    assert response.get_json() == {"cpanelresult": {"error": "Access denied",
                                                    "data": {"reason": "Access denied", "result": "0"}}}


def test_a_call_without_api_version_1_runs_as_api_0_with_its_own_envelope(whm):
    response = whm.http.get("/json-api/createacct", headers=AUTH, query_string={
        "username": "shop", "domain": "shop.example", "plan": "mpanel_starter", "password": PASSWORD})

    body = response.get_json()
    assert "metadata" not in body
    assert (body["result"][0]["status"], body["result"][0]["options"]["package"]) == (1, "mpanel_starter")
    assert [a["user"] for a in whm.ok("listaccts")["acct"]] == ["shop"]


def test_an_unknown_function_fails_inside_the_envelope(whm):
    assert "Unknown app" in whm.reason("makecoffee")


# -- accounts ------------------------------------------------------------------


def test_createacct_answers_the_ip_nameservers_and_package(whm):
    data = whm.create()

    assert data["ip"] == "192.0.2.10"
    assert data["nameserver"] == "ns1.mpanel.test"
    assert data["nameserver2"] == "ns2.mpanel.test"
    assert data["package"] == "mpanel_starter"


@pytest.mark.parametrize("username", [
    "shop-1", "1shop", "testshop", "abcdefghijklmnopq", "root",
], ids=["hyphen", "leading digit", "test prefix", "17 characters", "reserved"])
def test_createacct_refuses_usernames_that_break_the_whm_rules(whm, username):
    reason = whm.reason("createacct", username=username, domain="shop.example",
                        plan="mpanel_starter", password=PASSWORD)

    assert username in reason
    assert whm.ok("listaccts")["acct"] == []


def test_createacct_accepts_a_username_of_exactly_16_characters(whm):
    whm.create(username="abcdefghijklmnop")

    assert whm.account("abcdefghijklmnop")["domain"] == "shop.example"


def test_createacct_says_the_username_is_taken_when_it_exists(whm):
    whm.create(username="shop", domain="shop.example")

    assert whm.reason("createacct", username="shop", domain="other.example",
                      plan="mpanel_starter", password=PASSWORD) == "That username is taken."


def test_createacct_refuses_a_username_whose_first_8_characters_are_taken(whm):
    whm.create(username="bakerybrown", domain="brown.example")

    reason = whm.reason("createacct", username="bakerybrew", domain="brew.example",
                        plan="mpanel_starter", password=PASSWORD)
    assert reason.startswith("That username is taken")
    assert "bakerybrown" in reason


def test_createacct_refuses_a_domain_that_another_account_has(whm):
    whm.create(username="shop", domain="shop.example")

    assert "shop.example" in whm.reason("createacct", username="shop2", domain="SHOP.example",
                                        plan="mpanel_starter", password=PASSWORD)


@pytest.mark.parametrize("change, words", [
    ({"plan": "gold"}, "gold"),
    ({"password": "short"}, "too weak"),
    ({"pass": PASSWORD}, "not both"),
    ({"domain": "not a domain"}, "not a valid domain"),
    ({"quota": "lots"}, "quota"),
])
def test_createacct_refuses_bad_plans_passwords_domains_and_quotas(whm, change, words):
    params = {"username": "shop", "domain": "shop.example", "plan": "mpanel_starter",
              "password": PASSWORD, **change}

    assert words in whm.reason("createacct", **params)


def test_createacct_quota_overrides_the_package_and_0_means_unlimited(whm):
    whm.create(username="shop", domain="shop.example", quota="1000")
    whm.create(username="blog", domain="blog.example", quota="0")

    assert whm.account("shop")["disklimit"] == "1000M"
    assert whm.account("blog")["disklimit"] == "unlimited"


def test_createacct_makes_a_public_html_directory_under_the_state_dir(whm, state_path):
    whm.create(username="shop")

    assert (state_path.parent / "home" / "shop" / "public_html").is_dir()


def test_the_state_file_never_holds_the_plain_password(whm, state_path):
    whm.create(username="shop")

    assert PASSWORD.encode() not in stored_bytes(state_path)
    assert whm.stored_hash("shop").startswith("$argon2id$")
    assert whm.stored_hash("shop").encode() in stored_bytes(state_path)


def test_accountsummary_finds_an_account_by_user_or_by_domain(whm):
    whm.create(username="shop", domain="shop.example", plan="mpanel_student",
               contactemail="owner@shop.example")

    by_user = whm.account("shop")
    by_domain = whm.ok("accountsummary", domain="shop.example")["acct"][0]
    assert by_user == by_domain
    assert {k: by_user[k] for k in ("user", "domain", "plan", "suspended", "disklimit", "ip",
                                    "email", "owner", "diskused")} == {
        "user": "shop", "domain": "shop.example", "plan": "mpanel_student", "suspended": 0,
        "disklimit": "5120M", "ip": "192.0.2.10", "email": "owner@shop.example", "owner": "root",
        "diskused": "0M",
    }
    assert "password_hash" not in by_user


def test_diskused_counts_what_was_published_into_the_home(whm, state_path):
    whm.create(username="shop")
    (state_path.parent / "home" / "shop" / "public_html" / "big.bin").write_bytes(b"x" * 3 * 1024 * 1024)

    assert whm.account("shop")["diskused"] == "3M"


def test_listaccts_exact_search_finds_only_the_account_named(whm):
    whm.create(username="shop", domain="shop.example")
    whm.create(username="shop2", domain="shop2.example")

    exact = whm.ok("listaccts", search="shop", searchtype="user", searchmethod="exact")["acct"]
    regex = whm.ok("listaccts", search="shop", searchtype="user")["acct"]
    assert [a["user"] for a in exact] == ["shop"]
    assert [a["user"] for a in regex] == ["shop", "shop2"]


@pytest.mark.parametrize("searchtype, search, expected", [
    ("domain", "shop2.example", ["shop2"]),
    ("package", "mpanel_business", ["shop2"]),
    ("owner", "root", ["shop", "shop2"]),
    ("ip", "192.0.2.10", ["shop", "shop2"]),
    ("user", "nobody", []),
])
def test_listaccts_exact_search_works_by_each_searchtype(whm, searchtype, search, expected):
    whm.create(username="shop", domain="shop.example")
    whm.create(username="shop2", domain="shop2.example", plan="mpanel_business")

    found = whm.ok("listaccts", search=search, searchtype=searchtype, searchmethod="exact")["acct"]
    assert [a["user"] for a in found] == expected


def test_listaccts_refuses_an_unknown_searchtype_or_a_broken_regex(whm):
    assert "colour" in whm.reason("listaccts", search="x", searchtype="colour")
    assert "regular expression" in whm.reason("listaccts", search="(", searchtype="user")


def test_removeacct_accepts_user_as_well_as_username_and_removes_the_home(whm, state_path):
    whm.create(username="shop", domain="shop.example")
    whm.create(username="blog", domain="blog.example")

    whm.ok("removeacct", username="shop")
    whm.ok("removeacct", user="blog")

    assert whm.ok("listaccts")["acct"] == []
    assert not (state_path.parent / "home" / "shop").exists()
    assert "does not exist" in whm.reason("removeacct", username="shop")


def test_suspension_shows_in_accountsummary_with_its_reason(whm):
    whm.create(username="shop")

    whm.ok("suspendacct", user="shop", reason="unpaid invoice")
    suspended = whm.account("shop")
    whm.ok("unsuspendacct", user="shop")
    active = whm.account("shop")

    assert (suspended["suspended"], suspended["suspendreason"]) == (1, "unpaid invoice")
    assert (active["suspended"], active["suspendreason"]) == (0, "not suspended")


def test_changepackage_moves_the_account_to_the_new_package_and_its_limits(whm):
    whm.create(username="shop", plan="mpanel_student")

    whm.ok("changepackage", user="shop", pkg="mpanel_business")

    account = whm.account("shop")
    assert (account["plan"], account["disklimit"]) == ("mpanel_business", "51200M")
    assert "gold" in whm.reason("changepackage", user="shop", pkg="gold")


def test_passwd_replaces_the_stored_hash(whm, state_path):
    whm.create(username="shop")
    before = whm.stored_hash("shop")

    whm.ok("passwd", user="shop", password="another-secret-7")

    after = whm.stored_hash("shop")
    assert after != before and b"another-secret-7" not in stored_bytes(state_path)


def test_addpkg_adds_a_package_that_listpkgs_shows_and_createacct_accepts(whm):
    whm.ok("addpkg", name="mpanel_reseller", quota="102400", bwlimit="unlimited", maxpop="500")

    packages = {p["name"]: p for p in whm.ok("listpkgs")["pkg"]}
    assert packages["mpanel_reseller"]["QUOTA"] == "102400"
    assert packages["mpanel_reseller"]["BWLIMIT"] == "unlimited"
    whm.create(username="shop", plan="mpanel_reseller")
    assert "already exists" in whm.reason("addpkg", name="mpanel_reseller")


# -- TLS, redirects and sessions -------------------------------------------------


def test_installssl_accepts_a_matching_pair_and_fetchsslinfo_reads_it_back(whm):
    whm.create(username="shop", domain="shop.example")
    crt, key = certificate_pair("shop.example", "www.shop.example")

    installed = whm.ok("installssl", domain="shop.example", crt=crt, key=key, cab="")
    info = whm.ok("fetchsslinfo", domain="shop.example")

    assert installed["status"] == 1
    assert installed["working_domains"] == ["shop.example", "www.shop.example"]
    assert (info["crt"], info["key"], info["user"]) == (crt, key, "shop")
    assert info["subject_names"] == ["shop.example", "www.shop.example"]
    assert info["ssl_redirect"] == 0


def test_fetchsslinfo_fails_when_no_certificate_is_installed(whm):
    whm.create(username="shop", domain="shop.example")

    assert "No SSL certificate" in whm.reason("fetchsslinfo", domain="shop.example")


def test_installssl_accepts_a_wildcard_certificate_for_a_subdomain_account(whm):
    whm.create(username="blog", domain="blog.shop.example")
    crt, key = certificate_pair("*.shop.example")

    whm.ok("installssl", domain="blog.shop.example", crt=crt, key=key)


@pytest.mark.parametrize("case, words", [
    ("other key", "does not match the private key"),
    ("not pem", "not a valid PEM"),
    ("bad key", "private key is not"),
    ("other domain", "does not cover"),
    ("unknown domain", "No account owns"),
    ("bad chain", "CA bundle"),
])
def test_installssl_refuses_pairs_whm_would_refuse(whm, case, words):
    whm.create(username="shop", domain="shop.example")
    crt, key = certificate_pair("shop.example")
    params = {"domain": "shop.example", "crt": crt, "key": key}
    if case == "other key":
        params["key"] = certificate_pair("shop.example")[1]
    elif case == "not pem":
        params["crt"] = "hello"
    elif case == "bad key":
        params["key"] = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
    elif case == "other domain":
        params["crt"], params["key"] = certificate_pair("elsewhere.example")
    elif case == "unknown domain":
        params["domain"] = "unknown.example"
    elif case == "bad chain":
        params["cab"] = "-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n"

    assert words in whm.reason("installssl", **params)
    assert whm.post("fetchsslinfo", domain="shop.example").get_json()["metadata"]["result"] == 0


def test_installssl_by_get_is_refused_so_keys_never_travel_in_urls(whm):
    whm.create(username="shop", domain="shop.example")
    crt, key = certificate_pair("shop.example")

    body = whm.get("installssl", domain="shop.example", crt=crt, key=key).get_json()

    assert body["metadata"]["result"] == 0
    assert "POST" in body["metadata"]["reason"]


def uapi(whm, user, module, function, **params):
    body = whm.post("uapi_cpanel", **{"cpanel.user": user, "cpanel.module": module,
                                      "cpanel.function": function, **params}).get_json()
    assert body["metadata"]["result"] == 1, body
    return body["data"]["uapi"]


def test_the_https_redirect_is_refused_until_a_certificate_is_installed(whm):
    whm.create(username="shop", domain="shop.example")

    refused = uapi(whm, "shop", "SSL", "toggle_ssl_redirect_for_domains", domains="shop.example", state="1")
    crt, key = certificate_pair("shop.example")
    whm.ok("installssl", domain="shop.example", crt=crt, key=key)
    accepted = uapi(whm, "shop", "SSL", "toggle_ssl_redirect_for_domains", domains="shop.example", state="1")

    assert refused["status"] == 0 and "valid SSL certificate" in refused["errors"][0]
    assert accepted == {"status": 1, "data": [{"domain": "shop.example", "state": 1}], "errors": None,
                        "messages": None, "warnings": None, "metadata": {}}
    assert whm.ok("fetchsslinfo", domain="shop.example")["ssl_redirect"] == 1


def test_the_https_redirect_cannot_be_set_for_a_domain_of_another_account(whm):
    whm.create(username="shop", domain="shop.example")
    whm.create(username="blog", domain="blog.example")

    refused = uapi(whm, "blog", "SSL", "toggle_ssl_redirect_for_domains", domains="shop.example", state="0")

    assert refused["status"] == 0 and "do not own" in refused["errors"][0]


def test_uapi_calls_the_sandbox_does_not_implement_answer_uapi_status_0(whm):
    whm.create(username="shop")

    answer = uapi(whm, "shop", "Email", "add_pop", email="info", password=PASSWORD)

    assert answer["status"] == 0 and "Email::add_pop" in answer["errors"][0]


def test_create_user_session_returns_a_link_that_logs_in_exactly_once(whm):
    whm.create(username="shop")

    url = whm.ok("create_user_session", user="shop", service="cpaneld")["url"]
    first = whm.http.get(url)
    second = whm.http.get(url)

    assert url.startswith("http://localhost/cpsess")
    assert (first.status_code, second.status_code) == (200, 401)


def test_the_request_log_never_shows_a_login_links_session(whm, caplog):
    whm.create(username="shop")
    url = whm.ok("create_user_session", user="shop", service="webmaild")["url"]
    token = url.split("session=", 1)[1]
    with caplog.at_level(logging.INFO, logger="sandbox.whm"):
        assert whm.http.get(url).status_code == 200

    [line] = [r.getMessage() for r in caplog.records if r.name == "sandbox.whm"]
    assert "/login/?session=REDACTED" in line and token.split(":")[-1] not in line


# -- state, control API and faults --------------------------------------------------


def test_state_survives_recreating_the_app_from_the_same_file(whm, state_path):
    whm.create(username="shop", domain="shop.example")
    whm.ok("suspendacct", user="shop", reason="abuse")

    again = Whm(create_app(state_path, TOKEN))

    assert again.account("shop")["suspendreason"] == "abuse"
    # The database and its write-ahead log hold password hashes: owner-only.
    files = sorted(os.listdir(state_path.parent))
    assert set(files) <= {"home", "state.sqlite3", "state.sqlite3-wal", "state.sqlite3-shm"}
    assert all(stat.S_IMODE(os.stat(state_path.parent / name).st_mode) == 0o600 for name in files if name != "home")


def test_the_control_api_changes_an_account_behind_the_clients_back(whm):
    whm.create(username="shop", plan="mpanel_starter")

    response = whm.http.post("/_sandbox/accounts/shop", json={"plan": "handmade", "suspended": True})

    assert response.status_code == 200
    account = whm.account("shop")
    assert (account["plan"], account["suspended"]) == ("handmade", 1)
    assert whm.http.post("/_sandbox/accounts/ghost", json={"plan": "x"}).status_code == 404
    assert whm.http.post("/_sandbox/accounts/shop", json={"password": "x"}).status_code == 400


def test_reset_wipes_accounts_homes_and_faults_but_keeps_the_seed_packages(whm, state_path):
    whm.create(username="shop")
    whm.fault(operation="*", kind="latency", ms=5, count=0)

    whm.http.post("/_sandbox/reset")

    dump = whm.http.get("/_sandbox/state").get_json()
    assert dump["state"]["accounts"] == {} and dump["faults"] == []
    assert set(dump["state"]["packages"]) == {"default", "mpanel_student", "mpanel_starter", "mpanel_business"}
    assert not (state_path.parent / "home" / "shop").exists()


def test_a_code_fault_fails_the_function_the_given_number_of_times_then_stops(whm):
    whm.fault(operation="createacct", kind="code", reason="Sorry, the server is busy.", count=2)

    first = whm.reason("createacct", username="shop", domain="shop.example", plan="mpanel_starter", password=PASSWORD)
    second = whm.reason("createacct", username="shop", domain="shop.example", plan="mpanel_starter", password=PASSWORD)
    whm.create(username="shop")

    assert first == second == "Sorry, the server is busy."
    assert [a["user"] for a in whm.ok("listaccts")["acct"]] == ["shop"]


def test_an_http_fault_answers_a_bare_5xx_page_then_stops(whm):
    whm.fault(operation="listaccts", kind="http", status=502)

    failed = whm.get("listaccts")
    recovered = whm.get("listaccts")

    assert failed.status_code == 502 and failed.mimetype == "text/html"
    assert recovered.status_code == 200


def test_a_timeout_fault_holds_the_answer_back_after_the_account_is_created(whm, sleeps):
    whm.fault(operation="createacct", kind="timeout", seconds=0.01)

    whm.create(username="shop")
    whm.create(username="blog", domain="blog.example")

    assert sleeps == [0.01]
    assert [a["user"] for a in whm.ok("listaccts")["acct"]] == ["blog", "shop"]


def test_a_timeout_fault_without_commit_answers_504_and_creates_nothing(whm, sleeps):
    whm.fault(operation="createacct", kind="timeout", seconds=0.01, commit=False)

    response = whm.post("createacct", username="shop", domain="shop.example",
                        plan="mpanel_starter", password=PASSWORD)

    assert (response.status_code, sleeps) == (504, [0.01])
    assert whm.ok("listaccts")["acct"] == []


def test_a_latency_fault_with_count_0_delays_every_call_until_cleared(whm, sleeps):
    whm.fault(operation="*", kind="latency", ms=20, count=0)

    for _ in range(3):
        whm.ok("listpkgs")
    whm.http.delete("/_sandbox/faults")
    whm.ok("listpkgs")

    assert sleeps == [0.02, 0.02, 0.02]


def test_a_fault_for_an_unknown_function_is_refused_by_the_control_api(whm):
    response = whm.http.post("/_sandbox/faults", json={"operation": "createAcct", "kind": "http"})

    assert response.status_code == 400
    assert response.get_json()["error"] == "bad_fault"


def test_the_request_log_masks_passwords_and_never_shows_the_token(whm, caplog):
    with caplog.at_level(logging.INFO, logger="sandbox.whm"):
        whm.get("passwd", user="shop", password="hunter2hunter2")

    [line] = [r.getMessage() for r in caplog.records if r.name == "sandbox.whm"]
    assert "/json-api/passwd?" in line and "password=REDACTED" in line and " 200 " in line
    assert "hunter2hunter2" not in line and TOKEN not in line
