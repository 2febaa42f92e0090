"""Per-customer limits on actions that spend an upstream's quota: the allowance passes, one more
is a 429 naming the action, parallel requests cannot pass it, and another customer is not affected."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from app import db
from app.services.customers import limits
from tests.factories import make_subscription


def _user(settings) -> int:
    with db.transaction(settings.DATABASE_URL) as conn:
        sub = make_subscription(conn, settings, status="pending_payment")
        return conn.execute("SELECT c.user_id FROM subscriptions s JOIN customers c ON c.id = s.customer_id "
                            "WHERE s.id = %s", (sub,)).fetchone()["user_id"]


def test_three_transfer_codes_a_day_then_a_429_that_says_so(settings):
    user, other = _user(settings), _user(settings)
    for _ in range(limits.LIMITS["transfer_code"].uses):
        limits.spend(settings, user, "transfer_code", "transfer_code")
    with pytest.raises(limits.LimitReached) as refused:
        limits.spend(settings, user, "transfer_code", "transfer_code")
    assert refused.value.status == 429 and refused.value.field == "transfer_code"
    assert "3 transfer-code requests in a day" in refused.value.message
    limits.spend(settings, other, "transfer_code")  # someone else's allowance is their own


def test_parallel_requests_cannot_pass_the_limit(settings):
    user = _user(settings)
    allowed = limits.LIMITS["cpanel_password"].uses
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: limits.allows(settings, user, "cpanel_password"), range(16)))
    assert answers.count(True) == allowed
