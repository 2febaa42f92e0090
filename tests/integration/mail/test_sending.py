"""send_once: the SMTP conversation and what a failure tells the caller."""
from __future__ import annotations

import dataclasses
import logging
import secrets

import pytest

from app import mail
from tests.integration.mail.outbox import closed_port, text_and_html


def a_rendered_email() -> mail.RenderedEmail:
    return mail.RenderedEmail(subject="A note about your account", text="Plain words.\n",
                              html="<p>Plain words.</p>")


def test_a_message_is_multipart_alternative_from_smtp_from(settings, outbox):
    recipient = f"direct-{secrets.token_hex(4)}@example.net"

    sent = mail.send_once(settings, kind="welcome", subscription_id=None, recipient=recipient,
                          rendered=a_rendered_email(), dedupe_key=f"test:{recipient}")

    assert sent is True
    [message] = outbox.wait_for(recipient)
    assert message["From"] == settings.SMTP_FROM
    assert message["Subject"] == "A note about your account"
    assert text_and_html(message) == ("Plain words.\n", "<p>Plain words.</p>\n")


def test_the_smtp_login_is_used_when_smtp_user_is_set(settings, outbox):
    recipient = f"login-{secrets.token_hex(4)}@example.net"
    with_login = dataclasses.replace(settings, SMTP_USER="noreply@migrahosting.com", SMTP_PASS="relay-password")

    assert mail.send_once(with_login, kind="welcome", subscription_id=None, recipient=recipient,
                          rendered=a_rendered_email(), dedupe_key=f"test:{recipient}") is True

    assert len(outbox.wait_for(recipient)) == 1


def test_a_delivery_failure_never_reveals_the_smtp_password(settings, caplog):
    password = "s3cret-" + secrets.token_hex(4)
    broken = dataclasses.replace(settings, SMTP_PORT=closed_port(), SMTP_USER="noreply@migrahosting.com",
                                 SMTP_PASS=password)
    recipient = f"fail-{secrets.token_hex(4)}@example.net"

    with caplog.at_level(logging.DEBUG), pytest.raises(mail.EmailNotSent) as raised:
        mail.send_once(broken, kind="welcome", subscription_id=None, recipient=recipient,
                       rendered=a_rendered_email(), dedupe_key=f"test:{recipient}")

    assert str(broken.SMTP_PORT) in str(raised.value)
    assert password not in str(raised.value) and password not in caplog.text


class RefusesToSayGoodbye:
    """An SMTP server that accepts the message, then answers QUIT with 421 (real relays do
    this when they close a busy connection)."""

    def __init__(self):
        self.accepted: list[bytes] = []

    async def handle_DATA(self, server, session, envelope):
        self.accepted.append(envelope.content)
        return "250 2.0.0 queued"

    async def handle_QUIT(self, server, session, envelope):
        return "421 4.3.0 closing the connection anyway"


def test_a_message_accepted_before_a_refused_quit_counts_as_sent_and_is_never_sent_twice(settings):
    from aiosmtpd.controller import Controller

    handler = RefusesToSayGoodbye()
    port = closed_port()
    server = Controller(handler, hostname="127.0.0.1", port=port)
    server.start()
    try:
        relay = dataclasses.replace(settings, SMTP_HOST="127.0.0.1", SMTP_PORT=port)
        recipient = f"quit-{secrets.token_hex(4)}@example.net"

        def send() -> bool:
            return mail.send_once(relay, kind="welcome", subscription_id=None, recipient=recipient,
                                  rendered=a_rendered_email(), dedupe_key=f"test:{recipient}")

        assert send() is True
        assert send() is False  # the retry a failed QUIT used to cause finds it recorded
        assert len(handler.accepted) == 1
    finally:
        server.stop()
