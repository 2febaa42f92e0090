"""Notices that fall due with time (issue 26), sent by the hourly `send_due_notices` task:

- payment reminders of a past-due order on the operator's schedule (DUNNING_REMINDER_DAYS),
  ending with the final warning the day before the suspension; the notice at once after the
  failure is sent from the Stripe event (app/services/orders/lifecycle.py);
- the warning before a canceled order is removed (TERMINATION_WARNING_DAYS), and the operators'
  list of the removals due within a day, one email a day;
- the expiry reminders of registrations held through us (DOMAIN_EXPIRY_REMINDER_DAYS), from the
  expiry the nightly registrar sync records: with auto-renew off, or with it on when the card on
  file (Stripe's default payment method of the order) expires before the domain does, so the
  renewal would not be paid; the latter is also recorded for the dashboard's notice. Stripe is
  asked only when such a reminder is due and unsent, or to clear a notice once the card changed.

What is due is decided by rules (app/services/orders/lifecycle_rules.py) on the database's
clock, or `now` when a test passes one; each notice is sent once by its dedupe key, so running
this twice, or an hour late, sends nothing twice. One notice that cannot be sent does not stop
the others: it is tried again next hour.
"""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from app import db
from app.db import emails
from app.db import notices as rows
from app.db.hosting.subscriptions import database_now
from app.mail import notices as mail
from app.mail.ops import send_removals_today
from app.services.orders import billing
from app.services.orders import lifecycle_rules as rules
from app.settings import Settings

log = logging.getLogger("mpanel.notices")


@dataclass
class NoticesSent:
    payment_reminders: int = 0
    termination_warnings: int = 0
    domain_expiry_reminders: int = 0  # auto-renew off, or the card on file will not cover the renewal
    removal_lists: int = 0


def send_due_notices(settings: Settings, now: dt.datetime | None = None) -> NoticesSent:
    with db.transaction(settings.DATABASE_URL) as conn:
        now = now or database_now(conn)
        past_due = rows.past_due(conn)
        warn_until = now + dt.timedelta(days=settings.TERMINATION_WARNING_DAYS)
        retained = rows.retained_until_before(conn, max(warn_until, now + dt.timedelta(days=1)))
        longest = max(rules.parse_days(settings.DOMAIN_EXPIRY_REMINDER_DAYS), default=0)
        expiring = rows.expiring_without_auto_renew(conn, now + dt.timedelta(days=longest))
        renewed = rows.expiring_with_auto_renew(conn, now + dt.timedelta(days=longest))
    sent = NoticesSent()
    for sub in past_due:
        reminder = rules.payment_reminder_due(sub["past_due_since"], now, settings.DUNNING_REMINDER_DAYS,
                                              settings.SUSPEND_AFTER_DAYS)
        if reminder:
            sent.payment_reminders += _send(mail.send_payment_reminder, settings, sub["id"], reminder.step,
                                            reminder.final, sub["past_due_since"])
    for sub in retained:
        if rules.termination_warning_due(sub["terminate_after"], now, settings.TERMINATION_WARNING_DAYS):
            sent.termination_warnings += _send(mail.send_termination_warning, settings, sub["id"],
                                               sub["terminate_after"])
    for domain in expiring:
        reminder = rules.domain_expiry_reminder_due(domain["expires_at"], now, settings.DOMAIN_EXPIRY_REMINDER_DAYS)
        if reminder:
            sent.domain_expiry_reminders += _send(mail.send_domain_expiry, settings, domain, reminder.step)
    for domain in renewed:
        sent.domain_expiry_reminders += _card_will_not_cover(settings, domain, now)
    removals = [r for r in retained if now <= r["terminate_after"] < now + dt.timedelta(days=1)]
    if removals:
        sent.removal_lists += _send(send_removals_today, settings, f"{now:%Y-%m-%d}", removals)
    log.info("due notices: %s", sent)
    return sent


def _card_will_not_cover(settings: Settings, domain: dict, now: dt.datetime) -> int:
    """A registration renewed automatically: remind (and record for the dashboard) when the card on
    file expires before the domain does; clear the record once a card that lasts is on file."""
    reminder = rules.domain_expiry_reminder_due(domain["expires_at"], now, settings.DOMAIN_EXPIRY_REMINDER_DAYS)
    if reminder:
        with db.transaction(settings.DATABASE_URL) as conn:
            if emails.is_recorded(conn, mail.domain_expiry_key(domain, reminder.step)):
                reminder = None
    if reminder is None and domain["card_lapses_before_renewal"] is None:
        return 0
    try:
        card = billing.card_on_file(settings, domain["stripe_subscription_id"])
    except Exception:  # Stripe unreachable: looked at again next hour
        log.exception("could not read the card on file of subscription %s", domain["subscription_id"])
        return 0
    lapses = card is not None and rules.card_lapses_before(card.exp_month, card.exp_year, domain["expires_at"])
    with db.transaction(settings.DATABASE_URL) as conn:
        rows.record_card_lapses(conn, domain["domain_id"], str(card) if lapses else None)
    if not (lapses and reminder):
        return 0
    return _send(mail.send_domain_expiry, settings, domain, reminder.step, str(card))


def _send(send, settings: Settings, *args) -> int:
    try:
        return int(bool(send(settings, *args)))
    except Exception:  # one notice must not keep the others; it is due again next hour
        log.exception("could not send %s %s", send.__name__, args[:1])
        return 0
