"""The claims ledger: intent recorded before an upstream call whose object can carry no mark.

WHM API 1 has no free-form field an account could carry our mark in (the contact email
is the orderer's to set), and a registrar account holds every domain the operator ever
registered. So before `createacct` or `registerDomain`, the provider claims the natural
key (the account's domain, the registered name) for its stack, in a transaction of its own
that commits before the upstream call. A create that finds the object upstream adopts it
only when the claim is its stack's: what a crash between the upstream call and the state
write leaves. The claim is released when the provider deletes the object.

Where: a table in the mail-core database (MAILCORE_DATABASE_URL). It is the one database
every provider process is already configured for and that mpanel itself administers
(tools/services/mailcore.sql); the application's own database is not the providers' to
reach (they know nothing of the app), and the Pulumi backend belongs to the engine. The
table is created on first use, like the mail-core schema's upgrades.
"""
from __future__ import annotations

import psycopg

from providers.core.config import ProviderConfig
from providers.core.errors import ProviderError
from providers.core.retry import DEFAULT_RETRY, RetryPolicy
from providers.core.sql import Database

TABLE = "upstream_claims"
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    provider    text NOT NULL,
    natural_key text NOT NULL,
    owner       text NOT NULL,
    detail      text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (provider, natural_key)
)"""
_PRESENT = f"SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = '{TABLE}'"


class ClaimLedger:
    """The claims of one provider (`whm`, `namesilo`), keyed by the upstream object's natural key."""

    def __init__(self, provider: str, config: ProviderConfig, retry: RetryPolicy = DEFAULT_RETRY,
                 timeout: float = 10.0):
        if not config.MAILCORE_DATABASE_URL:
            raise ProviderError(provider, "MAILCORE_DATABASE_URL is not set: the claims ledger that proves "
                                          "ownership lives in the mail-core database", code="not-configured")
        self.provider = provider
        self._db = Database(provider, config.MAILCORE_DATABASE_URL, retry, timeout, "the claims ledger")

    def _run(self, action: str, work):
        self._db.ensure(TABLE, _PRESENT, _SCHEMA)
        return self._db.transaction(action, work)

    def find(self, key: str) -> dict | None:
        """{owner, detail, created_at} of the claim on `key`, or None."""
        return self._run(f"reading the claim on {key}", lambda conn: conn.execute(
            f"SELECT owner, detail, created_at FROM {TABLE} WHERE provider = %s AND natural_key = %s",
            (self.provider, key)).fetchone())

    def claim(self, key: str, owner: str, detail: str | None = None) -> dict:
        """Claim `key` for `owner` (committed when this returns), or find who holds it: the claim as
        stored, whoever's it is. Our own claim's `detail` (the WHM username tried) is updated."""
        def work(conn: psycopg.Connection) -> dict:
            conn.execute(f"INSERT INTO {TABLE} (provider, natural_key, owner, detail) VALUES (%s, %s, %s, %s) "
                         "ON CONFLICT (provider, natural_key) DO NOTHING", (self.provider, key, owner, detail))
            row = conn.execute(f"SELECT owner, detail, created_at FROM {TABLE} WHERE provider = %s AND "
                               "natural_key = %s FOR UPDATE", (self.provider, key)).fetchone()
            if row["owner"] == owner and detail is not None and row["detail"] != detail:
                conn.execute(f"UPDATE {TABLE} SET detail = %s WHERE provider = %s AND natural_key = %s",
                             (detail, self.provider, key))
                row["detail"] = detail
            return row

        return self._run(f"claiming {key}", work)

    def release(self, key: str, owner: str) -> None:
        """Drop `owner`'s claim on `key` (another owner's claim is never touched)."""
        self._run(f"releasing the claim on {key}", lambda conn: conn.execute(
            f"DELETE FROM {TABLE} WHERE provider = %s AND natural_key = %s AND owner = %s",
            (self.provider, key, owner)))
