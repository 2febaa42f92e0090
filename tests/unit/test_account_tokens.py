"""The rules of the account's one-time links and passwords (app/services/customers/customer_account.py)."""
from __future__ import annotations

import hashlib

import pytest

from app.services.customers import customer_account as account


def test_a_new_token_is_random_url_safe_and_only_its_hash_is_kept():
    token, digest = account.new_token()
    other, other_digest = account.new_token()
    assert token != other and digest != other_digest
    assert account.well_formed(token) and len(token) == 43
    assert digest == hashlib.sha256(token.encode()).digest() == account.token_hash(token)
    assert token.encode() not in digest


@pytest.mark.parametrize("bad", ["", "short", "a" * 42, "a" * 44, "a" * 42 + "/", "a" * 42 + "=",
                                 "../" + "a" * 40, "a" * 42 + "\n"])
def test_a_malformed_token_is_refused_before_any_lookup(bad):
    assert not account.well_formed(bad)


def test_the_links_expire_an_hour_and_a_day_after_they_are_sent():
    assert account.RESET_TTL_SECONDS == 3600
    assert account.EMAIL_CHANGE_TTL_SECONDS == 86400
    assert set(account.LINK_PATHS) == {"password_reset", "email_change"}


@pytest.mark.parametrize("password, problem", [
    (None, "is required"), ("", "is required"), ("123456789", "must be 10 to 128 characters"),
    ("x" * 129, "must be 10 to 128 characters"), ("good enough\x00", "must not contain control characters"),
    ("correct horse", None), ("x" * 128, None)])
def test_the_new_password_follows_the_checkouts_rule(password, problem):
    assert account.password_problem(password) == problem


@pytest.mark.parametrize("email, ok", [("a@example.com", True), ("a.b+c@mail.example.org", True),
                                       ("", False), (None, False), ("no-at.example.com", False),
                                       ("a@localhost", False), ("a@" + "x" * 250 + ".com", False)])
def test_an_email_must_look_like_one(email, ok):
    assert (account.email_problem(email) is None) == ok


def test_a_refusal_names_its_field():
    with pytest.raises(account.AccountRefused) as refused:
        account._checked_password("new_password", "short")
    assert refused.value.field == "new_password" and refused.value.status == 422


def test_an_undo_link_works_a_week_and_never_with_its_own_email():
    assert account.EMAIL_UNDO_TTL_SECONDS == 7 * 86400
    assert "email_change_undo" not in account.LINK_PATHS  # sent inside the email-changed notice only
    assert account.UNDO_PATH.startswith("/account/email/undo/".rstrip("/"))
