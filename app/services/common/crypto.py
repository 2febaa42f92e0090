"""Secrets mpanel keeps itself (transfer auth codes): Fernet with MPANEL_ENCRYPTION_KEY."""
from __future__ import annotations

from cryptography.fernet import Fernet

from app.settings import Settings


def _fernet(settings: Settings) -> Fernet:
    if not settings.MPANEL_ENCRYPTION_KEY:
        raise RuntimeError("MPANEL_ENCRYPTION_KEY is not set (a Fernet key: Fernet.generate_key())")
    return Fernet(settings.MPANEL_ENCRYPTION_KEY.encode())


def encrypt(settings: Settings, plain: str) -> bytes:
    return _fernet(settings).encrypt(plain.encode())


def decrypt(settings: Settings, token: bytes) -> str:
    return _fernet(settings).decrypt(token).decode()
