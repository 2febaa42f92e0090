"""The NameSilo stand-in answers as the NameSilo API does, and fails on demand."""

from __future__ import annotations

import logging
from datetime import date

import pytest

from sandbox.namesilo import create_app
from tests.sandbox.disk import stored_bytes

KEY = "0123456789abcdef0123"
TODAY = date(2025, 1, 15)


class NameSilo:
    """A NameSilo client over Flask's test client: the parts of the protocol tests need."""

    def __init__(self, app):
        self.http = app.test_client()

    def call(self, operation, **params):
        query = {"version": "1", "type": "json", "key": KEY, **params}
        response = self.http.get(f"/api/{operation}", query_string=query)
        assert response.status_code == 200
        return response.get_json()

    def reply(self, operation, **params):
        return self.call(operation, **params)["reply"]

    def code(self, operation, **params):
        return self.reply(operation, **params)["code"]

    def register(self, domain="shop.com", years="1", **extra):
        reply = self.reply("registerDomain", domain=domain, years=years, **extra)
        assert reply["code"] in (300, 301, 302), reply
        return reply

    def info(self, domain="shop.com"):
        reply = self.reply("getDomainInfo", domain=domain)
        assert reply["code"] == 300, reply
        return reply

    def state(self):
        return self.http.get("/_sandbox/state").get_json()["state"]

    def fault(self, **spec):
        response = self.http.post("/_sandbox/faults", json=spec)
        assert response.status_code == 201, response.get_json()


@pytest.fixture
def state_path(tmp_path):
    return tmp_path / "namesilo" / "state.sqlite3"


@pytest.fixture
def namesilo(state_path, sleeps):
    return NameSilo(create_app(state_path, KEY, balance=100.0, sleep=sleeps, today=lambda: TODAY))


# -- protocol ------------------------------------------------------------------


def test_a_successful_call_answers_the_request_and_reply_envelope(namesilo):
    body = namesilo.call("listDomains")

    assert body["request"] == {"operation": "listDomains", "ip": "127.0.0.1"}
    assert body["reply"]["code"] == 300 and body["reply"]["detail"] == "success"


@pytest.mark.parametrize("params, code", [
    ({"key": "wrong"}, 110),
    ({"key": ""}, 110),
    ({"version": ""}, 102),
    ({"version": "2"}, 103),
], ids=["wrong key", "missing key", "no version", "bad version"])
def test_preamble_errors_answer_http_200_with_their_code(namesilo, params, code):
    body = namesilo.call("listDomains", **params)

    assert body["reply"]["code"] == code and body["reply"]["detail"]


def test_an_unknown_operation_answers_107(namesilo):
    assert namesilo.code("setAutoRenewal", domain="shop.com") == 107


# -- availability and registration ---------------------------------------------


def test_availability_sorts_names_into_available_unavailable_and_invalid(namesilo):
    namesilo.http.post("/_sandbox/unavailable", json={"domain": "taken.com"})
    namesilo.register("mine.com")

    reply = namesilo.reply("checkRegisterAvailability", domains="free.io,taken.com,mine.com,bad_name.com,x.zz")

    assert reply["available"] == [{"domain": "free.io", "price": 34.99, "renew": 47.99,
                                   "premium": 0, "duration": 1}]
    assert reply["unavailable"] == ["taken.com", "mine.com"]
    assert reply["invalid"] == ["bad_name.com", "x.zz"]


def test_a_name_priced_apart_is_quoted_premium_and_charged_its_own_price(namesilo):
    answer = namesilo.http.post("/_sandbox/prices/gold.com", json={"price": 2500, "renew": 60.5, "premium": True})
    assert answer.status_code == 200, answer.get_data(as_text=True)

    reply = namesilo.reply("checkRegisterAvailability", domains="gold.com,plain.com")
    assert reply["available"] == [{"domain": "gold.com", "price": 2500.0, "renew": 60.5, "premium": 1, "duration": 1},
                                  {"domain": "plain.com", "price": 13.95, "renew": 15.95, "premium": 0,
                                   "duration": 1}]
    namesilo.http.post("/_sandbox/balance", json={"balance": 3000})
    assert namesilo.register("gold.com")["order_amount"] == "2500.00"
    assert namesilo.reply("renewDomain", domain="gold.com", years="1")["order_amount"] == "60.50"

    # An empty body puts the name back on its TLD's prices; nonsense is refused.
    namesilo.http.post("/_sandbox/prices/gold.com", json={})
    assert namesilo.state()["prices"] == {}
    assert namesilo.http.post("/_sandbox/prices/gold.com", json={"price": "lots"}).status_code == 400
    assert namesilo.http.post("/_sandbox/prices/gold.com", json={"premium": "yes"}).status_code == 400
    assert namesilo.http.post("/_sandbox/prices/x.zz", json={"price": 1}).status_code == 400


