"""The customer's own account: password change, forgot password, email change, sessions.

One-time links carry a random token (32 bytes, URL-safe). Only its SHA-256 is kept to find
it again; the mail job gets the row id and unseals the token (Fernet) to write the email,
then drops it, so the token is never in a job's arguments, a log line or a stored URL.
A link works once, until it expires, and a newer link of the same kind retires the older.

Sessions are signed cookies, so they cannot be deleted server-side: each carries the user's
session generation, checked on every panel request; logout, a password change or reset and
an email change bump it, so a copied cookie dies with the session it was copied from.
A password change or reset also retires pending email-change links: whoever is evicted by
it cannot confirm an address of theirs afterwards.

A confirmed email change tells the address it replaced, with a one-time link that undoes it
(`undo_email_change`): for 7 days, whoever reads the old inbox (the owner, when the change was
an intruder's) gets the old address back, every session ends and every pending link dies, and
is asked to choose a new password (the intruder knew the current one).
"""
from __future__ import annotations

import hashlib
import logging
import re
import secrets
import unicodedata
from urllib.parse import urlsplit

from app import db, mail
from app.db.customers import account_tokens as tokens
from app.db.customers import customers
from app.jobs.defer import request_account_email, request_email_changed_notice
from app.mail.render import render
from app.services.common import throttle
from app.services.common.crypto import decrypt, encrypt
from app.services.common.passwords import hash_password, password_matches
from app.services.common.refusals import Refused
from app.settings import Settings

log = logging.getLogger("mpanel.account")

RESET_TTL_SECONDS = 3600             # a forgotten-password link works for an hour
INVITATION_TTL_SECONDS = 14 * 24 * 3600  # an imported customer's first link: two weeks to set a password
# At most this many reset emails per account an hour: the form is open to anyone, and must not
# become a way to flood a customer's inbox. Further requests get the same answer and no email.
RESETS_PER_HOUR = 3
EMAIL_CHANGE_TTL_SECONDS = 24 * 3600  # a confirmation in the new inbox may wait a day
# The same for confirmation emails, which a signed-in user may send to any address: not a way
# to mail strangers. Unlike resets, the user is told (429) when to try again.
EMAIL_CHANGES_PER_HOUR = 3
# The owner of the old address may be away for a while; a week is what large platforms give.
EMAIL_UNDO_TTL_SECONDS = 7 * 24 * 3600
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{43}$")  # secrets.token_urlsafe(32)
_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")


class AccountRefused(Refused):
    """Names the field that is wrong and says why (shown to the customer); nothing was changed."""

    def __init__(self, field: str, message: str, status: int = 422, retry_after: int | None = None):
        super().__init__(field, message, status=status)
        self.retry_after = retry_after


# --- the token rules (pure) ---------------------------------------------------------------

def new_token() -> tuple[str, bytes]:
    """A fresh link token and the hash that is stored in its place."""
    token = secrets.token_urlsafe(32)
    return token, token_hash(token)


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def well_formed(token: str) -> bool:
    """Anything else is refused without a database lookup."""
    return bool(_TOKEN.match(token or ""))


def password_problem(password: str | None) -> str | None:
    """The checkout's rule: 10 to 128 printable characters."""
    if not password:
        return "is required"
    if not 10 <= len(password) <= 128:
        return "must be 10 to 128 characters"
    if any(unicodedata.category(ch) == "Cc" for ch in password):
        return "must not contain control characters"
    return None


def email_problem(email: str | None) -> str | None:
    if not email:
        return "is required"
    if len(email) > 254 or not _EMAIL.match(email):
        return "must be an email address"
    return None


def _checked_password(field: str, password: str | None) -> str:
    problem = password_problem(password)
    if problem:
        raise AccountRefused(field, f"The new password {problem}.")
    return password


# --- sessions -----------------------------------------------------------------------------

def session_generation(settings: Settings, user_id: int) -> int | None:
    """What a live session of this user must carry (None: the user cannot log in)."""
    with db.transaction(settings.DATABASE_URL) as conn:
        return tokens.session_generation(conn, user_id)


def end_sessions(settings: Settings, user_id: int) -> None:
    """Logout: this session and every copy of its cookie (and the user's other sessions) end."""
    with db.transaction(settings.DATABASE_URL) as conn:
        tokens.end_sessions(conn, user_id)


# --- password change ------------------------------------------------------------------------

def change_password(settings: Settings, user_id: int, current: str | None, new: str | None) -> int:
    """Set a new password when the current one is right; every other session ends. Returns the
    new session generation, for the session that asked."""
    _checked_password("new_password", new)
    with db.transaction(settings.DATABASE_URL) as conn:
        stored = tokens.password_hash_of(conn, user_id)
        if stored is None or not password_matches(stored, current or ""):
            raise AccountRefused("current_password", "The current password is not right.")
        generation = tokens.set_password(conn, user_id, hash_password(new))
        tokens.retire_unused(conn, user_id, "email_change")
    log.info("user %s changed their password; other sessions signed out", user_id)
    return generation


# --- forgotten password -----------------------------------------------------------------------

