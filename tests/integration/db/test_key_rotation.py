"""`mpanel keys rotate` end to end: with a new key put first, every stored secret (each sealed
column of app/db/sealed.py and mail-core's DKIM keys) is re-sealed with it and then opens with
the new key alone; rotating back leaves the session's database as the other tests expect it."""
from __future__ import annotations

import dataclasses

from cryptography.fernet import Fernet, InvalidToken

from app import db
from app.cli import main as mpanel
from app.db.sealed import SEALED_COLUMNS
from app.services import keys
from app.services.common import crypto
from providers.clients.mailcore import encrypt_key
from app.services.hosting.engine import provider_config
from tests.factories import make_subscription


def _sealed_values(settings, db_conn) -> dict[str, list[bytes]]:
    found = {f"{t}.{c}": [bytes(r["v"]) for r in db_conn.execute(
        f"SELECT {c} AS v FROM {t} WHERE {c} IS NOT NULL").fetchall()] for t, _, c in SEALED_COLUMNS}
    import psycopg
    from psycopg.rows import dict_row

    with psycopg.connect(settings.MAILCORE_DATABASE_URL, row_factory=dict_row) as conn:
        found["dkim"] = [r["v"].encode() for r in conn.execute(
            "SELECT dkim_private_key AS v FROM mail_domains WHERE dkim_private_key IS NOT NULL").fetchall()]
    return found


def _opened(values: list[bytes], fernet: Fernet) -> list[bytes]:
    """What `fernet` opens of `values`; a value it cannot open counts as not there."""
    found = []
    for value in values:
        try:
            found.append(fernet.decrypt(value))
        except InvalidToken:
            pass
    return sorted(found)


def _one_secret_in_every_column(settings) -> dict[str, str]:
    """What each column holds in the clear, written with the current key."""
    import psycopg

    plain = {}
    with db.transaction(settings.DATABASE_URL) as conn:
        sub = make_subscription(conn, settings, status="pending_payment")
        user = conn.execute("SELECT c.user_id FROM subscriptions s JOIN customers c ON c.id = s.customer_id "
                            "WHERE s.id = %s", (sub,)).fetchone()["user_id"]
        for table, key, column in SEALED_COLUMNS:
            value = f"secret of {table}.{column} {sub}"
            row = {"domains": ("subscription_id", sub), "users": ("id", user), "account_tokens": ("user_id", user),
                   "mailboxes": ("subscription_id", sub)}.get(table)
            if table == "account_tokens":
                conn.execute("INSERT INTO account_tokens (user_id, purpose, token_hash, token_sealed, recipient, "
                             "expires_at) VALUES (%s, 'password_reset', %s, %s, 'x@example.com', now())",
                             (user, f"rotation-{sub}".encode(), crypto.encrypt(settings, value)))
            elif table == "mailboxes":
                conn.execute("INSERT INTO mailboxes (subscription_id, local_part, quota_mb, password_encrypted) "
                             "VALUES (%s, %s, 100, %s)", (sub, f"rot{sub}", crypto.encrypt(settings, value)))
            elif table == "staff_password_tokens":
                staff_id = conn.execute("INSERT INTO staff_users (email, role) VALUES (%s, 'support') RETURNING id",
                                        (f"rotation-link-{sub}@example.com",)).fetchone()["id"]
                conn.execute("INSERT INTO staff_password_tokens (token_hash, staff_id, expires_at, token_sealed) "
                             "VALUES (%s, %s, now() + interval '1 day', %s)",
                             (f"rotation-{sub}", staff_id, crypto.encrypt(settings, value)))
            elif table == "welcome_logins":
                conn.execute("INSERT INTO welcome_logins (subscription_id, sealed) VALUES (%s, %s)",
                             (sub, crypto.encrypt(settings, value)))
            elif table in ("servers", "staff_users"):
                continue  # rows of their own elsewhere; every row present is checked below
            else:
                column_key, id_ = row
                conn.execute(f"UPDATE {table} SET {column} = %s WHERE {column_key} = %s",
                             (crypto.encrypt(settings, value), id_))
            plain[f"{table}.{column}"] = value
        conn.execute("INSERT INTO staff_users (email, role, totp_secret) VALUES (%s, 'support', %s)",
                     (f"rotation-{sub}@example.com", crypto.encrypt(settings, "staff secret")))
        # offline: never placed on; only its token matters here
        conn.execute("INSERT INTO servers (hostname, ip_address, status, whm_url, whm_token_encrypted) "
                     "VALUES (%s, '192.0.2.99', 'offline', 'http://127.0.0.1:9', %s)",
                     (f"rotation-{sub}.example", crypto.encrypt(settings, "whm token")))
    with psycopg.connect(settings.MAILCORE_DATABASE_URL) as conn:
        conn.execute("INSERT INTO mail_domains (name, dkim_selector, dkim_private_key, owner) VALUES (%s, 'x', %s, %s)",
                     (f"rotation-{sub}.example", encrypt_key(provider_config(settings), "dkim pem"), "rotation-test"))
    return plain


def test_a_rotation_reseals_every_secret_with_the_new_key_alone_and_back(settings, db_conn, monkeypatch, capsys):
    old, new = settings.MPANEL_ENCRYPTION_KEY, Fernet.generate_key().decode()
    _one_secret_in_every_column(settings)
    # The suite's databases are shared: rows other tests left sealed with keys of their own (as
    # another system would) are opened by no key of ours, before and after, and are left alone.
    foreign = {k: n for k, n in keys.rotate(settings).unreadable.items() if n}
    before = _sealed_values(settings, db_conn)
    assert all(before.values()), {k for k, v in before.items() if not v}

    # The operator's steps: the new key first, then `mpanel keys rotate`.
    monkeypatch.setenv("MPANEL_ENCRYPTION_KEY", f"{new},{old}")
    try:
        assert mpanel(["keys", "rotate"]) == (1 if foreign else 0)
        if not foreign:
            assert "every stored secret is sealed with the newest key" in capsys.readouterr().out
        after = _sealed_values(settings, db_conn)
        only_new, only_old = Fernet(new.encode()), Fernet(old.encode())
        for column, values in after.items():
            # every secret the old key opened, the new key alone opens now, and the old key no longer does
            assert _opened(values, only_new) == _opened(before[column], only_old), column
            assert not _opened(values, only_old), column
    finally:
        # Back to the old key alone, as the rest of the session's tests (and servers) have it.
        rotated_back = keys.rotate(dataclasses.replace(settings, MPANEL_ENCRYPTION_KEY=f"{old},{new}"))
    assert {k: n for k, n in rotated_back.unreadable.items() if n} == foreign
    for column, values in _sealed_values(settings, db_conn).items():
        assert _opened(values, only_old) == _opened(after[column], only_new), column


def test_a_rotation_without_the_old_key_reports_what_it_could_not_open(settings):
    _one_secret_in_every_column(settings)
    done = keys.rotate(dataclasses.replace(settings, MPANEL_ENCRYPTION_KEY=Fernet.generate_key().decode()))
    assert not done.complete and done.unreadable["users.totp_secret"] >= 1
    assert not any(done.resealed.values())  # nothing it could not open was touched
