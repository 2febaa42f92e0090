"""Each stack's update history in the postgres:// backend, kept bounded.

The DIY backend (pkg/backend/diy, 3.260; postgres/bucket.go stores each blob as one row
`(key, data json, updated_at)` of table `pulumi_state`, or `?table=` of the URL) writes, per
update, two rows under `.pulumi/history/<project>/<stack>/` (state.go addToHistory):
`<stack>-<unix nanos>.history.json` (the update's summary) and `<stack>-<unix nanos>.checkpoint.json`
(a full copy of the state, tens of KB). The stack's state itself is `.pulumi/stacks/<project>/<stack>.json`.
`pulumi stack history` lists the prefix and reads each `.history.json` on its own (state.go
getHistory), and `stack export` reads the state only: removing old pairs, whole, leaves both
reading what is left (the versions it shows are counted afresh). Compressed variants (`.gz`,
`.zst`) are handled alike. The backend prefixes every key with the URL's path (backend.go:
`postgres://.../pulumi` keys `pulumi/.pulumi/...`), so the rows are found where the CLI puts them.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterator
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import sql

HISTORY = ".pulumi/history"
STACKS = ".pulumi/stacks"
_EXTENSIONS = ("json", "json.gz", "json.zst")
_ENTRY = re.compile(r"-(\d+)\.history\.json(?:\.gz|\.zst)?$")


@dataclass(frozen=True)
class Backend:
    dsn: str     # a libpq connection string (the URL without the backend's own parameters)
    table: str   # pulumi_state unless the URL says ?table=
    prefix: str  # of every key: the URL's path and a slash (backend.go's PrefixedBucket)

    @classmethod
    def from_url(cls, url: str) -> "Backend":
        parts = urlsplit(url)
        query = parse_qsl(parts.query)
        table = dict(query).get("table", "pulumi_state")
        rest = urlencode([(k, v) for k, v in query if k != "table"])
        path = parts.path.strip("/")
        return cls(urlunsplit(parts._replace(scheme="postgresql", query=rest)), table, f"{path}/" if path else "")

    def connect(self) -> psycopg.Connection:
        return psycopg.connect(self.dsn, autocommit=True)


def stacks(conn: psycopg.Connection, backend: Backend, project: str) -> list[str]:
    """Every stack of the project with a state in the backend."""
    prefix = f"{backend.prefix}{STACKS}/{project}/"
    rows = conn.execute(sql.SQL("SELECT key FROM {} WHERE key LIKE %s").format(sql.Identifier(backend.table)),
                        (like_escaped(prefix) + "%",)).fetchall()
    names = {r[0][len(prefix):] for r in rows}
    return sorted(n[:-len(".json")] for n in names if n.endswith(".json") and "/" not in n)


def updates(conn: psycopg.Connection, backend: Backend, project: str, stack: str) -> list[tuple[str, int]]:
    """The stack's history entries, newest first: (key prefix of the pair, unix nanos)."""
    directory = f"{backend.prefix}{HISTORY}/{project}/{stack}/"
    rows = conn.execute(sql.SQL("SELECT key FROM {} WHERE key LIKE %s").format(sql.Identifier(backend.table)),
                        (like_escaped(directory) + "%.history.json%",)).fetchall()
    found = []
    for (key,) in rows:
        m = _ENTRY.search(key)
        if m:
            found.append((key[:m.start(1) + len(m.group(1))], int(m.group(1))))
    return sorted(found, key=lambda e: e[1], reverse=True)


def beyond_policy(entries: list[tuple[str, int]], keep: int, newer_than_nanos: int) -> list[str]:
    """The pairs to remove: neither among the newest `keep` nor newer than the cutoff."""
    return [prefix for i, (prefix, nanos) in enumerate(entries) if i >= keep and nanos < newer_than_nanos]


def remove_pairs(conn: psycopg.Connection, backend: Backend, prefixes: list[str]) -> int:
    """Delete the history and checkpoint rows of these entries (one statement); rows deleted."""
    keys = [f"{p}.{kind}.{ext}" for p in prefixes for kind in ("history", "checkpoint") for ext in _EXTENSIONS]
    return conn.execute(sql.SQL("DELETE FROM {} WHERE key = ANY(%s)").format(sql.Identifier(backend.table)),
                        (keys,)).rowcount


def state_bytes(conn: psycopg.Connection, backend: Backend, project: str, stack: str) -> dict[str, int]:
    """Bytes the stack's rows take (the JSON as stored): its state and its history."""
    state, history = f"{backend.prefix}{STACKS}/{project}/{stack}.json", f"{backend.prefix}{HISTORY}/{project}/{stack}/"
    row = conn.execute(sql.SQL(
        "SELECT coalesce(sum(pg_column_size(data)) FILTER (WHERE key LIKE %s), 0), "
        "coalesce(sum(pg_column_size(data)) FILTER (WHERE key LIKE %s), 0), "
        "count(*) FILTER (WHERE key LIKE %s) FROM {} WHERE key LIKE %s OR key LIKE %s").format(
            sql.Identifier(backend.table)),
        (like_escaped(state) + "%", like_escaped(history) + "%", like_escaped(history) + "%.history.json%",
         like_escaped(state) + "%", like_escaped(history) + "%")).fetchone()
    return {"state": int(row[0]), "history": int(row[1]), "updates": int(row[2])}


def like_escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def in_batches(items: list[str], size: int) -> Iterator[list[str]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]
