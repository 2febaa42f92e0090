"""Customer logins, what their dashboard shows, the first-time login wizard, cPanel password resets."""
from __future__ import annotations

from app import db
from app.db.customers import customers, websites
from app.jobs.defer import request_converge
from app.services.common import throttle
from app.services.common.passwords import hash_password, needs_rehash, no_account_hash, password_matches
from app.services.customers.sites import NotYourSite, site_of
from app.services.customers import limits
from app.settings import Settings

# Verifying against a real hash even for an unknown email keeps the answer time the same,
# so the login form cannot be used to find out who is a customer.


def authenticate(settings: Settings, email: str, password: str, address: str) -> int | None:
    """The user id when the email and password match an active account, else None. Raises
    throttle.TooManyAttempts, before any password is checked, while this account or `address`
    (the client's) must wait; the attempt is counted before the check (see throttle)."""
    email = (email or "").strip()
    with db.transaction(settings.DATABASE_URL) as conn:
        throttle.admit(conn, "customer_login", email, address)
    with db.transaction(settings.DATABASE_URL) as conn:
        user = customers.user_by_email(conn, email)
        if not password_matches(user["password_hash"] if user else no_account_hash(), password):
            return None
        if user is None or user["status"] != "active":
            return None
        if needs_rehash(user["password_hash"]):
            customers.set_password_hash(conn, user["id"], hash_password(password))
        customers.record_login(conn, user["id"])
        throttle.succeeded(conn, "customer_login", email, address)
        return user["id"]


def dashboard(settings: Settings, user_id: int) -> dict:
    with db.transaction(settings.DATABASE_URL) as conn:
        customer = customers.profile(conn, user_id)
        sites = customers.sites(conn, user_id)
    return {"customer": customer, "sites": sites, "nameservers": (settings.NS1, settings.NS2)}


def needs_onboarding(settings: Settings, user_id: int) -> bool:
    """The wizard greets a customer once their first site is ready, until they finish it."""
    with db.transaction(settings.DATABASE_URL) as conn:
        return customers.awaits_onboarding(conn, user_id)


def finish_onboarding(settings: Settings, user_id: int) -> None:
    with db.transaction(settings.DATABASE_URL) as conn:
        customers.finish_onboarding(conn, user_id)


def request_cpanel_password_reset(settings: Settings, user_id: int, subscription_id: int) -> None:
    """Ask for a new cPanel password on one of this customer's live sites: desired state, and
    its converge requested in the same transaction (the converge sets it, then it is emailed).
    NotYourSite when the site is not theirs or not active; LimitReached beyond a few a day."""
    limits.spend(settings, user_id, "cpanel_password", "cpanel_password")
    with db.transaction(settings.DATABASE_URL) as conn:
        site_of(conn, user_id, subscription_id, active=True)
        if not websites.count_cpanel_password_reset(conn, subscription_id):
            raise NotYourSite(active=True)  # theirs, but not built yet: the same answer
        request_converge(conn, subscription_id)
