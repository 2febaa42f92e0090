"""Secrets mpanel keeps itself (transfer auth codes, WHM tokens, TOTP secrets...): Fernet with
the keyring of MPANEL_ENCRYPTION_KEY (providers/core/sealing.py: newest key first)."""
from __future__ import annotations

from cryptography.fernet import MultiFernet

from app.settings import Settings
from providers.core.sealing import keyring


def _fernet(settings: Settings) -> MultiFernet:
    try:
        return keyring(settings.MPANEL_ENCRYPTION_KEY)
    except ValueError as exc:
        raise RuntimeError(str(exc)) from None


def encrypt(settings: Settings, plain: str) -> bytes:
    return _fernet(settings).encrypt(plain.encode())


def decrypt(settings: Settings, token: bytes) -> str:
    return _fernet(settings).decrypt(token).decode()


def reseal(settings: Settings, token: bytes) -> bytes:
    """The same secret sealed with the newest key (InvalidToken when no key of ours opens it)."""
    return _fernet(settings).rotate(token)
