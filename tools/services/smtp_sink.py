"""An SMTP server that accepts every message and keeps it in a Maildir.

A real SMTP exchange (EHLO, optional AUTH, DATA) so the application's mail code
runs exactly as it would against a relay; people and tests read what arrived.
"""
from __future__ import annotations

import argparse
import mailbox
import threading
from pathlib import Path

from aiosmtpd.controller import Controller

from tools.services.smtp_serving import serve_until_stopped
from aiosmtpd.smtp import AuthResult, LoginPassword


class KeepEverything:
    def __init__(self, maildir: Path):
        self.box = mailbox.Maildir(maildir, create=True)
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        # Keep the message as it arrived (re-generating it would refold headers), with the
        # wire's CRLF turned into the LF a Maildir holds, and the envelope added in front,
        # as a delivering MTA adds Return-Path.
        envelope_headers = (f"X-Envelope-From: {envelope.mail_from or ''}\n"
                            f"X-Envelope-To: {', '.join(envelope.rcpt_tos)}\n").encode()
        raw = (envelope.original_content or envelope.content).replace(b"\r\n", b"\n")
        with self.lock:
            self.box.add(envelope_headers + raw)
        return "250 Message accepted for delivery"


def accept_any_login(server, session, envelope, mechanism, auth_data):
    # Development relay: credentials are exercised on the wire, not checked.
    return AuthResult(success=isinstance(auth_data, LoginPassword))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--maildir", required=True)
    args = parser.parse_args(argv)
    controller = Controller(
        KeepEverything(Path(args.maildir)), hostname=args.host, port=args.port,
        authenticator=accept_any_login, auth_require_tls=False, auth_required=False,
        server_hostname="smtp.mpanel.local",
    )
    serve_until_stopped(controller, f"smtp sink on {args.host}:{args.port}, keeping mail in {args.maildir}")


if __name__ == "__main__":
    main()