def request_password_reset(settings: Settings, email: str | None, address: str) -> None:
    """Email a reset link when an active account uses this address; the caller answers the
    same either way, so the form tells nobody who is a customer. Every request counts against
    the throttle (for this email and the client's `address`): throttle.TooManyAttempts beyond."""
    email = (email or "").strip()
    if email_problem(email):
        raise AccountRefused("email", f"The email {email_problem(email)}.")
    with db.transaction(settings.DATABASE_URL) as conn:
        throttle.admit(conn, "password_reset", email, address)
    with db.transaction(settings.DATABASE_URL) as conn:
        user = customers.user_by_email(conn, email)
        if user is None or user["status"] != "active":
            return  # no hashing on either path: the answer takes a few milliseconds both ways
        if tokens.issued_lately(conn, user["id"], "password_reset", 3600) >= RESETS_PER_HOUR:
            return
        _issue(conn, settings, user["id"], "password_reset", email, RESET_TTL_SECONDS)


def invite(conn, settings: Settings, user_id: int, email: str) -> int:
    """An imported customer's invitation: the set-a-password link of a forgotten password (the same
    token, page and email), valid longer, in the caller's transaction."""
    return _issue(conn, settings, user_id, "password_reset", email, INVITATION_TTL_SECONDS)


def reset_link_usable(settings: Settings, token: str) -> bool:
    if not well_formed(token):
        return False
    with db.transaction(settings.DATABASE_URL) as conn:
        row = tokens.lock_by_hash(conn, token_hash(token))
    return bool(row and row["usable"] and row["purpose"] == "password_reset")


def reset_password(settings: Settings, token: str, new: str | None) -> int:
    """Set the password from an emailed link: once, before it expires; every session ends.
    The user whose password it was."""
    _checked_password("new_password", new)
    with db.transaction(settings.DATABASE_URL) as conn:
        row = _usable(conn, token, "password_reset")
        tokens.mark_used(conn, row["id"])
        tokens.set_password(conn, row["user_id"], hash_password(new))
        tokens.retire_unused(conn, row["user_id"], "email_change")
    log.info("user %s set a new password from a reset link", row["user_id"])
    return row["user_id"]


# --- email change -------------------------------------------------------------------------------

def request_email_change(settings: Settings, user_id: int, current: str | None, new_email: str | None) -> str:
    """Send a confirmation link to the new address; nothing changes until it is opened."""
    new_email = (new_email or "").strip()
    if email_problem(new_email):
        raise AccountRefused("new_email", f"The new email {email_problem(new_email)}.")
    with db.transaction(settings.DATABASE_URL) as conn:
        stored = tokens.password_hash_of(conn, user_id)
        if stored is None or not password_matches(stored, current or ""):
            raise AccountRefused("current_password", "The current password is not right.")
        if customers.email_taken(conn, new_email):
            raise AccountRefused("new_email", "That email is already used by an account.")
        wait = tokens.wait_to_issue(conn, user_id, "email_change", 3600, EMAIL_CHANGES_PER_HOUR)
        if wait:
            raise AccountRefused("new_email", f"At most {EMAIL_CHANGES_PER_HOUR} confirmation emails an hour: "
                                 f"try again in {throttle.wait_words(wait)}.", 429, retry_after=wait)
        _issue(conn, settings, user_id, "email_change", new_email, EMAIL_CHANGE_TTL_SECONDS)
    return new_email


def confirm_email_change(settings: Settings, token: str) -> str:
    """The new address is the login from now on; every session ends (log in with it), and the
    address it replaced is told, with a way to take the account back."""
    with db.transaction(settings.DATABASE_URL) as conn:
        row = _usable(conn, token, "email_change")
        if customers.email_taken(conn, row["recipient"]):
            raise AccountRefused("token", "That email is now used by another account.", 409)
        tokens.mark_used(conn, row["id"])
        previous = tokens.set_email(conn, row["user_id"], row["recipient"])
        tokens.keep_previous_email(conn, row["id"], previous)
        _issue(conn, settings, row["user_id"], "email_change_undo", previous, EMAIL_UNDO_TTL_SECONDS,
               undoes=row["id"], email=False)
        request_email_changed_notice(conn, row["id"])
    log.info("user %s confirmed a new email address; sessions ended, the old address told", row["user_id"])
    return row["recipient"]


def email_change_usable(settings: Settings, token: str) -> str | None:
    """The address a confirmation link would set, while it still works."""
    if not well_formed(token):
        return None
    with db.transaction(settings.DATABASE_URL) as conn:
        row = tokens.lock_by_hash(conn, token_hash(token))
    return row["recipient"] if row and row["usable"] and row["purpose"] == "email_change" else None


def email_change_undo_usable(settings: Settings, token: str) -> str | None:
    """The address an undo link would give back, while it still works."""
    if not well_formed(token):
        return None
    with db.transaction(settings.DATABASE_URL) as conn:
        row = tokens.lock_by_hash(conn, token_hash(token))
    return row["recipient"] if row and row["usable"] and row["purpose"] == "email_change_undo" else None


