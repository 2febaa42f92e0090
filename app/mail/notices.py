"""Customer notices about what is going to happen (issue 26): a failed renewal payment and its
reminders, the warning before a canceled account is removed, a domain's expiry. Each is sent once
by its dedupe key (app.mail.send_once), which names the occurrence and the step.

Each re-reads the subscription when it sends and sends nothing once it no longer applies (paid,
canceled, taken back): a notice queued or due before a payment never goes after it.
"""
from __future__ import annotations

import datetime as dt
import logging

from app.mail import _addressee, _common_context, send_once
from app.mail.render import render
from app.settings import Settings

log = logging.getLogger("mpanel.mail")


def _epoch(moment: dt.datetime) -> int:
    return int(moment.timestamp())


def _amount(cents: int | None, currency: str | None) -> str:
    if cents is None:
        return "the renewal amount"
    return f"{cents / 100:,.2f} {(currency or 'usd').upper()}"


def _dunning_context(settings: Settings, row: dict) -> dict:
    failed = row["failed_payment"] or {}
    context = _common_context(settings, row)
    context.update(amount=_amount(failed.get("amount_cents"), failed.get("currency")),
                   reason=failed.get("reason") or "your bank declined the payment",
                   # Stripe's hosted invoice page pays the invoice with the card on file or another one;
                   # without it, the panel (whose billing page opens the Customer Portal).
                   pay_url=failed.get("pay_url") or context["panel_url"],
                   # The end of the grace period: the deadline lifecycle_rules.deadline_passed applies.
                   suspend_on=row["past_due_since"] + dt.timedelta(days=settings.SUSPEND_AFTER_DAYS))
    return context


def payment_failed_key(subscription_id: int, past_due_since: dt.datetime) -> str:
    return f"payment-failed:{subscription_id}:{_epoch(past_due_since)}"


def send_payment_failed(settings: Settings, subscription_id: int) -> bool:
    """The notice at once after a failed renewal payment; False when already sent or no longer owed."""
    row = _addressee(settings, subscription_id)
    if row["status"] != "past_due" or row["past_due_since"] is None:
        log.info("subscription %s is %s: no payment-failed notice", subscription_id, row["status"])
        return False
    return send_once(settings, kind="payment_failed", subscription_id=subscription_id, recipient=row["email"],
                     rendered=render("payment_failed", **_dunning_context(settings, row)),
                     dedupe_key=payment_failed_key(subscription_id, row["past_due_since"]))


def send_payment_reminder(settings: Settings, subscription_id: int, step: str, final: bool,
                          past_due_since: dt.datetime) -> bool:
    """One reminder of the dunning schedule, for the past-due occurrence that began `past_due_since`."""
    row = _addressee(settings, subscription_id)
    if row["status"] != "past_due" or row["past_due_since"] != past_due_since:
        return False  # paid, canceled or suspended meanwhile
    context = _dunning_context(settings, row)
    context.update(final=final)
    return send_once(settings, kind="payment_reminder", subscription_id=subscription_id, recipient=row["email"],
                     rendered=render("payment_reminder", **context),
                     dedupe_key=f"payment-reminder:{subscription_id}:{_epoch(past_due_since)}:{step}")


def send_termination_warning(settings: Settings, subscription_id: int, terminate_after: dt.datetime) -> bool:
    """The warning before a canceled order's account and data are removed, once per removal date."""
    row = _addressee(settings, subscription_id)
    if row["status"] != "canceled" or row["terminate_after"] != terminate_after:
        return False  # taken back, or terminated already
    return send_once(settings, kind="termination_warning", subscription_id=subscription_id, recipient=row["email"],
                     rendered=render("termination_warning", **_common_context(settings, row),
                                     terminate_after=terminate_after),
                     dedupe_key=f"termination-warning:{subscription_id}:{_epoch(terminate_after)}")


def domain_expiry_key(domain: dict, step: str) -> str:
    """One reminder per registration, expiry date and step, whichever reason it gives."""
    return f"domain-expiry:{domain['domain_id']}:{domain['expires_at']:%Y-%m-%d}:{step}"


def send_domain_expiry(settings: Settings, domain: dict, step: str, card: str | None = None) -> bool:
    """A registration's expiry reminder, once per expiry date and step: auto-renew is off, or (with
    `card`, the card on file as the customer knows it) the card expires before the renewal."""
    row = _addressee(settings, domain["subscription_id"])
    context = _common_context(settings, row)
    context.update(domain=domain["name"], expires_at=domain["expires_at"], card=card,
                   billing_url=f"{settings.APP_URL.rstrip('/')}/sites/{domain['subscription_id']}/billing")
    return send_once(settings, kind="domain_expiry", subscription_id=domain["subscription_id"],
                     recipient=row["email"], rendered=render("domain_expiry", **context),
                     dedupe_key=domain_expiry_key(domain, step))
