"""The subscription lifecycle's rules (app/services/orders/lifecycle_rules.py), with plain values."""
from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest

from app.services.orders import lifecycle_rules as rules

NOW = dt.datetime(2025, 6, 1, 12, 0, tzinfo=dt.timezone.utc)
OURS = ("pending_payment", "active", "past_due", "suspended", "canceled", "terminated", "abandoned")


# --- Stripe status -> our status --------------------------------------------------------------

@pytest.mark.parametrize("stripe_status", ["active", "trialing"])
@pytest.mark.parametrize("was", ["pending_payment", "active", "past_due", "suspended"])
def test_a_paying_subscription_is_active_whatever_it_owed_before(was, stripe_status):
    assert rules.next_status(was, stripe_status) == "active"


@pytest.mark.parametrize("stripe_status", ["active", "trialing"])
def test_paying_again_takes_back_a_canceled_order_still_retained(stripe_status):
    assert rules.next_status("canceled", stripe_status) == "active"


@pytest.mark.parametrize("was", ["terminated", "abandoned"])
def test_payment_does_not_revive_a_terminated_or_abandoned_subscription(was):
    assert rules.next_status(was, "active") == was


@pytest.mark.parametrize("status,kept", [("canceled", True), ("terminated", False), ("active", False),
                                         ("suspended", False), ("abandoned", False)])
def test_only_a_canceled_order_is_retained_for_its_customer_to_take_back(status, kept):
    assert rules.retained(status) is kept


@pytest.mark.parametrize("stripe_status", ["past_due", "unpaid"])
@pytest.mark.parametrize("was", ["pending_payment", "active", "past_due"])
def test_an_owing_subscription_is_past_due(was, stripe_status):
    assert rules.next_status(was, stripe_status) == "past_due"


def test_a_suspended_subscription_stays_suspended_while_it_still_owes():
    assert rules.next_status("suspended", "past_due") == "suspended"


@pytest.mark.parametrize("stripe_status", ["canceled", "incomplete_expired"])
@pytest.mark.parametrize("was", ["pending_payment", "active", "past_due", "suspended", "canceled"])
def test_an_ended_subscription_is_canceled(was, stripe_status):
    assert rules.next_status(was, stripe_status) == "canceled"


def test_a_terminated_subscription_is_never_canceled_again():
    assert rules.next_status("terminated", "canceled") == "terminated"


@pytest.mark.parametrize("was", OURS)
@pytest.mark.parametrize("stripe_status", [None, "incomplete", "paused", "something_new"])
def test_a_stripe_status_without_a_rule_changes_nothing(was, stripe_status):
    assert rules.next_status(was, stripe_status) == was


@pytest.mark.parametrize("stripe_status", ["active", "trialing", "past_due"])
def test_an_abandoned_order_that_stripe_bills_needs_a_person(stripe_status):
    assert rules.billed_after_abandoning("abandoned", stripe_status)
    assert stripe_status in rules.abandoned_but_billed_error(stripe_status)


@pytest.mark.parametrize("was,stripe_status", [("abandoned", "canceled"), ("abandoned", "unpaid"),
                                                ("active", "active"), ("pending_payment", "past_due")])
def test_only_billing_an_abandoned_order_needs_a_person(was, stripe_status):
    assert not rules.billed_after_abandoning(was, stripe_status)


# --- what a transition implies -------------------------------------------------------------------

def _then(was, new, plan_changed=False, days=14.0):
    return rules.transition(was, new, plan_changed=plan_changed, now=NOW, terminate_after_days=days)


def test_becoming_past_due_starts_the_grace_period_now():
    then = _then("active", "past_due")
    assert then.updates == {"status": "past_due", "past_due_since": NOW} and then.converge and then.emails == ()


def test_staying_past_due_keeps_the_grace_period_running():
    then = _then("past_due", "past_due")
    assert "past_due_since" not in then.updates and not then.converge


PAID_UP = {"past_due_since": None, "failed_payment": None, "suspended_by": None, "suspend_reason": None}