def test_registration_charges_the_balance_and_reports_the_amount_as_a_string(namesilo):
    reply = namesilo.register("shop.com", years="2", ns1="ns1.host.example", ns2="ns2.host.example",
                              private="1", auto_renew="1")

    assert reply == {"code": 300, "detail": "success", "domain": "shop.com", "order_amount": "27.90",
                     "message": "Your domain registration was successfully processed."}
    assert namesilo.state()["balance_cents"] == 10000 - 2790


def test_getdomaininfo_answers_dates_yes_no_flags_and_positioned_nameservers(namesilo):
    namesilo.register("shop.com", years="2", ns1="ns1.host.example", ns2="ns2.host.example", private="1")

    info = namesilo.info("shop.com")

    assert (info["created"], info["expires"], info["status"]) == ("2025-01-15", "2027-01-15", "Active")
    assert (info["locked"], info["private"], info["auto_renew"]) == ("Yes", "Yes", "No")
    assert info["nameservers"] == [{"nameserver": "ns1.host.example", "position": 1},
                                   {"nameserver": "ns2.host.example", "position": 2}]
    assert info["contact_ids"]["registrant"] == "1"


def test_registration_lower_cases_the_domain(namesilo):
    assert namesilo.register("Shop.COM")["domain"] == "shop.com"
    assert namesilo.info("shop.com")["status"] == "Active"


def test_registration_with_invalid_nameservers_answers_301_and_uses_the_defaults(namesilo):
    reply = namesilo.register("shop.com", ns1="ns1.host.example", ns2="not_a_host")

    assert reply["code"] == 301
    assert [ns["nameserver"] for ns in namesilo.info()["nameservers"]] == [
        "ns1.dnsowl.com", "ns2.dnsowl.com", "ns3.dnsowl.com"]


def test_registration_with_partial_contact_data_answers_302(namesilo):
    assert namesilo.register("shop.com", fn="Ada", ln="Lovelace")["code"] == 302


@pytest.mark.parametrize("params, code", [
    ({"years": "1"}, 108),
    ({"domain": "shop.com"}, 263),
    ({"domain": "shop.com", "years": "0"}, 263),
    ({"domain": "shop.com", "years": "11"}, 263),
    ({"domain": "bad_name.com", "years": "1"}, 114),
    ({"domain": "www.shop.com", "years": "1"}, 114),
    ({"domain": "shop.zz", "years": "1"}, 267),
])
def test_registration_refuses_missing_or_bad_parameters_with_their_code(namesilo, params, code):
    assert namesilo.code("registerDomain", **params) == code
    assert namesilo.state()["domains"] == {}


def test_a_domain_taken_by_someone_else_is_unavailable_with_261(namesilo):
    namesilo.http.post("/_sandbox/unavailable", json={"domain": "taken.com"})

    assert namesilo.code("registerDomain", domain="taken.com", years="1") == 261


def test_registering_a_domain_already_in_the_account_answers_262(namesilo):
    namesilo.register("shop.com")

    assert namesilo.code("registerDomain", domain="shop.com", years="1") == 262


def test_registration_without_enough_funds_answers_119_and_registers_nothing(namesilo):
    namesilo.http.post("/_sandbox/balance", json={"balance": 10})

    assert namesilo.code("registerDomain", domain="shop.com", years="1") == 119
    assert namesilo.state()["domains"] == {} and namesilo.state()["balance_cents"] == 1000


# -- changing a registration ---------------------------------------------------------


@pytest.mark.parametrize("operation, params", [
    ("getDomainInfo", {}),
    ("changeNameServers", {"ns1": "ns1.host.example", "ns2": "ns2.host.example"}),
    ("renewDomain", {"years": "1"}),
    ("domainLock", {}),
    ("addAutoRenewal", {}),
])
def test_a_domain_outside_the_account_answers_200(namesilo, operation, params):
    assert namesilo.code(operation, domain="elsewhere.com", **params) == 200


