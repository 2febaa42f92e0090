"""Staff accounts for the operators' console: creation, login (argon2, the login throttle,
optional TOTP), database-backed sessions that can be revoked, and the audit log.

Staff are not customers: their own table, their own login page (/ops/login), their own cookie.
"""
from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

from app import db
from app.db.operators import staff as rows
from app.jobs.defer import request_staff_password_link
from app.services.common import crypto, throttle
from app.services.common.passwords import hash_password, needs_rehash, no_account_hash, password_matches
from app.services.common.refusals import FieldRefused
from app.services.common import totp
from app.services.operators.staff_roles import ROLES
from app.settings import Settings

SESSION_HOURS = 12
SET_PASSWORD_HOURS = 24

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class StaffRefused(FieldRefused, ValueError):
    """Bad input to a staff command, naming the field."""


@dataclass(frozen=True)
class StaffSession:
    staff_id: int
    email: str
    role: str
    csrf: str
    id_hash: str


@dataclass(frozen=True)
class LoginOutcome:
    token: str | None = None        # the session cookie's value when the login succeeded
    error: str | None = None        # what the login page says otherwise
    retry_after: int | None = None  # seconds, when the throttle refused before anything was checked

# One answer for a wrong email, password or code, given after checking all of them: which one
# was wrong is the guesser's to find out, never the login page's to say.
NO_MATCH = "That email, password and code do not match a staff account."


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def add_staff(settings: Settings, email: str, role: str, *, with_link: bool = False,
              email_link: bool = False) -> tuple[int, str]:
    """A new staff account. Returns (id, secret): a generated password shown once, or with
    `with_link` a set-password token for the /ops/set-password link (valid a day, used once).
    With `email_link` too, the link is mailed to the account (queued with the account, sent once)."""
    email = (email or "").strip()
    if not _EMAIL.match(email):
        raise StaffRefused("email", "is not an email address")
    if role not in ROLES:
        raise StaffRefused("role", f"must be one of {', '.join(ROLES)}")
    password = None if with_link else secrets.token_urlsafe(15)
    with db.transaction(settings.DATABASE_URL) as conn:
        staff_id = rows.create(conn, email, role, hash_password(password) if password else None)
        if staff_id is None:
            raise StaffRefused("email", "is already a staff account")
        if with_link:
            token = secrets.token_urlsafe(32)
            rows.add_password_token(conn, staff_id, _hash(token), SET_PASSWORD_HOURS,
                                    crypto.encrypt(settings, token) if email_link else None)
            if email_link:
                request_staff_password_link(conn, _hash(token))
            return staff_id, token
    return staff_id, password


def set_password_with_link(settings: Settings, token: str, password: str) -> bool:
    if len(password or "") < 12:
        raise StaffRefused("password", "must be at least 12 characters")
    with db.transaction(settings.DATABASE_URL) as conn:
        staff_id = rows.use_password_token(conn, _hash(token or ""))
        if staff_id is None:
            return False
        rows.set_password_hash(conn, staff_id, hash_password(password))
        rows.revoke_sessions_of(conn, staff_id)
    return True


def enable_totp(settings: Settings, email: str) -> str:
    """Turn on the second factor for an account; returns the secret (shown once, to scan)."""
    secret = totp.new_secret()
    with db.transaction(settings.DATABASE_URL) as conn:
        account = rows.by_email(conn, email)
        if account is None:
            raise StaffRefused("email", "is not a staff account")
        rows.set_totp_secret(conn, account["id"], crypto.encrypt(settings, secret))
    return secret


def set_status(settings: Settings, email: str, status: str) -> int:
    """Disable (or re-enable) an account; disabling ends its sessions at once. The last active
    owner is never disabled: nobody could manage staff after."""
    if status not in ("active", "disabled"):
        raise StaffRefused("status", "must be active or disabled")
    with db.transaction(settings.DATABASE_URL) as conn:
        account = _account(conn, email)
        _keep_an_owner(conn, account, account["role"], status)
        rows.set_status(conn, account["id"], status)
        return rows.revoke_sessions_of(conn, account["id"]) if status == "disabled" else 0


def set_role(settings: Settings, email: str, role: str) -> str:
    """Change an account's role (its sessions re-read it on the next request); returns the old
    role. The last active owner is never demoted."""
    if role not in ROLES:
        raise StaffRefused("role", f"must be one of {', '.join(ROLES)}")
    with db.transaction(settings.DATABASE_URL) as conn:
        account = _account(conn, email)
        _keep_an_owner(conn, account, role, account["status"])
        rows.set_role(conn, account["id"], role)
        return account["role"]


