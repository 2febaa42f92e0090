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


class RequiresLogin:
    """A relay that takes a message only after AUTH with the one login it knows."""

    def __init__(self, user: str, password: str):
        self.user, self.password = user.encode(), password.encode()
        self.logins: list[tuple[bytes, bytes]] = []
        self.accepted: list[bytes] = []

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        from aiosmtpd.smtp import AuthResult, LoginPassword

        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False)
        self.logins.append((auth_data.login, auth_data.password))
        return AuthResult(success=(auth_data.login, auth_data.password) == (self.user, self.password))

    async def handle_DATA(self, server, session, envelope):
        self.accepted.append(envelope.content)
        return "250 2.0.0 queued"


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_the_smtp_login_is_used_when_smtp_user_is_set(settings):
    from aiosmtpd.controller import Controller

    relay = RequiresLogin("noreply@migrahosting.com", "relay-password")
    port = closed_port()
    server = Controller(relay, hostname="127.0.0.1", port=port, authenticator=relay.authenticate,
                        auth_required=True, auth_require_tls=False)
    server.start()
    try:
        at_relay = dataclasses.replace(settings, SMTP_HOST="127.0.0.1", SMTP_PORT=port)
        recipient = f"login-{secrets.token_hex(4)}@example.net"

        def send(s) -> bool:
            return mail.send_once(s, kind="welcome", subscription_id=None, recipient=recipient,
                                  rendered=a_rendered_email(), dedupe_key=f"test:{recipient}")

        # Without the login this relay takes nothing: the test below proves the login was sent.
        with pytest.raises(mail.EmailNotSent):
            send(dataclasses.replace(at_relay, SMTP_USER="", SMTP_PASS=""))
        assert relay.accepted == []

        assert send(dataclasses.replace(at_relay, SMTP_USER="noreply@migrahosting.com",
                                        SMTP_PASS="relay-password")) is True
        assert relay.logins == [(b"noreply@migrahosting.com", b"relay-password")]
        assert len(relay.accepted) == 1
    finally:
        server.stop()


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