def undo_email_change(settings: Settings, token: str) -> str:
    """The notice's link: the replaced address is the login again, once, within 7 days. Every
    session ends and every pending reset or email-change link dies, so an intruder who changed
    the address keeps nothing that works. Returns the address given back."""
    with db.transaction(settings.DATABASE_URL) as conn:
        row = _usable(conn, token, "email_change_undo")
        if customers.email_taken(conn, row["recipient"], except_user=row["user_id"]):
            raise AccountRefused("token", "That email is now used by another account: write to support from it "
                                          "and we will give your account back.", 409)
        tokens.mark_used(conn, row["id"])
        tokens.set_email(conn, row["user_id"], row["recipient"])  # also ends every session
        tokens.retire_after_undo(conn, row["user_id"], row["undoes"])
    log.info("user %s undid an email change from the notice's link; sessions ended", row["user_id"])
    return row["recipient"]


# --- the links' emails ----------------------------------------------------------------------------

def _issue(conn, settings: Settings, user_id: int, purpose: str, recipient: str, ttl: int, *,
           undoes: int | None = None, email: bool = True) -> int:
    """A new link of this kind (the earlier unused ones of the kind retired), and with `email`
    its own email requested; an undo link instead goes out inside the change's notice, and
    does not retire the undo links of earlier changes (each restores the address it replaced)."""
    token, digest = new_token()
    if undoes is None:
        tokens.retire_unused(conn, user_id, purpose)
    token_id = tokens.insert(conn, user_id=user_id, purpose=purpose, token_hash=digest,
                             token_sealed=encrypt(settings, token), recipient=recipient, ttl_seconds=ttl,
                             undoes=undoes)
    if email:
        request_account_email(conn, token_id)
    return token_id


def _usable(conn, token: str, purpose: str) -> dict:
    row = tokens.lock_by_hash(conn, token_hash(token)) if well_formed(token) else None
    if row is None or not row["usable"] or row["purpose"] != purpose:
        raise AccountRefused("token", "This link has expired or was already used: ask for a new one.", 410)
    return row


LINK_PATHS = {"password_reset": "/reset/", "email_change": "/account/email/"}
# The undo link has no email of its own: it goes out inside the email-changed notice.
UNDO_PATH = "/account/email/undo/"


def _email_context(settings: Settings, first_name: str) -> dict:
    app_url = settings.APP_URL.rstrip("/")
    marketing = settings.MARKETING_SITE_URL.rstrip("/")
    host = (urlsplit(marketing).hostname or "localhost").removeprefix("www.")
    return {"brand": "mpanel", "first_name": first_name, "panel_url": f"{app_url}/login", "marketing_url": marketing,
            "marketing_host": host, "domain": host, "support_email": f"support@{host}"}


def send_email_changed_notice(settings: Settings, token_id: int) -> bool:
    """The mail job: tell the replaced address that the login email changed, once, with the
    one-time link that undoes the change (a reset sent to the new address is no help to the
    owner); the notice also names support. The undo token is unsealed only to write the email,
    then dropped (a change confirmed before undo links existed gets the notice without one)."""
    with db.transaction(settings.DATABASE_URL) as conn:
        row = tokens.email_change_notice(conn, token_id)
        undo = tokens.undo_link_of(conn, token_id)
    if row is None:
        return False
    context = {**_email_context(settings, row["first_name"]), "email": row["previous_email"],
               "new_email": row["recipient"], "changed_at": row["used_at"],
               "secure_link": settings.APP_URL.rstrip("/") + "/forgot", "undo_link": None}
    if undo is not None and undo["token_sealed"] is not None:
        context["undo_link"] = (settings.APP_URL.rstrip("/") + UNDO_PATH
                                + decrypt(settings, bytes(undo["token_sealed"])))
        context["undo_expires_at"] = undo["expires_at"]
    sent = mail.send_once(settings, kind="email_changed", subscription_id=None, recipient=row["previous_email"],
                          rendered=render("account_email_changed", **context),
                          dedupe_key=f"email-changed:{token_id}")
    if undo is not None:
        with db.transaction(settings.DATABASE_URL) as conn:
            tokens.forget_sealed(conn, undo["id"])
    return sent


def send_link_email(settings: Settings, token_id: int) -> bool:
    """The mail job: write the link into the email, once; the sealed token is dropped after."""
    with db.transaction(settings.DATABASE_URL) as conn:
        row = tokens.to_send(conn, token_id)
    if row is None or row["token_sealed"] is None:
        return False  # used, expired, replaced or already sent
    link = settings.APP_URL.rstrip("/") + LINK_PATHS[row["purpose"]] + decrypt(settings, bytes(row["token_sealed"]))
    context = {**_email_context(settings, row["first_name"]), "link": link, "email": row["recipient"],
               "expires_at": row["expires_at"]}
    sent = mail.send_once(settings, kind=row["purpose"], subscription_id=None, recipient=row["recipient"],
                          rendered=render(f"account_{row['purpose']}", **context),
                          dedupe_key=f"account-link:{token_id}")
    with db.transaction(settings.DATABASE_URL) as conn:
        tokens.forget_sealed(conn, token_id)
    return sent
