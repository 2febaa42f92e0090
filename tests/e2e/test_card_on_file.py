"""The card on file will not cover a domain's renewal (issue 26 item 3), in a real browser: an
order paid on the Stripe stand-in with a card good only to the end of this month, its domain a
registration through us renewing in 60 days; the hourly notices find it (Stripe's card
`exp_month`/`exp_year` on the subscription's default payment method), email the customer once,
and the dashboard says so with the way to the billing page, at a desktop and a phone width.
Screenshots under MPANEL_SCREENSHOTS (default /tmp/mpanel-screenshots)."""
from __future__ import annotations

import dataclasses
import datetime as dt

import psycopg

from app.services.notices import send_due_notices
from tests.e2e.conftest import seed_payload
from tests.e2e.panel_browser import logged_in_page, screenshot


def test_a_card_expiring_before_the_renewal_is_told_by_email_and_on_the_dashboard(mpanel, settings, chromium):
    today = dt.datetime.now(dt.timezone.utc)
    payload = seed_payload()
    body = mpanel.checkout(payload).json()
    mpanel.stripe_control(f"checkout/{body['checkoutSessionId']}/pay",
                          {"card": "4242 4242 4242 4242", "exp_month": today.month, "exp_year": today.year})
    sid = body["subscriptionId"]
    mpanel.wait_until(sid, provisioningStatus="ready")
    with psycopg.connect(settings.DATABASE_URL) as conn:
        mode, expires_at = conn.execute(
            "UPDATE domains d SET mode = 'new_registration', status = 'active', auto_renew = NULL, "
            "expires_at = date_trunc('day', now()) + interval '60 days' FROM domains before "
            "WHERE d.subscription_id = %s AND before.id = d.id RETURNING before.mode, d.expires_at", (sid,)).fetchone()
    try:
        notices = dataclasses.replace(settings, DOMAIN_EXPIRY_REMINDER_DAYS="30,7")
        assert send_due_notices(notices, now=expires_at - dt.timedelta(days=29.5)).domain_expiry_reminders == 1
        email = payload["customer"]["email"]
        [mail] = [m for m in mpanel.mails_to(email) if "expires on" in m["Subject"]]
        card = f"Visa ending 4242, expires {today.month:02d}/{today.year}"
        assert card in mail.get_body(("plain",)).get_content()

        page = logged_in_page(chromium, mpanel, email, payload["account"]["password"])
        notice = page.inner_text(f"#card-lapses-{sid}")
        assert card in notice and f"renews on {expires_at:%Y-%m-%d}" in notice
        screenshot(page, "card-lapses-dashboard")
        page.set_viewport_size({"width": 390, "height": 844})
        overflow = page.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"the dashboard scrolls sideways at 390 px by {overflow} px"
        screenshot(page, "card-lapses-dashboard-390")
        page.click(f"#card-lapses-{sid} >> text=Update your card")
        page.wait_for_load_state()
        assert page.url.endswith(f"/sites/{sid}/billing") and card in page.inner_text("main")
    finally:
        with psycopg.connect(settings.DATABASE_URL) as conn:
            conn.execute("UPDATE domains SET mode = %s WHERE subscription_id = %s", (mode, sid))
