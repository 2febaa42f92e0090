"""Nothing fails silently: a subscription that keeps failing is flagged for the operators, who
are emailed once per occurrence, and a successful run clears the flag."""
from __future__ import annotations

import dataclasses
import secrets

import pytest

from app import mail
from app.services.hosting.converge import Converger
from app.services.hosting.errors import PermanentConvergeError, TransientConvergeError
from stacks.operations import StackOperations
from tests.factories import make_subscription, unique_domain
from tests.integration.mail.outbox import Outbox


class UnreachableBackend(StackOperations):
    """The engine's state backend is down: every operation fails before touching anything."""

    def __init__(self):
        super().__init__(config=None)

    def up(self, *args, **kwargs):
        raise RuntimeError("could not reach the state backend: connection refused")

    destroy = refresh = preview = up

    def exists(self, subscription_id):
        return True


def _flags(db_conn, sid):
    return db_conn.execute("SELECT failures_in_a_row, needs_attention_since, provisioning_status, "
                           "provisioning_error FROM subscriptions WHERE id = %s", (sid,)).fetchone()


def _alert_jobs(db_conn, sid):
    return db_conn.execute("SELECT status FROM procrastinate_jobs WHERE task_name = 'send_attention_alert' "
                           "AND args->>'subscription_id' = %s", (str(sid),)).fetchall()


@pytest.fixture
def ops_settings(settings):
    return dataclasses.replace(settings, MPANEL_ATTENTION_AFTER_FAILURES=2,
                               OPS_EMAIL=f"ops-{secrets.token_hex(4)}@migrahosting.com")


def test_transient_failures_in_a_row_flag_the_subscription_once_and_a_success_clears_it(db_conn, ops_settings):
    sid = make_subscription(db_conn, ops_settings, domain=unique_domain("attn"))
    failing = Converger(ops_settings, UnreachableBackend())

    with pytest.raises(TransientConvergeError):
        failing.converge(sid)
    first = _flags(db_conn, sid)
    assert (first["failures_in_a_row"], first["needs_attention_since"]) == (1, None)
    assert _alert_jobs(db_conn, sid) == []

    for _ in range(2):
        with pytest.raises(TransientConvergeError):
            failing.converge(sid)
    flagged = _flags(db_conn, sid)
    assert flagged["failures_in_a_row"] == 3 and flagged["needs_attention_since"] is not None
    assert flagged["provisioning_status"] == "provisioning"  # still retried, not given up on
    assert "state backend" in flagged["provisioning_error"]
    assert len(_alert_jobs(db_conn, sid)) == 1  # raised once, not once per failure

    outbox = Outbox(ops_settings.SMTP_MAILDIR)
    assert mail.send_attention_alert(ops_settings, sid) is True
    assert mail.send_attention_alert(ops_settings, sid) is False
    [alert] = outbox.wait_for(ops_settings.OPS_EMAIL)
    assert f"sub-{sid}" in alert["Subject"] and "needs attention" in alert["Subject"]

    try:
        assert Converger(ops_settings).converge(sid) == "up"
        cleared = _flags(db_conn, sid)
        assert (cleared["failures_in_a_row"], cleared["needs_attention_since"]) == (0, None)
        assert mail.send_attention_alert(ops_settings, sid) is False  # nothing to tell any more
    finally:
        db_conn.execute("DELETE FROM procrastinate_jobs WHERE task_name = 'send_attention_alert' "
                        "AND args->>'subscription_id' = %s", (str(sid),))
        db_conn.execute("UPDATE subscriptions SET status = 'terminated' WHERE id = %s", (sid,))
        Converger(ops_settings).converge(sid)


def test_a_permanent_failure_flags_the_subscription_at_once(db_conn, ops_settings):
    sid = make_subscription(db_conn, ops_settings, domain=unique_domain("attn"))
    db_conn.execute("UPDATE subscriptions SET status = 'terminated' WHERE id = %s", (sid,))
    db_conn.execute("UPDATE subscriptions SET provisioning_status = 'ready' WHERE id = %s", (sid,))

    class NotOurs(UnreachableBackend):
        def destroy(self, *args, **kwargs):
            from providers.core.errors import NotOurs as Refusal

            raise RuntimeError(str(Refusal("whm", "the account shop1 is not this stack's", code="not_ours")))

    try:
        with pytest.raises(PermanentConvergeError):
            Converger(ops_settings, NotOurs()).converge(sid)
        flagged = _flags(db_conn, sid)
        assert flagged["failures_in_a_row"] == 1 and flagged["needs_attention_since"] is not None
        assert flagged["provisioning_error"] == "whm: the account shop1 is not this stack's"
        assert len(_alert_jobs(db_conn, sid)) == 1
    finally:
        db_conn.execute("DELETE FROM procrastinate_jobs WHERE task_name = 'send_attention_alert' "
                        "AND args->>'subscription_id' = %s", (str(sid),))
        db_conn.execute("UPDATE subscriptions SET provisioning_status = 'destroyed' WHERE id = %s", (sid,))
