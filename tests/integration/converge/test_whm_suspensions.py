"""WHM's own suspensions (issue 26 item 4): an account suspended on its WHM by someone else is
recorded as suspended by WHM with WHM's reason, kept by the converge (neither unsuspended nor
given another reason), lifted by staff from the console or by WHM itself. The real engine, the
WHM stand-in's documented `suspendacct`, `unsuspendacct` and `accountsummary`."""
from __future__ import annotations

import secrets

import pytest
import requests

from app.services.operators import console_actions
from app.services.operators.staff import StaffSession
from tests.integration.converge.conftest import converged_once

REASON = "Phishing pages reported by the datacentre (ticket 4411)"


@pytest.fixture
def provisioned(db_conn, settings, converger):
    yield from converged_once(db_conn, settings, converger, "whmsusp")


def _on_whm(settings, function: str, **params) -> dict:
    """What a WHM administrator does on the server, not through mpanel."""
    r = requests.post(f"{settings.CPANEL_WHM_URL}/json-api/{function}", data={"api.version": 1, **params},
                      headers={"Authorization": f"whm {settings.CPANEL_WHM_USERNAME}:{settings.CPANEL_WHM_API_TOKEN}"},
                      timeout=10)
    r.raise_for_status()
    assert r.json()["metadata"]["result"] == 1, r.text
    return r.json()


def _account(settings, user: str) -> dict:
    return _on_whm(settings, "accountsummary", user=user)["data"]["acct"][0]


def _row(db_conn, sid: int) -> dict:
    return db_conn.execute("SELECT s.status, s.suspended_by, s.suspend_reason, w.status AS website, w.cpanel_username "
                           "FROM subscriptions s JOIN websites w ON w.subscription_id = s.id WHERE s.id = %s",
                           (sid,)).fetchone()


def test_a_suspension_made_on_whm_is_recorded_as_whms_kept_by_converges_and_lifted_only_by_staff(
        db_conn, settings, converger, provisioned):
    user = _row(db_conn, provisioned)["cpanel_username"]
    _on_whm(settings, "suspendacct", user=user, reason=REASON)

    converger.check_drift(provisioned)  # the nightly drift check notices it
    row = _row(db_conn, provisioned)
    assert (row["status"], row["suspended_by"], row["suspend_reason"], row["website"]) == (
        "suspended", "whm", REASON, "suspended")

    assert converger.converge(provisioned) == "up"
    account = _account(settings, user)
    assert int(account["suspended"]) == 1 and account["suspendreason"] == REASON, "kept, WHM's reason untouched"
    assert converger.converge(provisioned, force=True) == "up"
    assert int(_account(settings, user)["suspended"]) == 1

    staff_id = db_conn.execute("INSERT INTO staff_users (email, role) VALUES (%s, 'admin') RETURNING id",
                               (f"admin-{secrets.token_hex(3)}@example.net",)).fetchone()["id"]
    owner = StaffSession(staff_id=staff_id, email="admin@example.net", role="admin", csrf="x", id_hash="x")
    console_actions.perform(settings, owner, "unsuspend", provisioned)
    converger.converge(provisioned)
    assert int(_account(settings, user)["suspended"]) == 0
    row = _row(db_conn, provisioned)
    assert (row["status"], row["suspended_by"], row["website"]) == ("active", None, "active")


def test_a_suspension_whm_made_and_lifted_itself_is_recorded_then_lifted(db_conn, settings, converger, provisioned):
    user = _row(db_conn, provisioned)["cpanel_username"]
    _on_whm(settings, "suspendacct", user=user)  # no reason: WHM records its own words
    converger.converge(provisioned)
    row = _row(db_conn, provisioned)
    assert (row["status"], row["suspended_by"]) == ("suspended", "whm")
    assert row["suspend_reason"] == _account(settings, user)["suspendreason"]

    _on_whm(settings, "unsuspendacct", user=user)
    converger.converge(provisioned)
    row = _row(db_conn, provisioned)
    assert (row["status"], row["suspended_by"], row["suspend_reason"], row["website"]) == (
        "active", None, None, "active")
    assert int(_account(settings, user)["suspended"]) == 0
