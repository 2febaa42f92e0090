"""RFC 6238 one-time codes (app/services/common/totp.py), against the RFCs' own test vectors."""
from __future__ import annotations

import base64

from app.services.common import totp

RFC_KEY = b"12345678901234567890"
RFC_SECRET = base64.b32encode(RFC_KEY).decode()


def test_hotp_matches_rfc_4226_appendix_d():
    expected = ["755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"]
    assert [totp.hotp(RFC_KEY, counter) for counter in range(10)] == expected


def test_totp_matches_rfc_6238_appendix_b_sha1():
    for at, code in ((59, "94287082"), (1111111109, "07081804"), (1111111111, "14050471"),
                     (1234567890, "89005924"), (2000000000, "69279037"), (20000000000, "65353130")):
        assert totp.hotp(RFC_KEY, at // 30, digits=8) == code


def test_a_code_is_accepted_one_step_either_side_and_no_further():
    secret = totp.new_secret()
    now = 1_700_000_000
    assert totp.step_of(secret, totp.code_at(secret, now), at=now) == now // 30
    assert totp.step_of(secret, totp.code_at(secret, now - 30), at=now) == now // 30 - 1
    assert totp.step_of(secret, totp.code_at(secret, now + 30), at=now) == now // 30 + 1
    assert totp.step_of(secret, totp.code_at(secret, now - 90), at=now) is None


def test_malformed_codes_are_refused():
    secret = totp.new_secret()
    for code in ("", "12345", "1234567", "abcdef", None):
        assert totp.step_of(secret, code, at=0) is None


def test_a_new_secret_is_160_bits_of_base32_and_the_uri_names_it():
    secret = totp.new_secret()
    assert len(base64.b32decode(secret + "=" * (-len(secret) % 8))) == 20
    uri = totp.provisioning_uri(secret, "ops@example.com")
    assert uri.startswith("otpauth://totp/mpanel:ops%40example.com?") and f"secret={secret}" in uri
