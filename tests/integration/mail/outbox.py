"""Reading what the local SMTP server accepted (it keeps every message in a Maildir)."""
from __future__ import annotations

import email
import os
import socket
import time
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from pathlib import Path


class Outbox:
    """The SMTP server's Maildir, oldest message first. Each message's headers are parsed once per
    process (a delivered file is never rewritten): by the suite's end the server holds hundreds
    of messages, and parsing every one in full on every poll cost 1.5 s of CPU a poll, more than
    the work the polling tests waited for."""

    _headers: dict[str, tuple[str, str]] = {}  # a message's unique name -> (To in lower case, Subject)

    def __init__(self, maildir: str):
        self.maildir = Path(maildir)

    def to(self, recipient: str, *, within: bool = False) -> list[EmailMessage]:
        return [email.message_from_bytes(raw, policy=default_policy) for raw in self.raw_to(recipient, within=within)]

    def raw_to(self, recipient: str, *, within: bool = False) -> list[bytes]:
        """The messages to `recipient` as the SMTP server stored them, byte for byte. `within`:
        the address may be part of the To header (with a display name, or one of several)."""
        wanted = recipient.lower()
        found = [path for path, (to, _) in self._headed() if (wanted in to if within else to == wanted)]
        return [raw for raw in map(_read, found) if raw is not None]

    def subjects(self) -> list[str]:
        return [subject for _, (_, subject) in self._headed()]

    def _headed(self) -> list[tuple[Path, tuple[str, str]]]:
        headed = []
        for path in self._delivered():
            unique = path.name.split(":")[0]  # a reader moving it from new/ to cur/ adds ":2,"
            if unique not in self._headers:
                try:
                    with path.open("rb") as message:
                        headers = BytesHeaderParser(policy=default_policy).parse(message)
                except FileNotFoundError:  # moved between the listing and the read: seen on the next poll
                    continue
                self._headers[unique] = (str(headers["To"]).lower(), str(headers["Subject"]))
            headed.append((path, self._headers[unique]))
        return headed

    def _delivered(self) -> list[Path]:
        entries = []
        for folder in ("new", "cur"):
            try:
                entries += list(os.scandir(self.maildir / folder))
            except FileNotFoundError:
                continue
        ordered = []
        for entry in entries:
            try:
                ordered.append((entry.stat().st_mtime_ns, entry.name, Path(entry.path)))
            except FileNotFoundError:
                continue
        return [path for _, _, path in sorted(ordered)]

    def wait_for(self, recipient: str, count: int = 1, deadline_seconds: float = 10) -> list[EmailMessage]:
        """The messages to `recipient` once there are at least `count` (fewer when the deadline passes)."""
        deadline = time.monotonic() + deadline_seconds
        while True:
            found = self.to(recipient)
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.05)


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:  # moved from new/ to cur/ since the listing: seen on the next poll
        return None


def text_and_html(message: EmailMessage) -> tuple[str, str]:
    assert message.get_content_type() == "multipart/alternative"
    return message.get_body(("plain",)).get_content(), message.get_body(("html",)).get_content()


def closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def flat(text: str) -> str:
    """The words of a part on one line, so a phrase is found wherever the text part wrapped it."""
    return " ".join(text.split())
