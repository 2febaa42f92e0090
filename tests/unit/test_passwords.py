"""Customer password hashing (app/services/common/passwords.py): argon2id, verified the same way everywhere."""
from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from app.services.common.passwords import hash_password, needs_rehash, password_matches


@pytest.fixture(scope="module")
def hashed() -> str:
    return hash_password("correct horse battery staple")


def test_a_hash_is_argon2id_and_does_not_contain_the_password(hashed):
    assert hashed.startswith("$argon2id$") and "correct horse" not in hashed


def test_the_right_password_matches(hashed):
    assert password_matches(hashed, "correct horse battery staple")


@pytest.mark.parametrize("attempt", ["correct horse battery stapl", "Correct horse battery staple",
                                     "correct horse battery staple ", ""], ids=repr)
def test_any_other_password_does_not_match(hashed, attempt):
    assert not password_matches(hashed, attempt)


def test_the_same_password_hashes_differently_each_time():
    assert hash_password("same") != hash_password("same")


def test_unicode_passwords_round_trip():
    hashed = hash_password("pässwörd ✓ 🔑")
    assert password_matches(hashed, "pässwörd ✓ 🔑") and not password_matches(hashed, "passwörd ✓ 🔑")


@pytest.mark.parametrize("stored", ["", "plain-text", "$argon2id$broken", "$2b$12$bcryptlookinghash"], ids=repr)
def test_a_stored_value_that_is_not_a_hash_never_matches(stored):
    assert password_matches(stored, "plain-text") is False


def test_todays_hash_needs_no_rehash(hashed):
    assert needs_rehash(hashed) is False


def test_a_hash_made_with_weaker_parameters_needs_a_rehash():
    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash("secret")
    assert needs_rehash(weak) is True and password_matches(weak, "secret")
