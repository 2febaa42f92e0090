"""Customer logins, what their dashboard shows, and the first-time login wizard."""
from __future__ import annotations

from app import db
from app.services.passwords import hash_password, needs_rehash, password_matches
from app.settings import Settings

# Verifying against a real hash even for an unknown email keeps the answer time the same,
# so the login form cannot be used to find out who is a customer.
_DUMMY_HASH = hash_password("not-a-real-password")


def authenticate(settings: Settings, email: str, password: str) -> int | None:
    """The user id when the email and password match an active account, else None."""
    with db.transaction(settings.DATABASE_URL) as conn:
        user = conn.execute("SELECT id, password_hash, status FROM users WHERE lower(email) = lower(%s)",
                            (email.strip(),)).fetchone()
        if not password_matches(user["password_hash"] if user else _DUMMY_HASH, password):
            return None
        if user is None or user["status"] != "active":
            return None
        if needs_rehash(user["password_hash"]):
            conn.execute("UPDATE users SET password_hash = %s WHERE id = %s", (hash_password(password), user["id"]))
        conn.execute("UPDATE users SET last_login_at = now() WHERE id = %s", (user["id"],))
        return user["id"]


def dashboard(settings: Settings, user_id: int) -> dict:
    with db.transaction(settings.DATABASE_URL) as conn:
        customer = conn.execute("SELECT c.first_name, c.last_name, u.email FROM customers c "
                                "JOIN users u ON u.id = c.user_id WHERE u.id = %s", (user_id,)).fetchone()
        sites = conn.execute(
            """SELECT s.id, s.status, s.provisioning_status, s.billing_cycle, s.current_period_end,
                      s.cancel_at_period_end, p.name AS plan, d.name AS domain, d.mode AS domain_mode,
                      d.status AS domain_status, w.status AS website_status, w.cpanel_url, w.cpanel_username,
                      w.ssl_expires_at, d.expires_at AS domain_expires_at, sv.ip_address AS server_ip,
                      ARRAY(SELECT m.local_part || '@' || d.name FROM mailboxes m
                             WHERE m.subscription_id = s.id AND m.local_part <> 'admin'
                             ORDER BY m.local_part) AS extra_mailboxes, p.mailbox_count
                 FROM subscriptions s
                 JOIN customers c ON c.id = s.customer_id
                 JOIN plans p ON p.id = s.plan_id
                 LEFT JOIN servers sv ON sv.id = s.server_id
                 LEFT JOIN domains d ON d.subscription_id = s.id
                 LEFT JOIN websites w ON w.subscription_id = s.id
                WHERE c.user_id = %s AND s.status <> 'abandoned'
                ORDER BY s.id""", (user_id,)).fetchall()
    return {"customer": customer, "sites": sites, "nameservers": (settings.NS1, settings.NS2)}


def needs_onboarding(settings: Settings, user_id: int) -> bool:
    """The wizard greets a customer once their first site is ready, until they finish it."""
    with db.transaction(settings.DATABASE_URL) as conn:
        return conn.execute(
            """SELECT 1 FROM users u JOIN customers c ON c.user_id = u.id
                 JOIN subscriptions s ON s.customer_id = c.id
                WHERE u.id = %s AND u.onboarded_at IS NULL AND s.provisioning_status = 'ready'
                LIMIT 1""", (user_id,)).fetchone() is not None


def finish_onboarding(settings: Settings, user_id: int) -> None:
    with db.transaction(settings.DATABASE_URL) as conn:
        conn.execute("UPDATE users SET onboarded_at = coalesce(onboarded_at, now()) WHERE id = %s", (user_id,))


def request_cpanel_password_reset(settings: Settings, user_id: int, subscription_id: int) -> bool:
    """Ask for a new cPanel password on one of this customer's live sites: desired state
    only (the worker's next converge sets it, then it is emailed). False when the site is
    not theirs or not active."""
    with db.transaction(settings.DATABASE_URL) as conn:
        row = conn.execute(
            """UPDATE websites w SET cpanel_password_resets = w.cpanel_password_resets + 1, updated_at = now()
                 FROM subscriptions s JOIN customers c ON c.id = s.customer_id
                WHERE w.subscription_id = s.id AND s.id = %s AND c.user_id = %s
                  AND s.status = 'active' AND w.status = 'active'
            RETURNING w.id""", (subscription_id, user_id)).fetchone()
    return row is not None