def test_becoming_active_clears_the_grace_period_the_failed_payment_and_the_suspension():
    assert _then("past_due", "active").updates == {"status": "active", **PAID_UP}


def test_staying_active_still_clears_a_leftover_grace_period_but_does_not_converge():
    then = _then("active", "active")
    assert then.updates == PAID_UP and not then.converge


@pytest.mark.parametrize("by", [None, "billing"])
def test_a_payment_lifts_a_billing_suspension(by):
    assert rules.next_status("suspended", "active", by) == "active"


@pytest.mark.parametrize("by", ["staff", "whm"])
def test_a_payment_does_not_lift_a_suspension_staff_or_whm_made(by):
    assert rules.next_status("suspended", "active", by) == "suspended"
    assert rules.next_status("suspended", "canceled", by) == "canceled"


# --- the dunning schedule and the other notices that fall due -----------------------------------

DAY = dt.timedelta(days=1)


@pytest.mark.parametrize("days_after, step, final", [
    (0.5, None, False), (1, "day-1", False), (2.9, "day-1", False), (3, "day-3", False),
    (5.99, "day-3", False), (6, "day-6", True), (6.99, "day-6", True), (7, None, False)])
def test_payment_reminders_follow_the_schedule_up_to_the_final_warning_the_day_before(days_after, step, final):
    reminder = rules.payment_reminder_due(NOW, NOW + days_after * DAY, "1,3,-1", 7.0)
    assert (reminder.step if reminder else None) == step
    if reminder:
        assert reminder.final is final


def test_reminders_on_or_after_the_suspension_day_are_dropped():
    assert rules.payment_reminder_due(NOW, NOW + 1.5 * DAY, "1,3,-1", 2.0) == rules.Reminder("day-1", True)
    assert rules.payment_reminder_due(NOW, NOW + 0.5 * DAY, "1,3,-1", 0.0) is None


def test_the_termination_warning_is_due_in_the_last_days_before_removal_only():
    end = NOW + 10 * DAY
    assert not rules.termination_warning_due(end, NOW + 6 * DAY, 3.0)
    assert rules.termination_warning_due(end, NOW + 7 * DAY, 3.0)
    assert not rules.termination_warning_due(end, end, 3.0)


@pytest.mark.parametrize("days_left, step", [(31, None), (30, "30-days"), (8, "30-days"), (7, "7-days"),
                                             (0.5, "7-days"), (0, None)])
def test_domain_expiry_reminders_30_and_7_days_before(days_left, step):
    reminder = rules.domain_expiry_reminder_due(NOW + days_left * DAY, NOW, "30,7")
    assert (reminder.step if reminder else None) == step


def test_reactivation_after_suspension_sends_the_reactivated_notice_and_converges():
    then = _then("suspended", "active")
    assert then.emails == ("reactivated",) and then.converge


def test_taking_back_a_canceled_order_clears_its_termination_date_and_sends_the_reactivated_notice():
    then = _then("canceled", "active")
    assert then.updates["status"] == "active" and then.updates["terminate_after"] is None
    assert then.emails == ("reactivated",) and then.converge


@pytest.mark.parametrize("was", ["pending_payment", "past_due", "active"])
def test_becoming_active_from_anything_but_suspension_sends_no_notice(was):
    assert _then(was, "active").emails == ()


def test_cancellation_schedules_termination_after_the_retention_period():
    then = _then("active", "canceled", days=14.0)
    assert then.updates["terminate_after"] == NOW + dt.timedelta(days=14)
    assert then.updates["status"] == "canceled" and then.converge


@pytest.mark.parametrize("was", ["active", "past_due", "suspended"])
def test_cancellation_tells_the_customer_at_once(was):
    assert _then(was, "canceled", days=30.0).emails == ("canceled",)


def test_staying_canceled_sends_nothing_again():
    assert _then("canceled", "canceled").emails == ()


def test_with_no_retention_a_cancellation_is_due_for_termination_at_once():
    assert _then("active", "canceled", days=0).updates["terminate_after"] == NOW


def test_staying_canceled_does_not_move_the_termination_date():
    assert "terminate_after" not in _then("canceled", "canceled").updates