def reset_totp(settings: Settings, email: str) -> int:
    """Turn the second factor off (a lost phone) and end the account's sessions; the owner
    then turns a new one on (enable_totp) for the person to scan. Returns the sessions ended."""
    with db.transaction(settings.DATABASE_URL) as conn:
        account = _account(conn, email)
        rows.set_totp_secret(conn, account["id"], None)
        return rows.revoke_sessions_of(conn, account["id"])


def _account(conn, email: str) -> dict:
    account = rows.by_email(conn, email or "")
    if account is None:
        raise StaffRefused("email", "is not a staff account")
    return account


def _keep_an_owner(conn, account: dict, role: str, status: str) -> None:
    """Refuse the change that would leave no active owner (the owners are locked while deciding)."""
    if account["role"] != "owner" or account["status"] != "active" or (role == "owner" and status == "active"):
        return
    if rows.active_owners(conn) == [account["id"]]:
        raise StaffRefused("role" if role != "owner" else "status",
                           f"{account['email']} is the last active owner: make another owner first")


def send_password_link(settings: Settings, token_hash: str) -> bool:
    """The mail job: write the set-password link into the email, once; the sealed token is dropped after."""
    from urllib.parse import urlsplit

    from app import mail

    with db.transaction(settings.DATABASE_URL) as conn:
        row = rows.link_to_send(conn, token_hash)
    if row is None or row["token_sealed"] is None:
        return False  # used, expired or already sent
    app_url = settings.APP_URL.rstrip("/")
    host = (urlsplit(settings.MARKETING_SITE_URL).hostname or "localhost").removeprefix("www.")
    link = f"{app_url}/ops/set-password?token={crypto.decrypt(settings, bytes(row['token_sealed']))}"
    context = {"brand": "mpanel", "link": link, "email": row["email"], "role": row["role"],
               "hours": SET_PASSWORD_HOURS, "login_url": f"{app_url}/ops/login", "panel_url": f"{app_url}/ops/login",
               "marketing_url": settings.MARKETING_SITE_URL.rstrip("/"), "marketing_host": host, "domain": host,
               "support_email": f"support@{host}"}
    sent = mail.send_once(settings, kind="staff_set_password", subscription_id=None, recipient=row["email"],
                          rendered=mail.render("staff_set_password", **context),
                          dedupe_key=f"staff-link:{token_hash[:32]}")
    with db.transaction(settings.DATABASE_URL) as conn:
        rows.forget_sealed_link(conn, token_hash)
    return sent


def api_tokens(settings: Settings) -> list[dict]:
    with db.transaction(settings.DATABASE_URL) as conn:
        return rows.tokens_of(conn)


def revoke_api_token(settings: Settings, token_hash: str) -> dict:
    """Revoke a token named by its hash (the token itself was shown once and is kept nowhere)."""
    with db.transaction(settings.DATABASE_URL) as conn:
        revoked = rows.revoke_token(conn, token_hash or "")
    if revoked is None:
        raise StaffRefused("token", "is not a live API token")
    return revoked


def list_staff(settings: Settings) -> list[dict]:
    with db.transaction(settings.DATABASE_URL) as conn:
        return rows.all_staff(conn)


