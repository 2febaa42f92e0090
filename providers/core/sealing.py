"""Secrets sealed at rest with MPANEL_ENCRYPTION_KEY: one keyring for the app and the providers.

The setting is an ordered, comma-separated list of Fernet keys, newest first: new secrets are
sealed with the first, and a secret sealed with any of them still opens, so a key can be
rotated in without a moment where stored secrets are unreadable (`mpanel keys rotate` then
re-seals every stored secret with the newest, and the old keys can be dropped).
"""
from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

__all__ = ("InvalidToken", "keyring", "key_list")


def key_list(setting: str) -> list[str]:
    """'new, old' -> ['new', 'old'] (blank entries ignored)."""
    return [k.strip() for k in (setting or "").split(",") if k.strip()]


def keyring(setting: str) -> MultiFernet:
    """The keys of MPANEL_ENCRYPTION_KEY; ValueError naming the problem when there are none
    or one is not a Fernet key (the key itself is never in the message)."""
    keys = key_list(setting)
    if not keys:
        raise ValueError("MPANEL_ENCRYPTION_KEY is not set (a Fernet key: Fernet.generate_key(); "
                         "several, comma-separated, newest first)")
    fernets = []
    for position, key in enumerate(keys, start=1):
        try:
            fernets.append(Fernet(key.encode()))
        except (ValueError, TypeError) as exc:
            raise ValueError(f"MPANEL_ENCRYPTION_KEY key {position} of {len(keys)} is not a valid Fernet key "
                             f"({exc})") from None
    return MultiFernet(fernets)
