"""Domain eligibility's pure rules (app/services/orders/eligibility.py): special-use names, the
operator's own hosts from the settings, names above and below hosted ones, the plan's
extensions, the registrar's quote. No servers."""
from __future__ import annotations

from decimal import Decimal

import pytest

from app.services.orders.eligibility import (Quote, RegistrarUnavailable, hosted_problem, operator_domains,
                                             operator_hosts, operator_problem, quote_from_reply, quote_problem,
                                             registrar_quote, registration_problem, special_use_problem)
from app.services.orders.billing import PaymentServiceError
from app.settings import Settings
from providers.core.errors import ProviderError

# --- special-use names ---------------------------------------------------------------------


@pytest.mark.parametrize("name", [
    "shop.test", "my.localhost", "x.invalid", "site.example", "printer.local", "duckduckgo.onion",
    "corp.internal", "1.168.192.in-addr.arpa", "router.home.arpa", "thing.alt",
    "example.com", "www.example.com", "example.net", "example.org", "shop.example.org",
])
def test_special_use_and_reserved_names_are_refused(name):
    assert special_use_problem(name) is not None


def test_the_reason_names_the_rfc():
    assert "RFC 7686" in special_use_problem("hidden.onion")
    assert "RFC 6761" in special_use_problem("example.com")


@pytest.mark.parametrize("name", ["example.co", "examples.com", "testing.com", "localhost-shop.com",
                                  "myexample.com", "example.co.uk", "test-site-1234.com"])
def test_ordinary_names_that_merely_look_alike_pass(name):
    assert special_use_problem(name) is None


def test_a_public_suffix_itself_is_refused():
    assert "public suffix" in special_use_problem("co.uk")


# --- the operator's own hosts ---------------------------------------------------------------


def production(**changes) -> Settings:
    values = dict(APP_URL="https://panel.migrahosting.com", MARKETING_SITE_URL="https://migrahosting.com",
                  NS1="ns1.migrahosting.com", NS2="ns2.migrahosting-dns.net", MAIL_SERVER_HOST="")
    return Settings(**{**values, **changes})


def test_the_operator_hosts_come_from_the_urls_the_nameservers_and_the_mail_host():
    assert operator_hosts(production()) == [
        "panel.migrahosting.com", "migrahosting.com", "ns1.migrahosting.com", "ns2.migrahosting-dns.net",
        "mail.migrahosting.com"]


def test_an_explicit_mail_host_and_the_reserved_list_count_too():
    settings = production(MAIL_SERVER_HOST="mx.mailcore.io",
                          MPANEL_RESERVED_DOMAINS=" migrahosting.org, Migra-Status.COM ,,")
    assert operator_hosts(settings)[-3:] == ["mx.mailcore.io", "migrahosting.org", "migra-status.com"]
    assert operator_domains(settings) == ["migrahosting.com", "migrahosting-dns.net", "mailcore.io",
                                          "migrahosting.org", "migra-status.com"]


def test_ip_addresses_and_ports_in_urls_are_not_names_anyone_could_order():
    settings = production(APP_URL="http://127.0.0.1:2271", MARKETING_SITE_URL="http://localhost:8080")
    assert "127.0.0.1" not in operator_hosts(settings)
    assert operator_domains(settings) == ["migrahosting.com", "migrahosting-dns.net"]


@pytest.mark.parametrize("name", ["migrahosting.com", "panel.migrahosting.com", "mail.migrahosting.com",
                                  "x.migrahosting.com", "www.www.migrahosting.com", "ns2.migrahosting-dns.net",
                                  "migrahosting-dns.net"])
def test_the_operators_domains_and_every_name_under_them_are_refused(name):
    assert "own domains" in operator_problem(name, operator_domains(production()))


@pytest.mark.parametrize("name", ["migrahosting.co", "notmigrahosting.com", "migrahosting.com.evil.net"])
def test_names_that_only_contain_the_operators_name_pass(name):
    assert operator_problem(name, operator_domains(production())) is None


def test_a_two_label_public_suffix_gives_a_three_label_operator_domain():
    settings = production(MARKETING_SITE_URL="https://www.migrahosting.co.uk")
    assert "migrahosting.co.uk" in operator_domains(settings)
    assert operator_problem("other.co.uk", operator_domains(settings)) is None


# --- above and below hosted domains ---------------------------------------------------------


