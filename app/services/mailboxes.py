"""Mailboxes a customer adds or removes in the panel: desired state, converged by the worker.

The `admin@` mailbox comes with every plan; others are rows in `mailboxes`, within the
plan's allowance (`plans.mailbox_count`, admin included). The password the customer
chooses is kept encrypted only until a converge has set it in mail-core.
"""
from __future__ import annotations

import re

import psycopg

from app import db
from app.services.crypto import encrypt
from app.settings import Settings
from providers.mailbox import PASSWORD_LENGTH, address_problem

# Stricter than the provider's rule (providers.mailbox.address_problem, checked too): a name a
# person types starts and ends with a letter or digit.
LOCAL_PART = re.compile(r"^[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?$")
RESERVED = {"admin", "postmaster", "abuse", "hostmaster", "webmaster", "mailer-daemon"}


class MailboxRefused(Exception):
    """The request names a field and says what is wrong with it (shown to the customer)."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


def _site(conn: psycopg.Connection, user_id: int, subscription_id: int) -> dict:
    site = conn.execute(
        """SELECT s.id, d.name AS domain, p.mailbox_count, p.mailbox_quota_mb
             FROM subscriptions s JOIN customers c ON c.id = s.customer_id JOIN plans p ON p.id = s.plan_id
             JOIN domains d ON d.subscription_id = s.id AND d.status <> 'released'
             JOIN websites w ON w.subscription_id = s.id AND w.status = 'active'
            WHERE s.id = %s AND c.user_id = %s AND s.status = 'active'
            FOR UPDATE OF s""", (subscription_id, user_id)).fetchone()
    if site is None:
        raise MailboxRefused("site", "no active site of yours with that number")
    return site


def add_mailbox(settings: Settings, user_id: int, subscription_id: int, local_part: str, password: str) -> str:
    """Record a new mailbox on one of the customer's active sites; returns its address.
    The caller asks for a converge once this has committed."""
    local_part = (local_part or "").strip().lower()
    if not LOCAL_PART.match(local_part):
        raise MailboxRefused("local_part", "use letters, digits, dots, dashes or underscores (up to 64), "
                                           "starting and ending with a letter or digit")
    if local_part in RESERVED:
        raise MailboxRefused("local_part", f"{local_part}@ is reserved")
    longest = PASSWORD_LENGTH[1]  # and at least 12, more than mail-core's minimum
    if not 12 <= len(password or "") <= longest or any(ord(c) < 32 or ord(c) == 127 for c in password):
        raise MailboxRefused("password", f"choose a password of 12 to {longest} characters")
    with db.transaction(settings.DATABASE_URL) as conn:
        site = _site(conn, user_id, subscription_id)
        if address_problem(f"{local_part}@{site['domain']}"):  # what the provider would refuse at converge
            raise MailboxRefused("local_part", "use letters, digits, single dots, dashes or underscores")
        used = 1 + conn.execute("SELECT count(*) AS n FROM mailboxes WHERE subscription_id = %s",
                                (subscription_id,)).fetchone()["n"]
        if used >= site["mailbox_count"]:
            raise MailboxRefused("local_part", f"your plan includes {site['mailbox_count']} mailboxes, "
                                               f"all in use: remove one or upgrade")
        try:
            with conn.transaction():
                conn.execute("INSERT INTO mailboxes (subscription_id, local_part, quota_mb, password_encrypted) "
                             "VALUES (%s, %s, %s, %s)",
                             (subscription_id, local_part, site["mailbox_quota_mb"], encrypt(settings, password)))
        except psycopg.errors.UniqueViolation as exc:
            raise MailboxRefused("local_part", f"{local_part}@{site['domain']} already exists") from exc
    return f"{local_part}@{site['domain']}"


def remove_mailbox(settings: Settings, user_id: int, subscription_id: int, local_part: str) -> str:
    """Forget a mailbox the customer added (its mail goes with it on the next converge)."""
    with db.transaction(settings.DATABASE_URL) as conn:
        site = _site(conn, user_id, subscription_id)
        if conn.execute("DELETE FROM mailboxes WHERE subscription_id = %s AND local_part = %s RETURNING id",
                        (subscription_id, local_part)).fetchone() is None:
            raise MailboxRefused("local_part", "no such mailbox (admin@ stays with every plan)")
    return f"{local_part}@{site['domain']}"


def passwords_applied(conn: psycopg.Connection, applied: list[tuple[int, bytes]]) -> None:
    """After a converge set them in mail-core, the chosen passwords are no longer kept here:
    each (row id, ciphertext) the converge used, so a mailbox removed and added again with
    another password meanwhile keeps its new one until the next converge."""
    for row_id, token in applied:
        conn.execute("UPDATE mailboxes SET password_encrypted = NULL WHERE id = %s AND password_encrypted = %s",
                     (row_id, token))
