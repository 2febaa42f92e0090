"""The open "forgot password" form cannot flood a customer's inbox: at most RESETS_PER_HOUR
links an hour per account; later requests get the same (silent) answer and no link (the login
throttle, which also counts these requests, allows this many from one address)."""
from __future__ import annotations

from app import db
from app.services.customers import customer_account
from tests.factories import make_subscription


def test_resets_beyond_the_hourly_allowance_issue_no_link(settings, db_conn):
    # The address's count from an earlier run of this test on the same database would refuse the first.
    db_conn.execute("DELETE FROM login_throttle WHERE key LIKE %s", ("%192.0.2.10",))
    with db.transaction(settings.DATABASE_URL) as conn:
        sub = make_subscription(conn, settings, status="pending_payment")  # unpaid: nothing converges
        email = conn.execute("SELECT u.email FROM subscriptions s JOIN customers c ON c.id = s.customer_id "
                             "JOIN users u ON u.id = c.user_id WHERE s.id = %s", (sub,)).fetchone()["email"]
    for _ in range(customer_account.RESETS_PER_HOUR + 2):
        customer_account.request_password_reset(settings, email, "192.0.2.10")
    issued = db_conn.execute(
        "SELECT count(*) AS n FROM account_tokens t JOIN users u ON u.id = t.user_id "
        "WHERE u.email = %s AND t.purpose = 'password_reset'", (email,)).fetchone()["n"]
    assert issued == customer_account.RESETS_PER_HOUR
