"""`mpanel fuzz`, small and seeded: generated checkout payloads never get a 5xx, and a 4xx
writes no row (the full run is the command: `mpanel fuzz -n 10000`)."""
from __future__ import annotations

import json

import psycopg
import requests

from app.devtools import fuzz
from tests.e2e.conftest import seed_payload


def _rows(settings) -> tuple:
    with psycopg.connect(settings.DATABASE_URL) as conn:
        return conn.execute("SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM customers), "
                            "(SELECT count(*) FROM subscriptions), (SELECT count(*) FROM domains)").fetchone()


def test_three_hundred_generated_payloads_in_process_get_no_5xx_and_no_4xx_writes_a_row(settings):
    counts = fuzz.RowCounts(settings.DATABASE_URL)
    try:
        found = fuzz.fuzz(fuzz.in_process(settings), counts, fuzz.CheckoutPayloads(seed=10, marker="e2e-ip"), 300)
    finally:
        counts.close()
    summary = fuzz.report(found, 10, "in process")
    assert found.ok, summary
    assert found.statuses[201] >= found.valid_sent > 0, summary
    assert sum(v for k, v in found.statuses.items() if 400 <= k < 500) > 200, summary


def test_the_command_over_http_passes_against_the_running_app(mpanel, capsys):
    assert fuzz.run(120, 11, mpanel.url) == 0
    assert "5xx answers: 0" in capsys.readouterr().out


def _post(mpanel, body: bytes, content_type: str | None = "application/json", **extra) -> requests.Response:
    headers = {"X-API-Key": mpanel.s.MARKETING_API_KEY, **extra}
    if content_type:
        headers["Content-Type"] = content_type
    return requests.post(f"{mpanel.url}/api/marketing/checkout-intent", data=body, headers=headers, timeout=30)


def test_a_lone_surrogate_in_company_or_password_is_a_422_naming_it_and_writes_nothing(mpanel, settings):
    for path in ("customer.company", "account.password"):
        payload = seed_payload()
        section, leaf = path.split(".")
        payload[section][leaf] = "\ud800" if leaf == "company" else "TestPassword\ud800123"
        before = _rows(settings)
        answer = _post(mpanel, json.dumps(payload).encode())
        assert answer.status_code == 422, answer.text
        assert answer.json()["field"] == path
        assert _rows(settings) == before


def test_json_nested_thousands_deep_is_a_400_naming_the_body(mpanel, settings):
    # Both under the 16 KiB body limit: objects 2,000 deep, arrays 7,000 deep.
    for body in ('{"utm": ' + '{"a":' * 2000 + "1" + "}" * 2001, '{"utm": ' + "[" * 7000 + "]" * 7000 + "}"):
        before = _rows(settings)
        answer = _post(mpanel, body.encode())
        assert answer.status_code == 400, answer.text
        assert answer.json() == {"error": "too_deeply_nested", "field": "body",
                                 "message": answer.json()["message"]}
        assert _rows(settings) == before


def test_a_wrong_content_type_is_a_415_naming_the_header(mpanel):
    answer = _post(mpanel, json.dumps(seed_payload()).encode(), "text/plain")
    assert answer.status_code == 415 and answer.json()["field"] == "Content-Type"


def test_an_oversized_chunked_body_is_a_413(mpanel):
    chunks = iter([b'{"planSlug": "', b"x" * 20000, b'"}'])
    answer = _post(mpanel, chunks)  # a generator body goes out chunked, without Content-Length
    assert answer.status_code == 413 and answer.json()["field"] == "body"
