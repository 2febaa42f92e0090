"""Bad checkout payloads answer 4xx naming the field, and write nothing."""
from __future__ import annotations

import copy

import psycopg
import pytest

from tests.e2e.conftest import seed_payload


def _rows(settings) -> tuple:
    with psycopg.connect(settings.DATABASE_URL) as conn:
        return conn.execute("SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM customers), "
                            "(SELECT count(*) FROM subscriptions), (SELECT count(*) FROM domains)").fetchone()


def _without(path: str) -> dict:
    payload = seed_payload()
    *parents, leaf = path.split(".")
    target = payload
    for p in parents:
        target = target[p]
    del target[leaf]
    return payload


def _with(path: str, value) -> dict:
    payload = seed_payload()
    *parents, leaf = path.split(".")
    target = payload
    for p in parents:
        target = target[p]
    target[leaf] = value
    return payload


BAD = [
    ("missing plan", _without("planSlug"), "planSlug"),
    ("missing domain", _without("domain"), "domain"),
    ("missing customer", _without("customer"), "customer"),
    ("missing email", _without("customer.email"), "customer.email"),
    ("missing password", _without("account.password"), "account.password"),
    ("plan as a number", _with("planSlug", 42), "planSlug"),
    ("customer as a string", _with("customer", "bob"), "customer"),
    ("testMode as a string", _with("testMode", "yes"), "testMode"),
    ("unknown billing cycle", _with("billingCycle", "weekly"), "billingCycle"),
    ("unknown domain mode", _with("domainMode", "steal"), "domainMode"),
    ("transfer without auth code", _with("domainMode", "transfer"), "authCode"),
    ("domain without a dot", _with("domain", "localhost"), "domain"),
    ("domain with spaces", _with("domain", "my site.com"), "domain"),
    ("domain with a leading hyphen", _with("domain", "-bad.com"), "domain"),
    ("oversized domain", _with("domain", "a" * 300 + ".com"), "domain"),
    ("oversized first name", _with("customer.firstName", "A" * 5000), "customer.firstName"),
    ("HTML in a name", _with("customer.firstName", "<script>alert(1)</script>"), "customer.firstName"),
    ("SQL in a name", _with("customer.lastName", "Robert'); DROP TABLE users;--"), "customer.lastName"),
    ("bad email", _with("customer.email", "not-an-email"), "customer.email"),
    ("short password", _with("account.password", "short"), "account.password"),
    ("unknown plan", _with("planSlug", "gold_unlimited"), "planSlug"),
    ("unknown promo code", _with("promoCode", "NOPE"), "promoCode"),
]


@pytest.mark.parametrize("label,payload,field", BAD, ids=[b[0] for b in BAD])
def test_a_bad_checkout_names_the_field_and_writes_nothing(mpanel, settings, label, payload, field):
    before = _rows(settings)
    answer = mpanel.checkout(payload)
    assert 400 <= answer.status_code < 500, (label, answer.status_code, answer.text)
    body = answer.json()
    assert body["field"] == field and body["message"] and body["error"]
    assert _rows(settings) == before


def test_a_body_that_is_not_json_is_a_400(mpanel, settings):
    import requests

    answer = requests.post(f"{mpanel.url}/api/marketing/checkout-intent", data=b"planSlug=x",
                           headers={"X-API-Key": settings.MARKETING_API_KEY}, timeout=10)
    assert answer.status_code == 400 and answer.json()["field"] == "body"


def test_a_wrong_api_key_is_a_401_and_writes_nothing(mpanel, settings):
    before = _rows(settings)
    answer = mpanel.checkout(seed_payload(), api_key="wrong")
    assert answer.status_code == 401 and answer.json()["field"] == "X-API-Key"
    assert _rows(settings) == before


def test_a_taken_email_or_a_hosted_domain_is_a_409(mpanel, settings):
    first = seed_payload()
    assert mpanel.checkout(first).status_code == 201
    same_email = seed_payload(account={"password": "Not-The-First-One-1"})  # same password: starting over
    same_email["customer"] = copy.deepcopy(first["customer"])
    answer = mpanel.checkout(same_email)
    assert answer.status_code == 409 and answer.json()["field"] == "customer.email"
    same_domain = seed_payload(domain=first["domain"].upper())
    answer = mpanel.checkout(same_domain)
    assert answer.status_code == 409 and answer.json()["field"] == "domain"