def test_changenameservers_replaces_the_nameservers_in_order(namesilo):
    namesilo.register("shop.com")

    code = namesilo.code("changeNameServers", domain="shop.com", ns1="a.host.example",
                         ns2="b.host.example", ns3="c.host.example")

    assert code == 300
    assert [ns["nameserver"] for ns in namesilo.info()["nameservers"]] == [
        "a.host.example", "b.host.example", "c.host.example"]


def test_changenameservers_refuses_bad_hosts_with_254_and_a_missing_ns2_with_108(namesilo):
    namesilo.register("shop.com")

    assert namesilo.code("changeNameServers", domain="shop.com", ns1="a.host.example", ns2="bad host") == 254
    assert namesilo.code("changeNameServers", domain="shop.com", ns1="a.host.example") == 108


@pytest.mark.parametrize("operation, already, field, value", [
    ("domainUnlock", 253, "locked", "No"),
    ("addAutoRenewal", 250, "auto_renew", "Yes"),
])
def test_flag_operations_change_once_then_answer_already_so(namesilo, operation, already, field, value):
    namesilo.register("shop.com")

    assert namesilo.code(operation, domain="shop.com") == 300
    assert namesilo.info()[field] == value
    assert namesilo.code(operation, domain="shop.com") == already


def test_lock_and_auto_renew_answer_252_and_251_when_already_so(namesilo):
    namesilo.register("shop.com")

    assert namesilo.code("domainLock", domain="shop.com") == 252
    assert namesilo.code("removeAutoRenewal", domain="shop.com") == 251


def test_renewal_extends_the_expiry_and_refuses_more_than_ten_years_ahead(namesilo):
    namesilo.register("shop.com", years="2")

    reply = namesilo.reply("renewDomain", domain="shop.com", years="3")

    assert (reply["code"], reply["order_amount"]) == (300, "47.85")
    assert namesilo.info()["expires"] == "2030-01-15"
    assert namesilo.code("renewDomain", domain="shop.com", years="6") == 264


def test_listdomains_answers_the_domains_and_a_pager(namesilo):
    for name in ("b.com", "a.org", "c.net"):
        namesilo.register(name)

    reply = namesilo.reply("listDomains", page="1", pageSize="2")

    assert reply["domains"] == [{"domain": "a.org", "created": "2025-01-15", "expires": "2026-01-15"},
                                {"domain": "b.com", "created": "2025-01-15", "expires": "2026-01-15"}]
    assert reply["pager"] == {"total": 3, "page": 1, "pageSize": 2}


# -- transfers ---------------------------------------------------------------------


def test_a_transfer_stays_pending_until_the_third_status_check_then_the_domain_is_active(namesilo):
    namesilo.http.post("/_sandbox/unavailable", json={"domain": "moving.com"})

    ordered = namesilo.reply("transferDomain", domain="moving.com", auth="EPP-secret")
    statuses = [namesilo.reply("checkTransferStatus", domain="moving.com")["status"] for _ in range(3)]

    assert (ordered["code"], ordered["order_amount"]) == (300, "15.95")
    assert statuses == ["Pending at Registry", "Pending at Registry", "Transfer Completed"]
    assert namesilo.info("moving.com")["status"] == "Active"


def test_the_control_api_moves_a_transfer_along(namesilo):
    namesilo.reply("transferDomain", domain="moving.com", auth="EPP-secret")

    response = namesilo.http.post("/_sandbox/transfers/moving.com", json={"status": "Transfer Completed"})

    assert response.status_code == 200
    assert namesilo.info("moving.com")["status"] == "Active"
    assert namesilo.http.post("/_sandbox/transfers/none.com", json={"status": "x"}).status_code == 404


def test_transfer_errors_have_their_codes(namesilo):
    namesilo.register("shop.com")

    assert namesilo.code("transferDomain", domain="moving.com") == 108
    assert namesilo.code("transferDomain", domain="shop.com", auth="x") == 262
    assert namesilo.code("checkTransferStatus", domain="never.com") == 266
    namesilo.reply("transferDomain", domain="moving.com", auth="x")
    assert namesilo.code("transferDomain", domain="moving.com", auth="x") == 265


