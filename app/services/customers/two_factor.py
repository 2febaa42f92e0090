"""A customer's optional second factor: a TOTP app, with recovery codes for a lost phone.

Enrolment shows the secret (and its otpauth:// URI) and counts only once a first code proves
the app has it; it then gives ten recovery codes, shown once and kept as argon2 hashes like
passwords. Once on, login asks for a code (or a recovery code, each working once) after the
password. It is turned off with a current code, or through the password-reset link together
with a recovery code (the phone is lost and the customer cannot log in)."""
from __future__ import annotations

import secrets

from app import db
from app.db.customers import two_factor as rows
from app.services.common import crypto, throttle
from app.services.common.passwords import hash_password, password_matches
from app.services.common import totp  # noqa: F401 - the pages build the URI with it
from app.services.common.refusals import Refused
from app.settings import Settings

RECOVERY_CODES = 10
ISSUER = "mpanel"


class TwoFactorRefused(Refused):
    pass


def wrong_code() -> TwoFactorRefused:
    return TwoFactorRefused("code", "That code is not right (or was used already): enter the current 6-digit code.",
                            status=401, code="wrong-code")


def is_on(settings: Settings, user_id: int) -> bool:
    with db.transaction(settings.DATABASE_URL) as conn:
        found = rows.state(conn, user_id)
    return bool(found and found["totp_enabled_at"])


def start_enrolment(settings: Settings, user_id: int, account: str) -> tuple[str, str]:
    """A new secret, kept sealed until a code confirms it: (secret, otpauth URI)."""
    secret = totp.new_secret()
    with db.transaction(settings.DATABASE_URL) as conn:
        found = rows.state(conn, user_id)
        if found and found["totp_enabled_at"]:
            raise TwoFactorRefused(None, "Two-factor authentication is already on.", status=409, code="already-on")
        rows.start(conn, user_id, crypto.encrypt(settings, secret))
    return secret, totp.provisioning_uri(secret, account, ISSUER)


def pending_secret(settings: Settings, user_id: int) -> str | None:
    with db.transaction(settings.DATABASE_URL) as conn:
        found = rows.state(conn, user_id)
    if not found or not found["totp_secret"] or found["totp_enabled_at"]:
        return None
    return crypto.decrypt(settings, bytes(found["totp_secret"]))


def confirm_enrolment(settings: Settings, user_id: int, code: str) -> list[str]:
    """Turns it on when `code` is right for the pending secret: the recovery codes (shown once)."""
    codes = [_recovery_code() for _ in range(RECOVERY_CODES)]
    with db.transaction(settings.DATABASE_URL) as conn:
        found = rows.state(conn, user_id)
        if not found or not found["totp_secret"] or found["totp_enabled_at"]:
            raise TwoFactorRefused(None, "Start enrolment again: no secret is waiting for a code.", status=409,
                                   code="not-enrolling")
        step = totp.step_of(crypto.decrypt(settings, bytes(found["totp_secret"])), code)
        if step is None or not rows.use_step(conn, user_id, step, enable=True):
            raise wrong_code()
        rows.replace_recovery_codes(conn, user_id, [hash_password(_normal(c)) for c in codes])
    return codes


def code_is_right(settings: Settings, user_id: int, code: str) -> bool:
    """A current code of the customer's app, used once (a replay is wrong)."""
    with db.transaction(settings.DATABASE_URL) as conn:
        found = rows.state(conn, user_id)
        if not found or not found["totp_enabled_at"]:
            return False
        step = totp.step_of(crypto.decrypt(settings, bytes(found["totp_secret"])), code)
        return step is not None and rows.use_step(conn, user_id, step)


def recovery_code_is_right(settings: Settings, user_id: int, code: str) -> bool:
    """True once per recovery code: it is spent by this call."""
    given = _normal(code)
    if not given:
        return False
    with db.transaction(settings.DATABASE_URL) as conn:
        for row in rows.unused_recovery_codes(conn, user_id):
            if password_matches(row["code_hash"], given):
                rows.spend_recovery_code(conn, row["id"])
                return True
    return False


def second_factor_is_right(settings: Settings, user_id: int, code: str, address: str) -> bool:
    """The login step: a 6-digit code from the app, or else a recovery code; guesses are
    throttled like passwords (per account and client address), so a code cannot be walked."""
    account = f"user:{user_id}"
    with db.transaction(settings.DATABASE_URL) as conn:
        throttle.admit(conn, "totp", account, address)  # TooManyAttempts: nothing is checked
    digits = code.strip().replace(" ", "")
    if digits.isdigit() and len(digits) == totp.DIGITS:
        right = code_is_right(settings, user_id, digits)
    else:
        right = recovery_code_is_right(settings, user_id, code)
    if right:
        with db.transaction(settings.DATABASE_URL) as conn:
            throttle.succeeded(conn, "totp", account, address)
    return right


def turn_off(settings: Settings, user_id: int, code: str) -> None:
    """Only with a current code of the app."""
    if not code_is_right(settings, user_id, code):
        raise wrong_code()
    with db.transaction(settings.DATABASE_URL) as conn:
        rows.turn_off(conn, user_id)


def turn_off_with_recovery_code(settings: Settings, user_id: int, code: str) -> None:
    """The reset flow's way (the email link was followed): a recovery code instead of the app."""
    if not recovery_code_is_right(settings, user_id, code):
        raise TwoFactorRefused("recovery_code", "That recovery code is not right or was used already.",
                               status=401, code="wrong-recovery-code")
    with db.transaction(settings.DATABASE_URL) as conn:
        rows.turn_off(conn, user_id)


def _recovery_code() -> str:
    raw = secrets.token_hex(5)  # 40 bits, typed by a person: xxxxx-xxxxx
    return f"{raw[:5]}-{raw[5:]}"


def _normal(code: str) -> str:
    return "".join(ch for ch in (code or "").lower() if ch.isalnum())
