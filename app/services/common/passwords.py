"""Customer passwords: argon2id hashes, verified the same way at login and at checkout."""
from __future__ import annotations

import functools

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_HASHER = PasswordHasher()  # argon2id, library defaults (RFC 9106 low-memory profile)


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


@functools.cache
def no_account_hash() -> str:
    """What a login for an unknown email is checked against, so it takes as long as a wrong
    password. Made on first use, not at import: every worker and CLI process would pay for
    an argon2 hash (about 0.2 s of CPU) at start."""
    return hash_password("not-anyone's-password")


def password_matches(password_hash: str, password: str) -> bool:
    try:
        return _HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with weaker parameters than today's."""
    return _HASHER.check_needs_rehash(password_hash)
