"""Customer portal sessions (``POST /v1/billing_portal/sessions``): a short-lived link to the
page where a customer manages their own billing.

As Stripe: ``customer`` is required (400 ``resource_missing`` naming ``customer`` when
unknown), ``return_url`` must be a URL, ``configuration``, ``locale`` and ``on_behalf_of``
are accepted; the answer is a ``billing_portal.session`` whose ``url`` opens the portal for a
few minutes, and ``billing_portal.session.created`` is emitted. ``flow_data`` (deep links
into one flow) is refused here: this stand-in's portal has a single page
(sandbox/stripe/portal.py) showing the customer, their subscriptions, the card on file, a
"cancel at period end" button and the link back to ``return_url``.
"""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

from ..objects import Ledger, Object, new_id
from ..params import Params, invalid

PORTAL_SESSION_LIFETIME = 300
DEFAULT_CONFIGURATION = "bpc_sandboxdefault"


class PortalSessions:
    def create_portal_session(self, led: Ledger, p: Params) -> Object:
        customer = led.get("customer", p.text("customer", required=True), "customer")
        return_url = p.text("return_url", max_length=5000)
        if return_url is not None:
            parts = urlsplit(return_url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise invalid("Not a valid URL", "return_url", "url_invalid")
        configuration = p.text("configuration") or DEFAULT_CONFIGURATION
        locale = p.text("locale")
        on_behalf_of = p.text("on_behalf_of")
        if p.has("flow_data"):
            raise invalid("flow_data is not supported by this stand-in's portal.", "flow_data")
        if not led.public_url:
            raise invalid("The stand-in does not know its public address (--public-url).")
        token = "test_" + secrets.token_urlsafe(24)
        session = led.add({
            "id": new_id("bps_"), "object": "billing_portal.session", "configuration": configuration,
            "created": led.now(), "customer": customer["id"], "flow": None, "livemode": False,
            "locale": locale, "on_behalf_of": on_behalf_of, "return_url": return_url,
            "url": f"{led.public_url.rstrip('/')}/p/session/{token}",
        })
        led.emit("billing_portal.session.created", session)
        return session

    def portal_session_by_url_token(self, led: Ledger, token: str) -> Object | None:
        """The portal session a link opens while it is fresh, else None."""
        for session in led.newest_first("billing_portal.session"):
            if session["created"] < led.now() - PORTAL_SESSION_LIFETIME:
                return None
            if session["url"].rsplit("/", 1)[-1] == token and secrets.compare_digest(
                    session["url"].rsplit("/", 1)[-1], token):
                return session
        return None
