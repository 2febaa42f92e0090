"""Reading what the local SMTP server accepted (it keeps every message in a Maildir)."""
from __future__ import annotations

import email
import mailbox
import socket
import time
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path


class Outbox:
    def __init__(self, maildir: str):
        self.maildir = Path(maildir)

    def to(self, recipient: str) -> list[EmailMessage]:
        return [email.message_from_bytes(raw, policy=default_policy) for raw in self.raw_to(recipient)]

    def raw_to(self, recipient: str) -> list[bytes]:
        """The messages to `recipient` as the SMTP server stored them, byte for byte."""
        box = mailbox.Maildir(self.maildir, create=False)
        found = []
        for key in box.keys():
            try:
                raw = box.get_bytes(key)
            except KeyError:  # moved from new/ to cur/ by another reader between keys() and the read
                continue
            if str(email.message_from_bytes(raw, policy=default_policy)["To"]).lower() == recipient.lower():
                found.append(raw)
        return found

    def wait_for(self, recipient: str, count: int = 1, deadline_seconds: float = 10) -> list[EmailMessage]:
        """The messages to `recipient` once there are at least `count` (fewer when the deadline passes)."""
        deadline = time.monotonic() + deadline_seconds
        while True:
            found = self.to(recipient)
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.05)


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
