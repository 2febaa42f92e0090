"""PostgreSQL for providers whose upstream is a database (mail-core, the claims ledger):
one retried transaction per call, failures classified by SQLSTATE into `ProviderError`."""
from __future__ import annotations

import re
import threading
from typing import Callable, TypeVar

import psycopg
from psycopg import errors as pg_errors
from psycopg.rows import dict_row

from providers.core.errors import ProviderError
from providers.core.retry import RetryPolicy

T = TypeVar("T")

# libpq reports these connection failures as plain text (no SQLSTATE reaches psycopg at
# connect time); they will not heal by trying again.
_PERMANENT_CONNECT = ("password authentication failed", "does not exist", "no pg_hba.conf entry",
                      "no password supplied", "permission denied", "authentication method")
_RETRYABLE_STATES = {"57P01", "57P02", "57P03", "53300", "55P03"}
_SECRET_IN_DSN = re.compile(r"(://[^:/@\s]+:)[^@\s]+@|(password\s*=\s*)\S+", re.IGNORECASE)


def scrub(text: str) -> str:
    return _SECRET_IN_DSN.sub(lambda m: f"{m.group(1)}***@" if m.group(1) else f"{m.group(2)}***", text)


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return scrub(lines[0]) if lines else type(exc).__name__


def connect_error(provider: str, exc: psycopg.Error, what: str = "the database") -> ProviderError:
    """A failure to open a connection: unreachable is transient, refused credentials are not."""
    text = _first_line(exc)
    if isinstance(exc, psycopg.ProgrammingError):
        return ProviderError(provider, f"the connection string of {what} is not a valid PostgreSQL one",
                             code="bad-dsn")
    if any(marker in text for marker in _PERMANENT_CONNECT):
        return ProviderError(provider, f"{what} refused the connection: {text}", code="refused")
    return ProviderError(provider, f"cannot reach {what}: {text}", code="unreachable", retryable=True)


def statement_error(provider: str, exc: psycopg.Error, action: str) -> ProviderError:
    """A failure while running SQL: classified by SQLSTATE."""
    state = exc.sqlstate
    detail = _first_line(exc)
    if isinstance(exc, (pg_errors.SerializationFailure, pg_errors.DeadlockDetected)):
        return ProviderError(provider, f"{action}: the database asked for a retry ({detail})", code=state,
                             retryable=True)
    if isinstance(exc, pg_errors.ForeignKeyViolation):
        return ProviderError(provider, f"{action}: a row it refers to does not exist ({detail})", code=state)
    if isinstance(exc, psycopg.IntegrityError):
        return ProviderError(provider, f"{action}: the database rejected the row ({detail})", code=state)
    if state in _RETRYABLE_STATES or (state or "").startswith("08") or (
            state is None and isinstance(exc, psycopg.OperationalError)):
        return ProviderError(provider, f"{action}: the connection to the database failed ({detail})", code=state,
                             retryable=True)
    return ProviderError(provider, f"{action}: {detail}", code=state)


_ensured: set[tuple[str, str]] = set()
_ensure_lock = threading.Lock()


class Database:
    """One PostgreSQL database a provider writes: `transaction(action, work)` runs `work(conn)`
    in one transaction, retried as a whole on transient failures."""

    def __init__(self, provider: str, dsn: str, retry: RetryPolicy, timeout: float, what: str = "the database"):
        self.provider = provider
        self.what = what
        self._dsn = dsn
        self._retry = retry
        self._timeout = timeout

    def transaction(self, action: str, work: Callable[[psycopg.Connection], T]) -> T:
        def once() -> T:
            try:
                conn = psycopg.connect(self._dsn, connect_timeout=self._timeout, row_factory=dict_row)
            except psycopg.Error as exc:
                # `from None`: libpq may quote the connection string, credentials included.
                raise connect_error(self.provider, exc, self.what) from None
            try:
                with conn:
                    return work(conn)
            except psycopg.Error as exc:
                raise statement_error(self.provider, exc, action) from exc

        return self._retry.run(once)

    def ensure(self, name: str, present: str, ddl: str) -> None:
        """Run `ddl` once per process and database unless the query `present` finds a row: how a
        database the setup has not upgraded yet gets what a provider needs before its first write."""
        with _ensure_lock:
            if (self._dsn, name) in _ensured:
                return

            def work(conn: psycopg.Connection) -> None:
                # Looked up first: DDL takes a table lock even when there is nothing to do.
                if conn.execute(present).fetchone() is None:
                    conn.execute(ddl)

            try:
                self.transaction(f"upgrading the schema of {self.what} ({name})", work)
            except ProviderError as exc:
                # Two processes upgrading at once: the loser's CREATE collides; the winner did it.
                if exc.code not in ("23505", "42P07", "42701"):
                    raise
            _ensured.add((self._dsn, name))
