"""Every column that holds a secret sealed with MPANEL_ENCRYPTION_KEY, for `mpanel keys rotate`.

A new sealed column must be added here too, or a rotation leaves it under the old key
(tests/integration/db/test_key_rotation.py checks every column listed opens with the new key)."""
from __future__ import annotations

from typing import Callable

import psycopg
from psycopg import sql

# (table, key column, sealed column)
SEALED_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("domains", "id", "auth_code_encrypted"),          # transfer EPP codes
    ("servers", "id", "whm_token_encrypted"),          # web servers' WHM API tokens
    ("mailboxes", "id", "password_encrypted"),         # a customer's chosen password until converged
    ("account_tokens", "id", "token_sealed"),          # customer links waiting to be mailed
    ("staff_users", "id", "totp_secret"),              # staff second factor
    ("staff_password_tokens", "token_hash", "token_sealed"),  # staff set-password links waiting to be mailed
    ("users", "id", "totp_secret"),                    # customer second factor
    ("welcome_logins", "subscription_id", "sealed"),   # a first converge's logins until welcomed
)


def reseal_column(conn: psycopg.Connection, table: str, key: str, column: str,
                  reseal: Callable[[bytes], bytes | None]) -> tuple[int, int]:
    """reseal(value) written back for every non-null value, rows locked: (resealed, unreadable)."""
    t, k, c = sql.Identifier(table), sql.Identifier(key), sql.Identifier(column)
    rows = conn.execute(sql.SQL("SELECT {k} AS key, {c} AS sealed FROM {t} WHERE {c} IS NOT NULL "
                                "ORDER BY {k} FOR UPDATE").format(k=k, c=c, t=t)).fetchall()
    resealed = unreadable = 0
    for row in rows:
        token = reseal(bytes(row["sealed"]))
        if token is None:
            unreadable += 1
            continue
        conn.execute(sql.SQL("UPDATE {t} SET {c} = %s WHERE {k} = %s").format(t=t, c=c, k=k), (token, row["key"]))
        resealed += 1
    return resealed, unreadable
