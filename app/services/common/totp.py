"""Time-based one-time passwords (RFC 6238 over RFC 4226's HOTP), for staff and customers' second factors.

Small enough to keep here rather than depend on a library: HMAC-SHA1, 30-second steps,
6 digits (what every authenticator app uses by default), one step of clock skew allowed.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import struct
import time
from urllib.parse import quote

STEP_SECONDS = 30
DIGITS = 6


def new_secret() -> str:
    """160 random bits, base32 without padding (the form authenticator apps take)."""
    return base64.b32encode(secrets.token_bytes(20)).decode().rstrip("=")


def _key(secret: str) -> bytes:
    cleaned = secret.replace(" ", "").upper()
    return base64.b32decode(cleaned + "=" * (-len(cleaned) % 8))


def hotp(key: bytes, counter: int, digits: int = DIGITS, digest=hashlib.sha1) -> str:
    """RFC 4226 section 5.3: HMAC the big-endian counter, dynamic truncation, modulo 10^digits."""
    mac = hmac.new(key, struct.pack(">Q", counter), digest).digest()
    offset = mac[-1] & 0x0F
    code = struct.unpack(">I", mac[offset:offset + 4])[0] & 0x7FFFFFFF
    return str(code % 10 ** digits).zfill(digits)


def code_at(secret: str, at: float | None = None) -> str:
    return hotp(_key(secret), int((time.time() if at is None else at) // STEP_SECONDS))


def step_of(secret: str, code: str, at: float | None = None, window: int = 1) -> int | None:
    """The time step `code` is valid for (within `window` steps either side), else None.
    The caller keeps the last step used, so a code cannot be replayed."""
    code = (code or "").strip().replace(" ", "")
    if len(code) != DIGITS or not code.isdigit():
        return None
    now = int((time.time() if at is None else at) // STEP_SECONDS)
    key = _key(secret)
    found = None
    for step in range(now - window, now + window + 1):
        if hmac.compare_digest(hotp(key, step), code):  # every step compared: no early exit
            found = step
    return found


def provisioning_uri(secret: str, account: str, issuer: str = "mpanel") -> str:
    """The otpauth:// URI authenticator apps read (as a QR code or typed in)."""
    return (f"otpauth://totp/{quote(issuer)}:{quote(account)}?secret={secret}&issuer={quote(issuer)}"
            f"&algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}")