def log_in(settings: Settings, email: str, password: str, code: str, address: str) -> LoginOutcome:
    """Check a staff login: through the login throttle first (counted before the check, see
    app/services/common/throttle.py), then the password and, on an account with TOTP, the
    code, both checked before answering. Every attempt is recorded and audited."""
    email = (email or "").strip()
    try:
        with db.transaction(settings.DATABASE_URL) as conn:
            throttle.admit(conn, "staff_login", email, address)
    except throttle.TooManyAttempts as wait:
        return _refused(settings, email, address, error=wait.message, retry_after=wait.retry_after)
    with db.transaction(settings.DATABASE_URL) as conn:
        account = rows.by_email(conn, email) if email else None
        good_password = password_matches(
            account["password_hash"] if account and account["password_hash"] else no_account_hash(), password or "")
        secret = account["totp_secret"] if account else None
        step = totp.step_of(crypto.decrypt(settings, bytes(secret)), code) if secret else None
        good_code = secret is None or step is not None
        if not (good_password and good_code) or account is None or account["status"] != "active":
            return _refused(settings, email, address, error=NO_MATCH)
        if secret and not rows.claim_totp_step(conn, account["id"], step):  # a replayed code
            return _refused(settings, email, address, error=NO_MATCH)
        if not secret and settings.MPANEL_STAFF_REQUIRE_TOTP:
            # The owners' policy: no staff session on a password alone.
            return _refused(settings, email, address,
                            error="Staff accounts need a second factor here: ask an owner to run "
                                  "`mpanel staff totp` for your account.")
        if needs_rehash(account["password_hash"]):
            rows.set_password_hash(conn, account["id"], hash_password(password))
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
        rows.add_session(conn, _hash(token), account["id"], csrf, SESSION_HOURS, address)
        rows.record_login(conn, account["id"])
        rows.record_attempt(conn, email, address, True)
        throttle.succeeded(conn, "staff_login", email, address)
        rows.audit(conn, staff_id=account["id"], staff_email=account["email"], action="login", subscription_id=None,
                   outcome="ok", detail=None, address=address)
    return LoginOutcome(token=token)


def _refused(settings: Settings, email: str, address: str, *, error: str,
             retry_after: int | None = None) -> LoginOutcome:
    # Its own transaction: the failure must be recorded even though the login's is not committed.
    with db.transaction(settings.DATABASE_URL) as conn:
        rows.record_attempt(conn, email, address, False)
        rows.audit(conn, staff_id=None, staff_email=email[:200] or "-", action="login", subscription_id=None,
                   outcome="throttled" if retry_after else "refused", detail=error, address=address)
    return LoginOutcome(error=error, retry_after=retry_after)


API_SCOPES = ("read", "actions")


def create_api_token(settings: Settings, email: str, scopes: list[str], label: str | None = None) -> str:
    """A token for /ops/api/ (shown once; only its hash is kept). Its account's role still
    applies: a support account's token with 'actions' may still only resend emails."""
    scopes = sorted(set(scopes))
    if not scopes or any(s not in API_SCOPES for s in scopes):
        raise StaffRefused("scope", f"must be one or more of {', '.join(API_SCOPES)}")
    with db.transaction(settings.DATABASE_URL) as conn:
        account = rows.by_email(conn, email)
        if account is None:
            raise StaffRefused("email", "is not a staff account")
        token = "mpo_" + secrets.token_urlsafe(32)
        rows.add_token(conn, _hash(token), account["id"], scopes, label)
    return token


def token_session(settings: Settings, token: str | None) -> tuple[StaffSession, tuple[str, ...]] | None:
    """The staff member behind an API token, and its scopes; None for an unknown or revoked one."""
    if not token:
        return None
    with db.transaction(settings.DATABASE_URL) as conn:
        row = rows.live_token(conn, _hash(token))
    if row is None:
        return None
    return StaffSession(row["staff_id"], row["email"], row["role"], "", "token"), tuple(row["scopes"])


def session_for(settings: Settings, token: str | None) -> StaffSession | None:
    """The live session behind a cookie, re-checked against the account on every request."""
    if not token:
        return None
    with db.transaction(settings.DATABASE_URL) as conn:
        row = rows.live_session(conn, _hash(token))
    return StaffSession(row["staff_id"], row["email"], row["role"], row["csrf"], row["id_hash"]) if row else None


def log_out(settings: Settings, who: StaffSession, address: str) -> None:
    with db.transaction(settings.DATABASE_URL) as conn:
        rows.revoke_session(conn, who.id_hash)
        rows.audit(conn, staff_id=who.staff_id, staff_email=who.email, action="logout", subscription_id=None,
                   outcome="ok", detail=None, address=address)


def audit(settings: Settings, who: StaffSession, action: str, subscription_id: int | None, outcome: str,
          detail: str | None = None, address: str | None = None) -> int:
    with db.transaction(settings.DATABASE_URL) as conn:
        return rows.audit(conn, staff_id=who.staff_id, staff_email=who.email, action=action,
                          subscription_id=subscription_id, outcome=outcome, detail=detail, address=address)


def audit_log(settings: Settings, query: str = "", subscription_id: int | None = None,
              before_id: int | None = None, limit: int = 50) -> list[dict]:
    with db.transaction(settings.DATABASE_URL) as conn:
        return rows.audit_entries(conn, query=query, subscription_id=subscription_id, before_id=before_id,
                                  limit=limit)
