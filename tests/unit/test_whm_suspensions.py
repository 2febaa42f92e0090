"""Which suspensions on WHM are WHM's own (app/services/hosting/whm_suspensions.py): pure rules."""
from __future__ import annotations

import datetime as dt

import pytest

from app.services.hosting.whm_suspensions import whm_change


def site(status="active", website="active", by=None, reason=None, past_due_since=None) -> dict:
    return {"status": status, "website_status": website, "suspended_by": by, "suspend_reason": reason,
            "past_due_since": past_due_since}


def on_whm(suspended: bool, reason: str = "") -> dict:
    return {"suspended": 1 if suspended else 0, "suspendreason": reason if suspended else ""}


@pytest.mark.parametrize("status", ["active", "past_due"])
def test_a_running_account_suspended_on_whm_is_recorded_as_whms_with_its_reason_verbatim(status):
    assert whm_change(site(status), on_whm(True, "Phishing kit, ticket 4411")) == {
        "status": "suspended", "suspended_by": "whm", "suspend_reason": "Phishing kit, ticket 4411"}


def test_a_suspension_without_a_reason_says_so():
    assert whm_change(site(), {"suspended": "1", "suspendreason": " "})["suspend_reason"] == "No reason given"


def test_our_suspension_not_yet_lifted_on_whm_is_not_taken_for_whms():
    # Staff unsuspended a moment ago: our last run left the account suspended, the next lifts it.
    assert whm_change(site("active", website="suspended"), on_whm(True, "abuse")) is None


@pytest.mark.parametrize("by", ["billing", "staff", None])
def test_suspensions_of_ours_are_left_as_they_are(by):
    assert whm_change(site("suspended", website="suspended", by=by, reason="x"), on_whm(True, "x")) is None
    assert whm_change(site("suspended", website="active", by=by, reason="x"), on_whm(False)) is None


def test_a_running_account_running_on_whm_changes_nothing():
    assert whm_change(site(), on_whm(False)) is None


def test_whm_lifting_its_own_suspension_lifts_ours_back_to_where_billing_stands():
    whms = dict(by="whm", reason="abuse", website="suspended")
    assert whm_change(site("suspended", **whms), on_whm(False)) == {
        "status": "active", "suspended_by": None, "suspend_reason": None}
    since = dt.datetime(2026, 3, 1, tzinfo=dt.timezone.utc)
    assert whm_change(site("suspended", past_due_since=since, **whms), on_whm(False))["status"] == "past_due"


def test_whms_new_reason_replaces_the_recorded_one():
    assert whm_change(site("suspended", website="suspended", by="whm", reason="abuse"),
                      on_whm(True, "abuse; now also spam")) == {"suspend_reason": "abuse; now also spam"}
    assert whm_change(site("suspended", website="suspended", by="whm", reason="abuse"), on_whm(True, "abuse")) is None
