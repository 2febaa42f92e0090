"""The logins a welcome email carries, as the run that made them left them.

A first converge's program hands the converge what it exported, secrets plain, in memory
(stacks/program.py); the converge seals it with MPANEL_ENCRYPTION_KEY into `welcome_logins` in
the transaction that records the run, and the welcome reads it from there instead of asking the
Pulumi CLI for the stack's secrets (~0.7 s of a customer's wait). Sent, the row is deleted. A
welcome with no row (queued by an older release, or a row sealed with a key since retired)
reads the stack, as before."""
from __future__ import annotations

import json
import logging
from typing import Any

import psycopg
from cryptography.fernet import InvalidToken

from app import db
from app.db.hosting import welcome_logins as rows
from app.services.common import crypto
from app.services.hosting.engine import stack_operations
from app.settings import Settings

log = logging.getLogger("mpanel.welcome")


def keep(conn: psycopg.Connection, settings: Settings, subscription_id: int, exported: dict[str, Any]) -> None:
    rows.keep(conn, subscription_id, crypto.encrypt(settings, json.dumps(exported)))


def logins(settings: Settings, subscription_id: int) -> dict[str, Any]:
    """The stack's outputs, secrets plain: kept by the run that made them, or read from the stack."""
    with db.transaction(settings.DATABASE_URL) as conn:
        sealed = rows.sealed(conn, subscription_id)
    if sealed is not None:
        try:
            return json.loads(crypto.decrypt(settings, sealed))
        except InvalidToken:
            log.warning("welcome for subscription %s: its kept logins no longer open; reading the stack",
                        subscription_id)
    return stack_operations(settings).outputs(subscription_id)


def forget(settings: Settings, subscription_id: int) -> None:
    with db.transaction(settings.DATABASE_URL) as conn:
        rows.forget(conn, subscription_id)