def test_a_plan_change_alone_converges_without_changing_the_status():
    then = _then("active", "active", plan_changed=True)
    assert then.converge and "status" not in then.updates


@pytest.mark.parametrize("was", OURS)
def test_nothing_moved_and_no_plan_change_means_no_converge(was):
    assert not _then(was, was).converge


# --- deadlines --------------------------------------------------------------------------------

def _row(status, past_due_since=None, terminate_after=None):
    return {"status": status, "past_due_since": past_due_since, "terminate_after": terminate_after}


def test_past_due_beyond_the_grace_period_is_suspended_with_a_notice():
    deadline = rules.deadline_passed(_row("past_due", NOW - dt.timedelta(days=8)), NOW, 7)
    assert deadline is rules.SUSPENSION
    assert (deadline.becomes, deadline.email) == ("suspended", "suspended")


def test_past_due_inside_the_grace_period_waits():
    assert rules.deadline_passed(_row("past_due", NOW - dt.timedelta(days=6, hours=23)), NOW, 7) is None


def test_the_grace_period_ends_exactly_at_its_last_instant():
    assert rules.deadline_passed(_row("past_due", NOW - dt.timedelta(days=7)), NOW, 7) is rules.SUSPENSION


def test_a_fractional_grace_period_is_honoured():
    assert rules.deadline_passed(_row("past_due", NOW - dt.timedelta(hours=11)), NOW, 0.5) is None
    assert rules.deadline_passed(_row("past_due", NOW - dt.timedelta(hours=13)), NOW, 0.5) is rules.SUSPENSION


def test_past_due_with_no_start_date_is_never_suspended():
    assert rules.deadline_passed(_row("past_due"), NOW, 0) is None


def test_an_account_billed_elsewhere_is_never_suspended_for_billing_but_its_retention_still_ends():
    long_ago = NOW - dt.timedelta(days=365)
    assert rules.deadline_passed({**_row("past_due", long_ago), "billed_externally": True}, NOW, 0) is None
    assert rules.deadline_passed({**_row("past_due", long_ago), "billed_externally": False}, NOW, 0) is rules.SUSPENSION
    ended = {**_row("canceled", terminate_after=NOW - dt.timedelta(seconds=1)), "billed_externally": True}
    assert rules.deadline_passed(ended, NOW, 7) is rules.TERMINATION


def test_canceled_past_retention_is_terminated_without_a_second_notice():
    deadline = rules.deadline_passed(_row("canceled", terminate_after=NOW - dt.timedelta(seconds=1)), NOW, 7)
    assert deadline is rules.TERMINATION
    assert (deadline.becomes, deadline.email) == ("terminated", None)


def test_canceled_inside_retention_waits():
    assert rules.deadline_passed(_row("canceled", terminate_after=NOW + dt.timedelta(seconds=1)), NOW, 7) is None


@pytest.mark.parametrize("status", ["active", "suspended", "terminated", "pending_payment", "abandoned"])
def test_statuses_without_a_deadline_never_pass_one(status):
    long_ago = NOW - dt.timedelta(days=365)
    assert rules.deadline_passed(_row(status, long_ago, long_ago), NOW, 0) is None


def test_every_deadline_waits_on_a_different_status():
    assert len({d.waiting for d in rules.DEADLINES}) == len(rules.DEADLINES)


# --- reading Stripe objects ------------------------------------------------------------------------

def test_a_value_is_found_along_a_path_through_dicts_and_objects():
    obj = {"parent": SimpleNamespace(details={"subscription": "sub_1"})}
    assert rules.stripe_value(obj, "parent", "details", "subscription") == "sub_1"


@pytest.mark.parametrize("obj", [None, {}, {"a": None}, {"a": {"b": None}}, SimpleNamespace(a=None)], ids=repr)
def test_a_missing_step_gives_the_default(obj):
    assert rules.stripe_value(obj, "a", "b", default="fallback") == "fallback"


