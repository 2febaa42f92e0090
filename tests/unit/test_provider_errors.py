"""ProviderError crosses the engine boundary as text and is read back as data."""
from __future__ import annotations

import pickle
import textwrap

import pytest

from providers.core.errors import MARK, NotFound, NotOurs, ProviderError, errors_in

MESSAGES = [
    "upstream answered 503 Service Unavailable",
    'the reason said "no" and \\"escaped\\" too',
    "brackets ] [ and a fake trailer [mpanel-error {\"provider\": \"x\"}] inside",
    "two\nlines\r\nand a tab\there",
    "caf\u00e9 \u2603 \u4e2d\u6587 \U0001f600 \u2028separator",
    "",
    "{\"json\": [1, 2]}",
]


@pytest.mark.parametrize("message", MESSAGES, ids=range(len(MESSAGES)))
def test_an_error_round_trips_through_its_text(message):
    error = ProviderError("whm", message, code="E42", status=503, retryable=True)
    [decoded] = [e for e in errors_in(str(error)) if e.provider == "whm"]
    assert (decoded.provider, decoded.message, decoded.code, decoded.status, decoded.retryable) == \
        ("whm", message, "E42", 503, True)


def test_the_trailer_is_one_ascii_line_after_the_human_sentence():
    error = ProviderError("mailbox", "line one\nline two \u2603", code=261)
    text = str(error)
    trailer = text[text.index(MARK):]
    assert "\n" not in trailer and trailer.isascii() and trailer.endswith("]")
    assert text.startswith("mailbox: line one\nline two \u2603 (code 261) [permanent] ")


def test_the_reason_is_the_provider_and_the_human_message():
    error = ProviderError("namesilo", "domain x.com is not available for registration", code=261)
    assert error.reason == "namesilo: domain x.com is not available for registration"


def test_numeric_and_missing_codes_keep_their_type():
    assert errors_in(str(ProviderError("namesilo", "x", code=261)))[0].code == 261
    decoded = errors_in(str(ProviderError("acme", "x")))[0]
    assert decoded.code is None and decoded.status is None and decoded.retryable is False


def test_the_kind_of_error_survives():
    assert isinstance(errors_in(str(NotFound("powerdns", "gone", status=404)))[0], NotFound)
    not_ours = errors_in(str(NotOurs("whm", "someone else's")))[0]
    assert isinstance(not_ours, NotOurs) and not_ours.code == "not_ours"


def test_errors_are_found_in_engine_output_indented_and_wrapped_in_a_traceback():
    first = ProviderError("whm", "createacct: upstream answered 503", status=503, retryable=True)
    second = ProviderError("acme", 'the CA refused "x"', code="urn:ietf:params:acme:error:rejectedIdentifier")
    output = ("Updating (sub-7):\n"
              "    error: Exception calling application: Traceback (most recent call last):\n"
              + textwrap.indent(f'  File "x.py", line 1\nproviders.core.errors.ProviderError: {first}\n', "        ")
              + f"  pulumi-python:dynamic:Resource (tls):\n    error: {second}\n")
    found = errors_in(output)
    assert [(e.provider, e.retryable) for e in found] == [("whm", True), ("acme", False)]
    assert found[1].message == 'the CA refused "x"'


def test_a_trailer_broken_across_lines_by_the_engine_is_still_read():
    text = str(ProviderError("site", "ssh failed", code=255, retryable=True))
    cut = text.index('"retryable"')
    wrapped = text[:cut] + "\n      " + text[cut:]
    [decoded] = errors_in(wrapped)
    assert (decoded.provider, decoded.code, decoded.retryable) == ("site", 255, True)


def test_text_without_an_encoded_error_yields_nothing():
    assert errors_in("error: update failed\n[mpanel-error not json] and [mpanel-error {\"a\": 1") == []
    assert errors_in("") == []


def test_an_error_pickles_with_its_fields():
    error = NotFound("powerdns", "gone", status=404)
    copy = pickle.loads(pickle.dumps(error))
    assert isinstance(copy, NotFound) and (copy.provider, copy.message, copy.status) == ("powerdns", "gone", 404)
