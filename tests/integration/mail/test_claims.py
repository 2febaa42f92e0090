"""The dedupe record is claimed, then SMTP runs with no transaction open, then it is marked sent
(app.mail.send_once): a slow relay holds no row lock or pooled connection, and a claim whose
sender died is retaken after MPANEL_EMAIL_CLAIM_TIMEOUT_SECONDS."""
from __future__ import annotations

import dataclasses
import secrets

import psycopg
from psycopg.rows import dict_row

from app import mail
from tests.integration.mail.outbox import closed_port
from tests.integration.mail.test_sending import a_rendered_email


class Recording:
    """An SMTP relay that, while it holds the message, looks at the dedupe row from outside."""

    def __init__(self, dsn: str, key: str):
        self.dsn, self.key = dsn, key
        self.accepted: list[bytes] = []
        self.seen_during_data: list[dict] = []

    async def handle_DATA(self, server, session, envelope):
        with psycopg.connect(self.dsn, row_factory=dict_row, autocommit=True) as conn:
            # NOWAIT: raises at once if any transaction still holds the row.
            row = conn.execute("SELECT state, claimed_at, sent_at FROM emails_sent WHERE dedupe_key = %s "
                               "FOR UPDATE NOWAIT", (self.key,)).fetchone()
        self.seen_during_data.append(row)
        self.accepted.append(envelope.content)
        return "250 2.0.0 queued"


def _relay(handler):
    from aiosmtpd.controller import Controller

    port = closed_port()
    server = Controller(handler, hostname="127.0.0.1", port=port)
    server.start()
    return server, port


def test_smtp_runs_with_the_record_claimed_and_unlocked_then_it_is_marked_sent(settings, db_conn):
    key = f"test:claim:{secrets.token_hex(4)}"
    handler = Recording(settings.DATABASE_URL, key)
    server, port = _relay(handler)
    try:
        relay = dataclasses.replace(settings, SMTP_HOST="127.0.0.1", SMTP_PORT=port)
        assert mail.send_once(relay, kind="welcome", subscription_id=None, recipient="claim@example.net",
                              rendered=a_rendered_email(), dedupe_key=key) is True
    finally:
        server.stop()
    [during] = handler.seen_during_data
    assert during["state"] == "sending" and during["claimed_at"] is not None and during["sent_at"] is None
    after = db_conn.execute("SELECT state, sent_at FROM emails_sent WHERE dedupe_key = %s", (key,)).fetchone()
    assert after["state"] == "sent" and after["sent_at"] is not None


def _stale_claim(db_conn, key: str, age_seconds: int) -> None:
    """What a sender that died mid-send leaves: a 'sending' row nobody will finish."""
    db_conn.execute("INSERT INTO emails_sent (kind, dedupe_key, recipient, subject, message_id, state, claimed_at, "
                    "sent_at) VALUES ('welcome', %s, 'dead@example.net', 's', '<dead@x>', 'sending', "
                    "now() - make_interval(secs => %s), NULL)", (key, age_seconds))


def test_a_claim_older_than_the_timeout_is_retaken_and_the_email_sent_once(settings, db_conn):
    key = f"test:stale:{secrets.token_hex(4)}"
    _stale_claim(db_conn, key, 700)  # older than the default 600 s
    handler = Recording(settings.DATABASE_URL, key)
    server, port = _relay(handler)
    try:
        relay = dataclasses.replace(settings, SMTP_HOST="127.0.0.1", SMTP_PORT=port)

        def send() -> bool:
            return mail.send_once(relay, kind="welcome", subscription_id=None, recipient="retake@example.net",
                                  rendered=a_rendered_email(), dedupe_key=key)

        assert send() is True
        assert send() is False
    finally:
        server.stop()
    assert len(handler.accepted) == 1
    row = db_conn.execute("SELECT state, recipient FROM emails_sent WHERE dedupe_key = %s", (key,)).fetchone()
    assert row == {"state": "sent", "recipient": "retake@example.net"}


def test_a_fresh_claim_of_another_sender_is_waited_for_then_reported_not_retaken(settings, db_conn, monkeypatch):
    key = f"test:fresh:{secrets.token_hex(4)}"
    _stale_claim(db_conn, key, 1)  # another sender is at it right now
    monkeypatch.setattr(mail, "CLAIM_WAIT_SECONDS", 0.5)
    unused = dataclasses.replace(settings, SMTP_HOST="127.0.0.1", SMTP_PORT=closed_port())
    try:
        mail.send_once(unused, kind="welcome", subscription_id=None, recipient="x@example.net",
                       rendered=a_rendered_email(), dedupe_key=key)
    except mail.EmailNotSent as exc:
        assert "being sent by another worker" in str(exc)
    else:
        raise AssertionError("a fresh claim of another sender was taken over")
    assert db_conn.execute("SELECT message_id FROM emails_sent WHERE dedupe_key = %s",
                           (key,)).fetchone()["message_id"] == "<dead@x>"