def test_the_epp_code_is_not_kept_in_the_state(namesilo, state_path):
    namesilo.reply("transferDomain", domain="moving.com", auth="EPP-secret-code")

    assert b"EPP-secret-code" not in stored_bytes(state_path)


# -- state, control API and faults -------------------------------------------------


def test_state_survives_recreating_the_app_from_the_same_file(namesilo, state_path):
    namesilo.register("shop.com")

    again = NameSilo(create_app(state_path, KEY, balance=5000.0, today=lambda: TODAY))

    assert again.info("shop.com")["status"] == "Active"
    # The file wins over the constructor's balance: it is a restart, not a new account.
    assert again.state()["balance_cents"] == 10000 - 1395


def test_reset_restores_the_starting_balance_and_forgets_the_domains(namesilo):
    namesilo.register("shop.com")

    namesilo.http.post("/_sandbox/reset")

    assert namesilo.state()["balance_cents"] == 10000 and namesilo.state()["domains"] == {}


def test_the_control_api_changes_a_registration_behind_the_clients_back(namesilo):
    namesilo.register("shop.com", auto_renew="1")

    namesilo.http.post("/_sandbox/domains/shop.com", json={"auto_renew": False, "nameservers": ["ns9.x.example"]})

    info = namesilo.info()
    assert info["auto_renew"] == "No"
    assert info["nameservers"] == [{"nameserver": "ns9.x.example", "position": 1}]


def test_the_control_api_refuses_to_mark_an_invalid_domain_unavailable(namesilo):
    response = namesilo.http.post("/_sandbox/unavailable", json={"domain": "no spaces.com"})

    assert response.status_code == 400 and response.get_json()["error"] == "bad_domain"


def test_a_code_fault_answers_its_code_the_given_number_of_times_then_stops(namesilo):
    namesilo.fault(operation="registerDomain", kind="code", code=115, count=2)

    codes = [namesilo.code("registerDomain", domain="shop.com", years="1") for _ in range(3)]

    assert codes == [115, 115, 300]


def test_a_code_fault_may_carry_its_own_detail(namesilo):
    namesilo.fault(operation="*", kind="code", code=400, reason="slow down")

    assert namesilo.reply("listDomains") == {"code": 400, "detail": "slow down"}
    assert namesilo.code("listDomains") == 300


def test_an_http_fault_answers_a_5xx_page_instead_of_json_then_stops(namesilo):
    namesilo.fault(operation="getDomainInfo", kind="http", status=503, count=1)

    failed = namesilo.http.get("/api/getDomainInfo", query_string={"version": "1", "type": "json", "key": KEY})
    recovered = namesilo.http.get("/api/getDomainInfo", query_string={"version": "1", "type": "json", "key": KEY})

    assert failed.status_code == 503 and failed.get_json(silent=True) is None
    assert recovered.status_code == 200


def test_a_timeout_fault_registers_the_domain_even_though_the_answer_is_late(namesilo, sleeps):
    namesilo.fault(operation="registerDomain", kind="timeout", seconds=0.01)

    namesilo.register("shop.com")
    retried = namesilo.code("registerDomain", domain="shop.com", years="1")

    assert sleeps == [0.01]
    # A blind retry after a timeout meets the first attempt's registration.
    assert retried == 262


def test_a_latency_fault_with_count_0_delays_every_call_until_cleared(namesilo, sleeps):
    namesilo.fault(operation="listDomains", kind="latency", ms=250, count=0)

    for _ in range(3):
        namesilo.code("listDomains")
    namesilo.code("getDomainInfo", domain="shop.com")
    namesilo.http.delete("/_sandbox/faults")
    namesilo.code("listDomains")

    assert sleeps == [0.25, 0.25, 0.25]


def test_the_request_log_masks_the_key_and_the_epp_code(namesilo, caplog):
    with caplog.at_level(logging.INFO, logger="sandbox.namesilo"):
        namesilo.reply("transferDomain", domain="moving.com", auth="EPP-secret")

    [line] = [r.getMessage() for r in caplog.records if r.name == "sandbox.namesilo"]
    assert "/api/transferDomain?" in line and "key=REDACTED" in line and "auth=REDACTED" in line
    assert "domain=moving.com" in line
    assert KEY not in line and "EPP-secret" not in line