def test_a_false_value_is_a_value_not_a_missing_one():
    assert rules.stripe_value({"cancel_at_period_end": False}, "cancel_at_period_end", default=True) is False


def test_a_stripe_subscription_is_read_with_its_price_and_period_end():
    facts = rules.read_stripe_subscription({
        "id": "sub_1", "customer": "cus_1", "status": "active", "cancel_at_period_end": True,
        "items": {"data": [{"price": {"id": "price_1"}, "current_period_end": 1900000000}]}})
    assert (facts.id, facts.customer, facts.status, facts.price_id) == ("sub_1", "cus_1", "active", "price_1")
    assert facts.cancel_at_period_end is True
    assert facts.current_period_end == dt.datetime.fromtimestamp(1900000000, dt.timezone.utc)


def test_the_period_end_is_the_items_a_top_level_one_the_pinned_version_lacks_is_ignored():
    facts = rules.read_stripe_subscription({"current_period_end": 1800000000,
                                            "items": {"data": [{"current_period_end": 1900000000}]}})
    assert facts.current_period_end.year == 2030


def test_a_subscription_without_items_has_no_price_and_no_period_end():
    facts = rules.read_stripe_subscription({"id": "sub_1", "status": "canceled"})
    assert facts.price_id is None and facts.current_period_end is None and facts.cancel_at_period_end is False


@pytest.mark.parametrize("value", [None, 0, ""], ids=repr)
def test_an_absent_timestamp_is_none(value):
    assert rules.timestamp(value) is None


def test_a_timestamp_given_as_text_is_read_as_utc():
    assert rules.timestamp("86400") == dt.datetime(1970, 1, 2, tzinfo=dt.timezone.utc)


def test_the_billing_cycle_is_the_one_whose_price_stripe_names():
    plan = {"stripe_price_monthly": "price_m", "stripe_price_yearly": "price_y"}
    assert rules.billing_cycle_of(plan, "price_y") == "yearly"
    assert rules.billing_cycle_of(plan, "price_m") == "monthly"


# --- checkouts -----------------------------------------------------------------------------------

@pytest.mark.parametrize("status,paid", [("paid", True), ("no_payment_required", True), ("unpaid", False),
                                         (None, False)])
def test_a_checkout_is_paid_only_when_stripe_says_the_money_is_there(status, paid):
    assert rules.checkout_paid(status) is paid


@pytest.mark.parametrize("session,payment,lost", [
    ("complete", "unpaid", True), ("complete", "paid", False), ("complete", "no_payment_required", False),
    ("open", "unpaid", False), ("expired", "unpaid", False),
])
def test_only_a_completed_unpaid_checkout_has_lost_its_payment(session, payment, lost):
    assert rules.checkout_lost_its_payment(session, payment) is lost


def test_a_card_covers_a_renewal_through_the_last_day_of_its_expiry_month():
    utc = dt.timezone.utc
    assert not rules.card_lapses_before(5, 2027, dt.datetime(2027, 5, 31, 23, 59, tzinfo=utc))
    assert rules.card_lapses_before(5, 2027, dt.datetime(2027, 6, 1, tzinfo=utc))
    assert rules.card_lapses_before(12, 2026, dt.datetime(2027, 1, 1, tzinfo=utc))
    assert not rules.card_lapses_before(12, 2026, dt.datetime(2026, 12, 31, tzinfo=utc))


@pytest.mark.parametrize("obj, lane", [
    ({"object": "customer", "id": "cus_1"}, "cus_1"),
    ({"object": "subscription", "id": "sub_1", "customer": "cus_2"}, "cus_2"),
    ({"object": "invoice", "id": "in_1", "customer": {"id": "cus_3", "object": "customer"}}, "cus_3"),
    ({"object": "checkout.session", "id": "cs_1", "customer": None}, "cs_1"),
    ({"object": "price", "id": "price_1"}, "price_1"),
    ({}, None),
])
def test_an_event_is_processed_in_the_lane_of_the_customer_it_is_about_or_else_of_its_object(obj, lane):
    assert rules.event_lane({"id": "evt_1", "type": "x", "data": {"object": obj}}) == lane
