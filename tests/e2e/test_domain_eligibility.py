"""Which domains may be ordered, over HTTP (issue 9 item 2): every refusal is a 422 naming
`domain` with the reason, and nothing is written; an IDN is ordered under its A-label."""
from __future__ import annotations

import secrets

import idna
import psycopg
import pytest
import requests

from tests.e2e.conftest import seed_payload


def _rows(settings) -> tuple:
    with psycopg.connect(settings.DATABASE_URL) as conn:
        return conn.execute("SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM customers), "
                            "(SELECT count(*) FROM subscriptions), (SELECT count(*) FROM domains)").fetchone()


def refused(mpanel, settings, **changes) -> str:
    """The reason a checkout with these changes is refused; asserts the 422 and no new rows."""
    before = _rows(settings)
    answer = mpanel.checkout(seed_payload(**changes))
    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert body["field"] == "domain", body
    assert _rows(settings) == before
    return body["message"]


def token() -> str:
    return secrets.token_hex(4)


@pytest.mark.parametrize("name", ["migrahosting.com", "mail.migrahosting.com", "ns1.migrahosting.com",
                                  "x.migrahosting.com"])
def test_the_operators_own_names_are_refused(mpanel, settings, name):
    assert "own domains" in refused(mpanel, settings, domain=name)


def test_a_name_under_a_domain_hosted_here_is_refused(mpanel, settings):
    hosted = f"victim-{token()}.com"
    assert mpanel.checkout(seed_payload(domain=hosted)).status_code == 201
    assert "hosted here" in refused(mpanel, settings, domain=f"shop.{hosted}")
    assert "hosted here" in refused(mpanel, settings, domain=f"www.www.{hosted}")


def test_the_parent_of_a_domain_hosted_here_is_refused(mpanel, settings):
    parent = f"victim-{token()}.com"
    assert mpanel.checkout(seed_payload(domain=f"shop.{parent}")).status_code == 201
    assert "hosted here" in refused(mpanel, settings, domain=parent)


@pytest.mark.parametrize("name", ["shop.test", "hidden.onion", "printer.local", "corp.internal",
                                  "router.home.arpa", "example.com"])
def test_special_use_names_are_refused(mpanel, settings, name):
    assert "cannot be ordered" in refused(mpanel, settings, domain=name)


@pytest.mark.parametrize("name", ["xn--zz.com", "xn--abc.com", "shop.xn--ls8h.la"])
def test_a_bogus_a_label_is_refused(mpanel, settings, name):
    # Refused by the one name rule (providers.rules.names), which the validation applies first.
    refused(mpanel, settings, domain=name)


def test_an_extension_the_plan_does_not_offer_is_refused(mpanel, settings):
    # The stand-in sells .io (34.99 USD); the student plan does not offer it.
    message = refused(mpanel, settings, domain=f"startup-{token()}.io", domainMode="new_registration")
    assert ".io" in message and "Shared Student" in message


def test_a_registration_above_the_price_ceiling_is_refused(mpanel, settings):
    # The business plan offers .io, but the registrar's 34.99 USD is above the default 20.00 ceiling.
    message = refused(mpanel, settings, domain=f"startup-{token()}.io", domainMode="new_registration",
                      planSlug="shared_business")
    assert "34.99" in message and "20.00" in message


def _price(settings, name: str, **price) -> None:
    """Price one name apart from its TLD at the registrar (the NameSilo stand-in's control API)."""
    requests.post(f"{_namesilo(settings)}/_sandbox/prices/{name}", json=price, timeout=10).raise_for_status()


def test_a_premium_name_is_refused_whatever_its_price(mpanel, settings):
    # checkRegisterAvailability answers it available, at 9.00 USD (under the ceiling), with premium 1.
    name = f"gold-{token()}.com"
    _price(settings, name, price=9.0, premium=True)
    assert "premium" in refused(mpanel, settings, domain=name, domainMode="new_registration")


def test_a_name_the_registrar_prices_above_the_ceiling_is_refused(mpanel, settings):
    # A .com (13.95 USD for most names) that this registrar sells at 250.00 USD, not marked premium.
    name = f"pricey-{token()}.com"
    _price(settings, name, price=250.0, renew=250.0)
    message = refused(mpanel, settings, domain=name, domainMode="new_registration")
    assert "250.00" in message and "20.00" in message


def test_a_name_someone_else_registered_is_refused_as_a_new_registration(mpanel, settings):
    name = f"taken-{token()}.com"
    requests.post(f"{_namesilo(settings)}/_sandbox/unavailable", json={"domain": name},
                  timeout=10).raise_for_status()
    assert "transfer" in refused(mpanel, settings, domain=name, domainMode="new_registration")


def test_a_registrar_that_cannot_be_reached_is_an_upstream_error_and_writes_nothing(mpanel, settings):
    control = f"{_namesilo(settings)}/_sandbox/faults"
    requests.post(control, json={"operation": "checkRegisterAvailability", "kind": "http", "status": 503,
                                 "count": 0}, timeout=10).raise_for_status()
    try:
        before = _rows(settings)
        answer = mpanel.checkout(seed_payload(domain=f"shop-{token()}.com", domainMode="new_registration"))
    finally:
        requests.delete(control, timeout=10).raise_for_status()
    assert answer.status_code in (502, 503), answer.text
    assert "registrar" in answer.json()["message"]
    assert _rows(settings) == before


def test_a_registration_within_the_ceiling_is_accepted(mpanel, settings):
    answer = mpanel.checkout(seed_payload(domain=f"shop-{token()}.com", domainMode="new_registration"))
    assert answer.status_code == 201, answer.text


def test_an_idn_is_accepted_and_stored_as_its_a_label(mpanel, settings):
    name = f"bücher-{token()}.com"
    a_label = idna.encode(name).decode()
    answer = mpanel.checkout(seed_payload(domain=name.upper()))
    assert answer.status_code == 201, answer.text
    assert answer.json()["domain"] == a_label and answer.json()["domainUnicode"] == name
    with psycopg.connect(settings.DATABASE_URL) as conn:
        assert conn.execute("SELECT count(*) FROM domains WHERE name = %s", (a_label,)).fetchone()[0] == 1


def _namesilo(settings) -> str:
    return settings.NAMESILO_API_URL.rsplit("/api", 1)[0]
