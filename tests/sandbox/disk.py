"""What a stand-in has written to disk, for tests that check what must never be stored."""

from __future__ import annotations

from pathlib import Path


def stored_bytes(state_path: Path) -> bytes:
    """The database and its write-ahead log (recent writes live there until a checkpoint)."""
    return b"".join(path.read_bytes() for path in sorted(state_path.parent.glob(state_path.name + "*")))
