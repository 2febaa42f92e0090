"""An imported account billed elsewhere (`--billing external`) is never suspended for billing by
mpanel: the deadline sweep and the dunning reminders pass it by, its cancellation's retention
still ends, and the straggler sweep counts it as paid (the operator's word), against PostgreSQL."""
from __future__ import annotations

import pytest

from app.db import notices, sweeps
from app.services.orders.lifecycle import Outcome, enforce_deadlines
from tests.factories import make_subscription


@pytest.fixture
def made(db_conn):
    """Subscriptions the test makes, ended afterwards (the worker's sweeps must not build them)."""
    sids: list[int] = []
    yield sids
    db_conn.execute("UPDATE subscriptions SET status = 'terminated', provisioning_status = 'destroyed' "
                    "WHERE id = ANY(%s)", (sids,))


def _past_due_long(db_conn, settings, made, *, elsewhere: bool) -> int:
    sid = make_subscription(db_conn, settings, status="past_due")
    made.append(sid)
    db_conn.execute("UPDATE subscriptions SET past_due_since = now() - interval '30 days', billed_externally = %s, "
                    "imported_at = CASE WHEN %s THEN now() END WHERE id = %s", (elsewhere, elsewhere, sid))
    return sid


def _status(db_conn, sid: int) -> tuple[str, str | None]:
    row = db_conn.execute("SELECT status, suspended_by FROM subscriptions WHERE id = %s", (sid,)).fetchone()
    return row["status"], row["suspended_by"]


def test_the_deadline_sweep_never_suspends_an_account_billed_elsewhere(db_conn, settings, made):
    elsewhere = _past_due_long(db_conn, settings, made, elsewhere=True)
    by_stripe = _past_due_long(db_conn, settings, made, elsewhere=False)
    outcome = Outcome()
    for sid in (elsewhere, by_stripe):
        enforce_deadlines(db_conn, settings, outcome, only=sid)

    assert _status(db_conn, by_stripe) == ("suspended", "billing")  # the same sweep does suspend
    assert _status(db_conn, elsewhere) == ("past_due", None)
    assert elsewhere not in outcome.converge and (elsewhere, "suspended") not in outcome.emails
    # and no payment reminder is due for it
    due = {r["id"] for r in notices.past_due(db_conn)}
    assert elsewhere not in due


def test_an_account_billed_elsewhere_still_ends_when_its_retention_does(db_conn, settings, made):
    sid = make_subscription(db_conn, settings, status="canceled")
    made.append(sid)
    db_conn.execute("UPDATE subscriptions SET billed_externally = true, imported_at = now(), "
                    "terminate_after = now() - interval '1 second' WHERE id = %s", (sid,))
    outcome = Outcome()
    enforce_deadlines(db_conn, settings, outcome, only=sid)
    assert _status(db_conn, sid)[0] == "terminated" and sid in outcome.converge


def test_the_straggler_sweep_counts_an_account_billed_elsewhere_as_paid(db_conn, settings, made):
    elsewhere, unpaid = (make_subscription(db_conn, settings) for _ in range(2))
    made.extend([elsewhere, unpaid])
    db_conn.execute("UPDATE subscriptions SET updated_at = now() - interval '5 minutes', billed_externally = "
                    "(id = %s) WHERE id = ANY(%s)", (elsewhere, [elsewhere, unpaid]))
    found = set(sweeps.stragglers(db_conn))
    assert elsewhere in found and unpaid not in found
