"""A JSON document on disk that the stand-ins use as their whole database.

Each change runs as a small transaction: the handler edits a private copy and the
copy replaces the document (memory and disk) only when the handler returns without
raising. A validation error halfway through an operation therefore leaves nothing
half-done, which is what the real services promise and what the clients' adopt logic
assumes.
"""

from __future__ import annotations

import copy
import json
import os
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

Document = dict[str, Any]


class CorruptStateError(RuntimeError):
    """The state file exists but is not a JSON object: refuse to start over it."""


class JsonStateStore:
    def __init__(self, path: str | os.PathLike[str], initial: Callable[[], Document]):
        self.path = Path(path)
        self._initial = initial
        # Re-entrant so a handler may read inside its own change() block.
        self._lock = threading.RLock()
        self._document = self._load()

    def read(self) -> Document:
        """A snapshot the caller may keep or modify freely."""
        with self._lock:
            return copy.deepcopy(self._document)

    @contextmanager
    def change(self) -> Iterator[Document]:
        """Yield a working copy; commit it when the block ends without an exception.

        The lock is held for the whole block, so operations are serialised the way a
        single upstream server serialises them.
        """
        with self._lock:
            working = copy.deepcopy(self._document)
            yield working
            if working != self._document:
                self._write(working)
                self._document = working

    def reset(self) -> None:
        with self._lock:
            fresh = self._initial()
            self._write(fresh)
            self._document = fresh

    def _load(self) -> Document:
        if not self.path.exists():
            document = self._initial()
            self._write(document)
            return document
        try:
            document = json.loads(self.path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise CorruptStateError(f"{self.path} is not valid JSON: {exc}") from exc
        if not isinstance(document, dict):
            raise CorruptStateError(f"{self.path} does not hold a JSON object")
        return document

    def _write(self, document: Document) -> None:
        # Write a sibling file and rename it over the old one: a crash or a concurrent
        # reader sees either the old document or the new one, never half of each.
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as tmp:
                json.dump(document, tmp, indent=1, sort_keys=True)
                tmp.flush()
                os.fsync(tmp.fileno())
            # The state holds password hashes and TLS keys: owner-only, like the real
            # servers' own files.
            os.chmod(tmp_name, 0o600)
            os.replace(tmp_name, self.path)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