def test_a_name_under_a_hosted_domain_is_refused():
    assert "under victim.com" in hosted_problem("shop.victim.com", ["victim.com"])
    assert hosted_problem("www.www.victim.com", ["victim.com"]) is not None


def test_a_name_above_a_hosted_domain_is_refused_without_naming_the_hosted_one():
    problem = hosted_problem("victim.com", ["shop.victim.com"])
    assert problem is not None and "shop" not in problem


def test_equal_names_are_left_to_the_orders_own_conflict_check():
    assert hosted_problem("victim.com", ["victim.com"]) is None


def test_neighbours_are_not_related():
    assert hosted_problem("victim.com", ["notvictim.com", "victim.co"]) is None


# --- the plan's extensions --------------------------------------------------------------------

STUDENT = ["com", "net", "org"]


@pytest.mark.parametrize("mode", ["new_registration", "transfer"])
def test_an_extension_the_plan_does_not_offer_is_refused_for_registrations_and_transfers(mode):
    problem = registration_problem("startup.ai", mode, STUDENT, "Shared Student")
    assert ".ai" in problem and "Shared Student" in problem and ".com" in problem


def test_an_external_domain_is_not_limited_by_the_plan():
    assert registration_problem("startup.ai", "external", STUDENT, "Shared Student") is None


def test_an_offered_extension_passes():
    assert registration_problem("startup.com", "new_registration", STUDENT, "Shared Student") is None


def test_a_two_label_suffix_must_be_offered_as_such():
    assert registration_problem("shop.co.uk", "new_registration", ["uk"], "Starter") is not None
    assert registration_problem("shop.co.uk", "new_registration", ["co.uk"], "Starter") is None
    assert registration_problem("shop.uk", "new_registration", ["uk"], "Starter") is None


def test_a_subdomain_cannot_be_registered():
    assert "not a registrable domain" in registration_problem("www.startup.com", "new_registration", STUDENT, "S")


def test_allowed_extensions_are_read_leniently():
    assert registration_problem("startup.com", "transfer", [".COM ", ""], "S") is None


# --- the registrar's quote --------------------------------------------------------------------


def test_a_quote_is_read_from_any_of_the_reply_shapes():
    reply = {"code": 300, "available": [{"domain": "a.com", "price": "13.95", "premium": "0", "duration": 1}],
             "unavailable": "b.com", "invalid": ["c.zz"]}
    assert quote_from_reply(reply, "a.com") == Quote("available", Decimal("13.95"), False)
    assert quote_from_reply(reply, "b.com").status == "unavailable"
    assert quote_from_reply(reply, "c.zz").status == "invalid"
    assert quote_from_reply(reply, "d.com").status == "invalid"
    assert quote_from_reply({"available": {"domain": "a.com", "price": 9, "premium": 1}}, "a.com").premium


CEILING = Decimal("20.00")


def test_a_price_at_or_below_the_ceiling_passes():
    assert quote_problem("a.com", Quote("available", Decimal("20.00")), CEILING) is None


def test_a_price_above_the_ceiling_is_refused_with_both_amounts():
    problem = quote_problem("a.io", Quote("available", Decimal("34.99")), CEILING)
    assert "34.99" in problem and "20.00" in problem


def test_a_premium_name_is_refused_whatever_its_price():
    assert "premium" in quote_problem("a.com", Quote("available", Decimal("5"), premium=True), CEILING)


def test_a_taken_name_is_refused_with_the_way_to_bring_it():
    assert "transfer" in quote_problem("a.com", Quote("unavailable"), CEILING)


def test_an_unreachable_registrar_is_an_upstream_error_not_a_pass():
    def down(settings, name):
        raise ProviderError("namesilo", "cannot reach the API", retryable=True)

    with pytest.raises(RegistrarUnavailable) as caught:
        registrar_quote(Settings(), "a.com", down)
    assert isinstance(caught.value, PaymentServiceError)  # answered 502 by the existing handler


def test_a_registrar_that_refuses_the_name_itself_makes_it_invalid():
    def refuses(settings, name):
        raise ProviderError("namesilo", "invalid domain or TLD", code=267)

    assert registrar_quote(Settings(), "a.zz", refuses).status == "invalid"


def test_an_available_name_without_a_price_is_the_registrars_failure():
    with pytest.raises(RegistrarUnavailable):
        registrar_quote(Settings(), "a.com", lambda s, n: {"available": [{"domain": "a.com"}]})
