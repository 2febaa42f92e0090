"""Mailboxes a customer adds or removes in the panel: desired state, converged by the worker.

The `admin@` mailbox comes with every plan; others are rows in `mailboxes`, within the
plan's allowance (`plans.mailbox_count`, admin included). The password the customer
chooses is kept encrypted only until a converge has set it in mail-core.
"""
from __future__ import annotations

import re

import psycopg

from app import db
from app.db.hosting import mailboxes
from app.jobs.defer import request_converge
from app.services.common.crypto import encrypt
from app.services.common.refusals import Refused
from app.services.customers.sites import NotYourSite, site_of
from app.settings import Settings
from providers.clients.mailcore import PASSWORD_LENGTH, address_problem

# Stricter than the provider's rule (providers.clients.mailcore.address_problem, checked too): a name a
# person types starts and ends with a letter or digit.
LOCAL_PART = re.compile(r"^[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?$")
RESERVED = {"admin", "postmaster", "abuse", "hostmaster", "webmaster", "mailer-daemon"}


class MailboxRefused(Refused):
    """The request names a field and says what is wrong with it (shown to the customer)."""


def _site(conn: psycopg.Connection, user_id: int, subscription_id: int) -> dict:
    """The customer's active, built site, its subscription row locked (mailboxes change with it)."""
    site_of(conn, user_id, subscription_id, active=True, lock=True)
    site = mailboxes.active_site(conn, subscription_id)
    if site is None:  # theirs, but not built yet: the same answer
        raise NotYourSite(active=True)
    return site


def checked_local_part(local_part: str | None) -> str:
    """The name before the @ as it will be stored (trimmed, lower case), or MailboxRefused."""
    local_part = (local_part or "").strip().lower()
    if not LOCAL_PART.match(local_part):
        raise MailboxRefused("local_part", "use letters, digits, dots, dashes or underscores (up to 64), "
                                           "starting and ending with a letter or digit")
    if local_part in RESERVED:
        raise MailboxRefused("local_part", f"{local_part}@ is reserved")
    return local_part


def check_password(password: str | None) -> None:
    longest = PASSWORD_LENGTH[1]  # and at least 12, more than mail-core's minimum
    if not 12 <= len(password or "") <= longest or any(ord(c) < 32 or ord(c) == 127 for c in password):
        raise MailboxRefused("password", f"choose a password of 12 to {longest} characters")


def add_mailbox(settings: Settings, user_id: int, subscription_id: int, local_part: str, password: str) -> str:
    """Record a new mailbox on one of the customer's active sites and request the converge that
    creates it, in one transaction; returns its address."""
    local_part = checked_local_part(local_part)
    check_password(password)
    with db.transaction(settings.DATABASE_URL) as conn:
        site = _site(conn, user_id, subscription_id)
        if address_problem(f"{local_part}@{site['domain']}"):  # what the provider would refuse at converge
            raise MailboxRefused("local_part", "use letters, digits, single dots, dashes or underscores")
        used = 1 + mailboxes.count(conn, subscription_id)
        if used >= site["mailbox_count"]:
            raise MailboxRefused("local_part", f"your plan includes {site['mailbox_count']} mailboxes, "
                                               f"all in use: remove one or upgrade")
        try:
            mailboxes.insert(conn, subscription_id, local_part, site["mailbox_quota_mb"], encrypt(settings, password))
        except psycopg.errors.UniqueViolation as exc:
            raise MailboxRefused("local_part", f"{local_part}@{site['domain']} already exists") from exc
        request_converge(conn, subscription_id)
    return f"{local_part}@{site['domain']}"


def remove_mailbox(settings: Settings, user_id: int, subscription_id: int, local_part: str) -> str:
    """Forget a mailbox the customer added and request the converge that deletes it (with its
    mail), in one transaction."""
    with db.transaction(settings.DATABASE_URL) as conn:
        site = _site(conn, user_id, subscription_id)
        if not mailboxes.delete(conn, subscription_id, local_part):
            raise MailboxRefused("local_part", "no such mailbox (admin@ stays with every plan)", status=404)
        request_converge(conn, subscription_id)
    return f"{local_part}@{site['domain']}"


def passwords_applied(conn: psycopg.Connection, applied: list[tuple[int, bytes]]) -> None:
    """After a converge set them in mail-core, the chosen passwords are no longer kept here:
    each (row id, ciphertext) the converge used, so a mailbox removed and added again with
    another password meanwhile keeps its new one until the next converge."""
    for row_id, token in applied:
        mailboxes.forget_password(conn, row_id, token)
