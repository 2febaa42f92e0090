"""One-click cPanel and Webmail: a one-time login link for the customer's own hosting account.

WHM's `create_user_session` mints a link that logs in once, for a few minutes. The link is a
credential: it goes from WHM's answer straight into the `Location` of the panel's redirect,
and is never stored, rendered in a page or logged (the panel's server keeps no access log, and
nothing here logs it). Nothing is provisioned: it reads the account, it changes nothing.

A suspended account is refused with the reason, whichever side suspended it: our billing
(a failed renewal, a cancellation) or the server (an operator's suspension in WHM, whose own
reason is shown).
"""
from __future__ import annotations

from app import db
from app.db.customers import websites
from app.services.common.refusals import Refused
from app.services.customers import limits
from app.services.customers.sites import site_of
from app.services.hosting.engine import whm_client
from app.settings import Settings
from providers.core.errors import NotFound, ProviderError
from providers.clients.whm import WhmClient

# What the customer clicks -> the cPanel service WHM logs into.
SERVICES = {"cpanel": "cpaneld", "webmail": "webmaild"}
APP_NAMES = {"cpanel": "cPanel", "webmail": "Webmail"}


class LoginRefused(Refused):
    """Why no link was made (shown to the customer), with the HTTP status that says so."""

    def __init__(self, status: int, message: str, field: str = "site"):
        super().__init__(field, message, status=status)


def one_time_login_url(settings: Settings, user_id: int, subscription_id: int, app: str) -> str:
    """A fresh one-time login link into the site's cPanel or Webmail, or LoginRefused."""
    service = SERVICES.get(app)
    if service is None:
        raise LoginRefused(404, "choose cpanel or webmail", field="app")
    with db.transaction(settings.DATABASE_URL) as conn:
        site_of(conn, user_id, subscription_id)
        site = websites.login_target(conn, subscription_id)
    _refuse_unless_live(site)
    limits.spend(settings, user_id, "hosting_login", "app")  # two WHM calls each
    whm = whm_for(settings, site)
    try:
        account = whm.account_summary(site["cpanel_username"])
        if _flag(account.get("suspended")):
            raise LoginRefused(409, f"Your hosting account is suspended on the server: "
                                    f"{account.get('suspendreason') or 'no reason given'}. Contact support.")
        return whm.create_user_session(site["cpanel_username"], service)
    except NotFound:
        raise LoginRefused(409, "Your hosting account is not on the server right now: "
                                "it is being repaired, try again in a few minutes.") from None
    except ProviderError:
        raise LoginRefused(502, f"{APP_NAMES[app]} cannot be reached right now: try again in a minute.") from None


def whm_for(settings: Settings, site: dict) -> WhmClient:
    """The WHM of the server the account lives on (`site["server_id"]`, app/services/hosting/servers.py)."""
    return whm_client(settings, site["server_id"])


def _refuse_unless_live(site: dict) -> None:
    """Billing's reasons come first: they say what the customer can do about it."""
    if site["status"] == "suspended" and site.get("suspended_by") == "staff":
        raise LoginRefused(409, f"Your hosting is suspended by our staff: {site.get('suspend_reason')}. "
                                "Contact support to have it lifted.")
    if site["status"] == "suspended" and site.get("suspended_by") == "whm":
        raise LoginRefused(409, f"Your hosting account is suspended on the server: {site.get('suspend_reason')}. "
                                "Contact support.")
    if site["status"] == "suspended":
        since = site["past_due_since"]
        raise LoginRefused(409, "Your hosting is suspended because a renewal payment failed"
                                f"{' on ' + since.strftime('%Y-%m-%d') if since else ''}: "
                                "pay the open invoice to reactivate it.")
    if site["status"] in ("canceled", "terminated"):
        raise LoginRefused(409, "This subscription was canceled: its hosting account is suspended.")
    if site["website_status"] == "suspended":
        raise LoginRefused(409, "Your hosting account is suspended; it is being reactivated if your "
                                "billing is in order: try again in a few minutes.")
    if site["status"] not in ("active", "past_due") or site["website_status"] != "active" \
            or not site["cpanel_username"]:
        raise LoginRefused(409, "Your hosting is not ready yet: this opens once it is.")


def _flag(value) -> bool:
    return str(value).strip().lower() in ("1", "true", "yes")
