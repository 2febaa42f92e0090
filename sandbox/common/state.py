"""The stand-ins' database: one SQLite file (WAL), a table per kind of record.

A stand-in describes its state as a document of named *tables* (records keyed by an
id: WHM accounts, Stripe customers) and *scalars* (a balance, a counter). Each table
is stored row per record, the record as JSON, beside a few indexed columns computed
from it for the lookups the stand-in makes (accounts by domain, invoices by
customer). A call therefore reads and writes only the rows it touches, and costs
the same with ten thousand records stored as with ten.

Handlers keep the shape they had when the state was one JSON document:
``with store.change() as state:`` yields a transaction in which ``state["accounts"]``
is a mapping of records, edited in place, and ``state["balance_cents"]`` a value.
Every record read is remembered with the JSON it was read as; when the block ends
without an exception the records whose JSON changed are written in one SQLite
transaction, and when it raises nothing is written. A validation error halfway
through an operation therefore leaves nothing half-done, which is what the real
services promise and what the clients' adopt logic assumes.

Writers are serialised by a lock (the old store serialised every call the same
way, as one upstream server does); readers (``store.view()``) run beside them on
their own per-thread connections and see the last committed state.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sqlite3
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, MutableMapping

Document = dict[str, Any]
Index = Callable[[Any], Any]

log = logging.getLogger("sandbox.state")

_ABSENT = object()  # a key known not to exist in this transaction
_BATCH = 64         # rows fetched at a time by a lazy scan


class CorruptStateError(RuntimeError):
    """The state file exists but is not a database of ours: refuse to start over it."""


@dataclass(frozen=True)
class Table:
    """A keyed collection in the state, and the columns its lookups need indexed.

    ``indexes`` maps a column name to a function of the record giving the column's
    value (a string or number, or None to leave the record out of that lookup).
    """

    name: str
    indexes: Mapping[str, Index] = field(default_factory=dict)

    @property
    def sql(self) -> str:
        return "t_" + re.sub(r"\W", "_", self.name)


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class StateStore:
    def __init__(self, path: str | os.PathLike[str], tables: list[Table], initial: Callable[[], Document]):
        """``initial()`` is the state of a new (or reset) stand-in: a document with one
        mapping per table and any other keys as scalars."""
        self.path = Path(path)
        self.tables = {table.name: table for table in tables}
        self._initial = initial
        self._write_lock = threading.Lock()
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        self._closed = False
        self._open_file()
        with self.change() as state:
            if not state.seeded():
                state.seed(initial())

    # -- transactions ---------------------------------------------------------------

    @contextmanager
    def change(self) -> Iterator["Transaction"]:
        """A transaction that commits when the block ends without an exception.

        Re-entrant: a change inside a change (on the same thread) joins the outer one.
        """
        current = getattr(self._local, "transaction", None)
        if current is not None:
            if not current.writable:
                raise RuntimeError("cannot change the state inside a read-only view")
            yield current
            return
        with self._write_lock:
            connection = self._connection()
            connection.execute("BEGIN IMMEDIATE")
            transaction = self._local.transaction = Transaction(self, connection, writable=True)
            try:
                yield transaction
                transaction.flush()
                connection.execute("COMMIT")
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            finally:
                self._local.transaction = None

    @contextmanager
    def view(self) -> Iterator["Transaction"]:
        """A consistent read of the last committed state; changes made to it are dropped."""
        current = getattr(self._local, "transaction", None)
        if current is not None:
            yield current
            return
        connection = self._connection()
        connection.execute("BEGIN")
        transaction = self._local.transaction = Transaction(self, connection, writable=False)
        try:
            yield transaction
        finally:
            self._local.transaction = None
            connection.execute("ROLLBACK")

    def dump(self) -> Document:
        """The whole state as one plain document (the control API's ``GET /state``)."""
        with self.view() as state:
            return state.dump()

    def reset(self) -> None:
        with self.change() as state:
            state.wipe()
            state.seed(self._initial())

    def close(self) -> None:
        with self._connections_lock:
            self._closed = True
            for connection in self._connections:
                connection.close()
            self._connections.clear()

    # -- connections ------------------------------------------------------------------

    def _open_file(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # The state holds password hashes and TLS keys: owner-only, like the real
        # servers' own files (SQLite gives its -wal and -shm files the same mode).
        os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
        try:
            connection = self._connection()
            connection.execute("PRAGMA journal_mode=WAL")
            with self._write_lock:
                connection.execute("BEGIN IMMEDIATE")
                for table in self.tables.values():
                    columns = "".join(f", {name}" for name in table.indexes)
                    connection.execute(f"CREATE TABLE IF NOT EXISTS {table.sql} (seq INTEGER PRIMARY KEY "
                                       f"AUTOINCREMENT, key TEXT NOT NULL UNIQUE, body TEXT NOT NULL{columns})")
                    for name in table.indexes:
                        connection.execute(f"CREATE INDEX IF NOT EXISTS {table.sql}_{name} ON {table.sql} ({name})")
                connection.execute("CREATE TABLE IF NOT EXISTS scalars (key TEXT PRIMARY KEY, body TEXT NOT NULL)")
                connection.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            self.close()
            raise CorruptStateError(f"{self.path} is not a usable SQLite database: {exc}") from exc
        old = self.path.with_name("state.json")
        if old.exists() and old != self.path:
            log.warning("%s is from an older sandbox and is ignored: the state now lives in %s", old, self.path)

    def _connection(self) -> sqlite3.Connection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            # One connection per thread; autocommit mode, so BEGIN/COMMIT are ours.
            connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
            connection.execute("PRAGMA synchronous=NORMAL")
            with self._connections_lock:
                if self._closed:
                    connection.close()
                    raise RuntimeError("the state store is closed")
                self._connections.append(connection)
            self._local.connection = connection
        return connection


class Transaction:
    """The state inside one ``change()`` or ``view()``: tables by name, scalars by name."""

    def __init__(self, store: StateStore, connection: sqlite3.Connection, writable: bool):
        self.store = store
        self.connection = connection
        self.writable = writable
        self._views: dict[str, TableView] = {}
        self._scalars: dict[str, list[Any]] = {}  # name -> [value, JSON as read]

    def __getitem__(self, name: str) -> Any:
        if name in self.store.tables:
            if name not in self._views:
                self._views[name] = TableView(self, self.store.tables[name])
            return self._views[name]
        if name not in self._scalars:
            row = self.connection.execute("SELECT body FROM scalars WHERE key = ?", (name,)).fetchone()
            if row is None:
                raise KeyError(name)
            self._scalars[name] = [json.loads(row[0]), row[0]]
        return self._scalars[name][0]

    def __setitem__(self, name: str, value: Any) -> None:
        if name in self.store.tables:
            raise TypeError(f"{name} is a table: change its records, not the whole table")
        self[name]  # a scalar the state does not have is a typo: KeyError
        self._scalars[name][0] = value

    def execute(self, sql: str, parameters: tuple[Any, ...] = ()) -> sqlite3.Cursor:
        return self.connection.execute(sql, parameters)

    def flush(self) -> None:
        """Write every record and scalar whose JSON changed (the transaction stays open)."""
        if not self.writable:
            return
        for view in self._views.values():
            view.flush()
        for name, entry in self._scalars.items():
            text = _dumps(entry[0])
            if text != entry[1]:
                self.connection.execute("INSERT INTO scalars (key, body) VALUES (?, ?) "
                                        "ON CONFLICT (key) DO UPDATE SET body = excluded.body", (name, text))
                entry[1] = text

    def seeded(self) -> bool:
        return self.connection.execute("SELECT 1 FROM scalars LIMIT 1").fetchone() is not None

    def seed(self, document: Document) -> None:
        for name, value in document.items():
            if name in self.store.tables:
                for key, record in value.items():
                    self[name][key] = record
            else:
                self._scalars[name] = [value, None]

    def wipe(self) -> None:
        for table in self.store.tables.values():
            self.connection.execute(f"DELETE FROM {table.sql}")
        self.connection.execute("DELETE FROM scalars")
        self._views.clear()
        self._scalars.clear()

    def dump(self) -> Document:
        self.flush()
        document: Document = {}
        for key, body in self.connection.execute("SELECT key, body FROM scalars ORDER BY key"):
            document[key] = json.loads(body)
        for name in self.store.tables:
            document[name] = dict(self[name].items())
        return document


class TableView(MutableMapping[str, Any]):
    """One table inside a transaction: a mapping of records, plus indexed lookups.

    A record read here is the transaction's own copy: edit it in place and the edit is
    written at commit. Lookups by column see the edits made so far (pending writes are
    flushed first), and answer in creation order unless said otherwise.
    """

    def __init__(self, transaction: Transaction, table: Table):
        self._tx = transaction
        self.table = table
        self._sql = table.sql
        # key -> [record or _ABSENT, JSON as stored (None: not stored yet)]
        self._entries: dict[str, list[Any]] = {}

    # -- the mapping ------------------------------------------------------------------

    def __getitem__(self, key: str) -> Any:
        value = self._load(key)
        if value is _ABSENT:
            raise KeyError(key)
        return value

    def __setitem__(self, key: str, value: Any) -> None:
        entry = self._entries.get(key)
        if entry is None:
            self._load(key)
            entry = self._entries[key]
        if entry[0] is _ABSENT and entry[1] is not None:
            # Removed and added again: the record is new, at the end of the creation order.
            self._check_writable()
            self._tx.execute(f"DELETE FROM {self._sql} WHERE key = ?", (key,))
            entry[1] = None
        entry[0] = value

    def __delitem__(self, key: str) -> None:
        if self._load(key) is _ABSENT:
            raise KeyError(key)
        self._entries[key][0] = _ABSENT

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self._load(key) is not _ABSENT

    def __iter__(self) -> Iterator[str]:
        return iter([key for key, _ in self.items()])

    def __len__(self) -> int:
        self.flush()
        return self._tx.execute(f"SELECT COUNT(*) FROM {self._sql}").fetchone()[0]

    def items(self) -> list[tuple[str, Any]]:  # type: ignore[override]
        """Every record, oldest first (a full scan: for resets, dumps and small tables)."""
        self.flush()
        rows = self._tx.execute(f"SELECT key, body FROM {self._sql} ORDER BY seq").fetchall()
        return [(key, self._adopt(key, body)) for key, body in rows]

    def values(self) -> list[Any]:  # type: ignore[override]
        return [value for _, value in self.items()]

    # -- lookups ------------------------------------------------------------------------

    def where(self, **equal: Any) -> list[Any]:
        """The records whose indexed columns have these values, oldest first."""
        clause, parameters = self._clause(equal)
        self.flush()
        rows = self._tx.execute(f"SELECT key, body FROM {self._sql}{clause} ORDER BY seq", parameters).fetchall()
        return [self._adopt(key, body) for key, body in rows]

    def first(self, **equal: Any) -> Any | None:
        clause, parameters = self._clause(equal)
        self.flush()
        row = self._tx.execute(f"SELECT key, body FROM {self._sql}{clause} ORDER BY seq LIMIT 1",
                               parameters).fetchone()
        return None if row is None else self._adopt(*row)

    def newest_first(self, **equal: Any) -> Iterator[Any]:
        """Matching records, newest first, read lazily: a caller that stops early
        (one page of a list) reads only what it used."""
        clause, parameters = self._clause(equal)
        self.flush()
        joiner = " AND " if clause else " WHERE "
        below, size = None, _BATCH // 4
        while True:
            bound = "" if below is None else f"{joiner}seq < {below}"
            rows = self._tx.execute(f"SELECT seq, key, body FROM {self._sql}{clause}{bound} "
                                    f"ORDER BY seq DESC LIMIT {size}", parameters).fetchall()
            for seq, key, body in rows:
                value = self._adopt(key, body)
                if value is not _ABSENT:
                    yield value
            if len(rows) < size:
                return
            below, size = rows[-1][0], _BATCH

    def lowest(self, column: str, limit: int) -> list[Any]:
        """The records with the smallest non-null ``column`` (a queue ordered by time)."""
        self._check_column(column)
        self.flush()
        rows = self._tx.execute(f"SELECT key, body FROM {self._sql} WHERE {column} IS NOT NULL "
                                f"ORDER BY {column}, seq LIMIT ?", (limit,)).fetchall()
        return [self._adopt(key, body) for key, body in rows]

    def sorted_by_key(self, offset: int, limit: int) -> list[Any]:
        self.flush()
        rows = self._tx.execute(f"SELECT key, body FROM {self._sql} ORDER BY key LIMIT ? OFFSET ?",
                                (limit, offset)).fetchall()
        return [self._adopt(key, body) for key, body in rows]

    # -- bulk removal -----------------------------------------------------------------

    def delete_where(self, **equal: Any) -> list[str]:
        clause, parameters = self._clause(equal)
        return self._delete(clause, parameters)

    def delete_below(self, column: str, bound: Any, *, inclusive: bool = False) -> list[str]:
        """Remove the records whose ``column`` is below ``bound`` (expired sessions, old events)."""
        self._check_column(column)
        return self._delete(f" WHERE {column} {'<=' if inclusive else '<'} ?", (bound,))

    def trim(self, keep_newest: int) -> list[str]:
        """Remove all but the newest ``keep_newest`` records."""
        self.flush()
        low, high = self._tx.execute(f"SELECT MIN(seq), MAX(seq) FROM {self._sql}").fetchone()
        # Sequence numbers are dense unless records were removed from the middle, so
        # their span bounds the count and most calls stop here without counting.
        if low is None or high - low + 1 <= keep_newest:
            return []
        row = self._tx.execute(f"SELECT seq FROM {self._sql} ORDER BY seq DESC LIMIT 1 OFFSET ?",
                               (keep_newest,)).fetchone()
        return [] if row is None else self._delete(" WHERE seq <= ?", (row[0],))

    # -- writing ------------------------------------------------------------------------

    def flush(self) -> None:
        if not self._entries or not self._tx.writable:
            return
        for key, entry in list(self._entries.items()):
            value, stored = entry
            if value is _ABSENT:
                if stored is not None:
                    self._tx.execute(f"DELETE FROM {self._sql} WHERE key = ?", (key,))
                    entry[1] = None
                continue
            text = _dumps(value)
            if text == stored:
                continue
            columns = {name: _column_value(index, value) for name, index in self.table.indexes.items()}
            names = ", ".join(["key", "body", *columns])
            marks = ", ".join("?" * (2 + len(columns)))
            updates = ", ".join(f"{name} = excluded.{name}" for name in ["body", *columns])
            # An upsert keeps an existing record's place in the creation order.
            self._tx.execute(f"INSERT INTO {self._sql} ({names}) VALUES ({marks}) "
                             f"ON CONFLICT (key) DO UPDATE SET {updates}", (key, text, *columns.values()))
            entry[1] = text

    # -- internals -----------------------------------------------------------------------

    def _load(self, key: str) -> Any:
        entry = self._entries.get(key)
        if entry is None:
            row = self._tx.execute(f"SELECT body FROM {self._sql} WHERE key = ?", (key,)).fetchone()
            entry = self._entries[key] = [_ABSENT, None] if row is None else [json.loads(row[0]), row[0]]
        return entry[0]

    def _adopt(self, key: str, body: str) -> Any:
        """The transaction's copy of a record a query found (the one already read, if any)."""
        entry = self._entries.get(key)
        if entry is None:
            entry = self._entries[key] = [json.loads(body), body]
        return entry[0]

    def _delete(self, clause: str, parameters: tuple[Any, ...]) -> list[str]:
        self.flush()
        keys = [key for (key,) in self._tx.execute(f"SELECT key FROM {self._sql}{clause}", parameters)]
        if keys:
            self._check_writable()
            self._tx.execute(f"DELETE FROM {self._sql}{clause}", parameters)
            for key in keys:
                self._entries[key] = [_ABSENT, None]
        return keys

    def _clause(self, equal: dict[str, Any]) -> tuple[str, tuple[Any, ...]]:
        for column in equal:
            self._check_column(column)
        if not equal:
            return "", ()
        return " WHERE " + " AND ".join(f"{column} = ?" for column in equal), tuple(equal.values())

    def _check_column(self, column: str) -> None:
        if column not in self.table.indexes:
            raise KeyError(f"{self.table.name} has no indexed column {column!r}")

    def _check_writable(self) -> None:
        if not self._tx.writable:
            raise RuntimeError("a read-only view cannot write the state")


def _column_value(index: Index, record: Any) -> Any:
    try:
        value = index(record)
    except (KeyError, TypeError, AttributeError):
        return None
    return value if value is None or isinstance(value, (str, int, float)) else None
