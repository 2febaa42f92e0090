"""Hostile checkout bodies (app/services/orders/validation.py): refused naming the field, never a crash.

Regressions from fuzzing: a lone surrogate ("\\ud800" in JSON) passed validation and broke
argon2 and PostgreSQL (500), and JSON nested a few thousand deep made the decoder recurse
past Python's limit (RecursionError, 500).
"""
from __future__ import annotations

import json

import pytest

from app.devtools.fuzz import CheckoutPayloads
from app.services.orders.validation import MAX_DEPTH, MalformedBody, ValidationError, decode_json, parse_checkout
from tests.unit.test_checkout_validation import a_payload, with_customer


def refused(payload) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        parse_checkout(payload)
    return caught.value


def body_refused(raw: bytes) -> MalformedBody:
    with pytest.raises(MalformedBody) as caught:
        decode_json(raw)
    return caught.value


@pytest.mark.parametrize("path", ["customer.company", "customer.firstName", "customer.email", "domain",
                                  "planSlug", "promoCode", "utmSource"])
def test_a_lone_surrogate_in_a_text_field_is_refused_naming_the_field(path):
    payload = a_payload()
    *parents, leaf = path.split(".")
    target = payload
    for key in parents:
        target = target[key]
    target[leaf] = "Acme \ud800 Ltd"
    assert refused(json.loads(json.dumps(payload))).field == path


def test_a_lone_surrogate_in_the_password_is_refused_naming_the_password():
    payload = a_payload(account={"password": "correct-horse-\udfff-battery"})
    error = refused(payload)
    assert error.field == "account.password" and "surrogate" in error.message


def test_a_lone_surrogate_in_a_field_nobody_reads_is_refused_too():
    assert refused(a_payload(utm={"a": {"b": ["ok", "\ud800"]}})).field == "utm.a.b[1]"
    assert refused(a_payload(**{"\udc00": 1})).field == "\\udc00"


@pytest.mark.parametrize("char", ["\x00", "\x1b", "\x7f", "\x85", "\x9f"])
def test_control_characters_are_refused_in_free_text_and_the_password(char):
    assert refused(with_customer(company=f"Acme{char}Ltd")).field == "customer.company"
    assert refused(a_payload(account={"password": f"correct{char}horse-battery"})).field == "account.password"


def test_valid_unicode_beyond_the_basic_plane_is_accepted():
    order = parse_checkout(with_customer(company="Zoë’s 日本語 \U0001f600 Ltd"))
    assert order.company == "Zoë’s 日本語 \U0001f600 Ltd"


@pytest.mark.parametrize("value", [[], ["x"], 7, True, {"a": "b"}], ids=repr)
def test_a_wrong_typed_password_says_what_it_got(value):
    error = refused(a_payload(account={"password": value}))
    assert error.field == "account.password" and error.message == f"must be a string, not {type(value).__name__}"


@pytest.mark.parametrize("top", [[], [a_payload()], "checkout", 42, None, True])
def test_a_body_that_is_not_an_object_is_refused_naming_the_body(top):
    assert refused(top).field == "body"


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 1000, 2000, 7000])
def test_json_nested_thousands_deep_is_refused_before_it_is_decoded(depth):
    raw = ('{"planSlug": "x", "utm": ' + '{"a": ' * depth + "1" + "}" * depth + "}").encode()
    error = body_refused(raw)
    assert error.code == "too_deeply_nested" and error.field == "body"


def test_brackets_inside_strings_do_not_count_as_nesting():
    payload = a_payload()
    payload["customer"]["company"] = "[" * 500 + "{" * 500
    assert decode_json(json.dumps(payload).encode()) == payload


@pytest.mark.parametrize("raw", [b"", b"  ", b"\xff\xfe{}", b"{'a': 1}", b'{"a": NaN}', b'{"a": Infinity}',
                                 b'{"a": ' + b"9" * 5000 + b"}", b'{"a": "unterminated', b"{" * 9000,
                                 b"\xef\xbb\xbf{}"])
def test_a_body_that_is_not_utf8_json_is_refused_as_invalid_json(raw):
    error = body_refused(raw)
    assert error.field == "body" and error.code in ("invalid_json", "too_deeply_nested")


def test_the_fuzz_generator_is_reproducible_from_its_seed():
    first, again = CheckoutPayloads(7, "m"), CheckoutPayloads(7, "m")
    assert [first.probe(i) for i in range(200)] == [again.probe(i) for i in range(200)]
    assert CheckoutPayloads(8, "m").probe(3) != first.probe(3)


def test_no_generated_payload_crashes_validation():
    """Every one of a few thousand generated bodies decodes and validates, or is refused naming
    a field: nothing else may escape (the in-process and HTTP runs cover the database too)."""
    payloads = CheckoutPayloads(1, "unit")
    for number in range(3000):
        probe = payloads.probe(number)
        try:
            parse_checkout(decode_json(probe.body))
        except ValidationError as refusal:
            assert refusal.field and refusal.message, probe.kind
