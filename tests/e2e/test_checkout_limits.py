"""Checkout intents are limited per email address and per client address (issue 23 item 2):
one too many is a 429 with Retry-After and a JSON error naming the field."""
from __future__ import annotations

import secrets
from dataclasses import replace

from tests.e2e.conftest import seed_payload


def test_the_sixth_checkout_in_an_hour_for_one_email_is_refused_naming_the_email(mpanel):
    email = f"limit-{secrets.token_hex(4)}@example.com"
    first = seed_payload()
    for n in range(5):
        payload = {**seed_payload(), "customer": {**first["customer"], "email": email}}
        answer = mpanel.checkout(payload)
        assert answer.status_code == 201, (n, answer.text)
    refused = mpanel.checkout({**seed_payload(), "customer": {**first["customer"], "email": email}})
    assert refused.status_code == 429, refused.text
    assert refused.json()["field"] == "customer.email" and refused.json()["error"] == "limit-reached"
    assert 0 < int(refused.headers["Retry-After"]) <= 3600
    # Another email from the same place is not held back by this one's limit.
    assert mpanel.checkout(seed_payload()).status_code == 201


def test_checkouts_from_one_client_address_are_limited_behind_a_trusted_proxy(settings):
    """The running test server has no per-address limit (every test client is 127.0.0.1), so
    this one is an app of its own: nginx on 127.0.0.1 passes the client in X-Forwarded-For."""
    from app import create_app

    app = create_app(replace(settings, MPANEL_CHECKOUT_LIMIT_PER_ADDRESS=3, MPANEL_TRUSTED_PROXIES="127.0.0.1"),
                     open_queue=False)
    client = app.test_client()
    one, other = f"198.51.100.{secrets.randbelow(200) + 1}", f"203.0.113.{secrets.randbelow(200) + 1}"

    def checkout(address: str):
        # The per-address key is the client nginx saw, never the proxy's own address.
        return client.post("/api/marketing/checkout-intent", json=seed_payload(),
                           headers={"X-API-Key": settings.MARKETING_API_KEY, "X-Forwarded-For": address},
                           environ_base={"REMOTE_ADDR": "127.0.0.1"})

    _forget(settings, one, other)
    try:
        for _ in range(3):
            answer = checkout(one)
            assert answer.status_code == 201, answer.get_data(as_text=True)
        refused = checkout(one)
        assert refused.status_code == 429
        assert "field" not in refused.get_json() and refused.get_json()["error"] == "limit-reached"
        assert 0 < int(refused.headers["Retry-After"]) <= 3600
        assert checkout(other).status_code == 201
    finally:
        _forget(settings, one, other)


def _forget(settings, *addresses: str) -> None:
    import psycopg

    with psycopg.connect(settings.DATABASE_URL, autocommit=True) as conn:
        conn.execute("DELETE FROM keyed_action_counts WHERE action = 'checkout_address' AND key = ANY(%s)",
                     (list(addresses),))
