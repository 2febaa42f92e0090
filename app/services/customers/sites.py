"""Is this the customer's site: asked once here by every service a customer reaches (mailboxes,
DNS records, the domain, billing, one-click logins, cPanel passwords), answered the same way.

A site that is not theirs and one that does not exist get the same 404: the panel never tells
a customer which numbers other customers' sites have.
"""
from __future__ import annotations

import psycopg

from app.db.customers import sites
from app.services.common.refusals import Refused


class NotYourSite(Refused):
    """No (active) site of this customer's has that number: a 404 naming the site."""

    status = 404

    def __init__(self, active: bool = False):
        super().__init__("site", f"no {'active ' if active else ''}site of yours with that number")


def find_site(conn: psycopg.Connection, user_id: int, subscription_id: int, *, active: bool = False,
              lock: bool = False) -> dict | None:
    """The customer's site (id, billing status), or None when it is not theirs; with `active`,
    also None unless its subscription is active. `lock` holds the subscription row."""
    site = sites.owned(conn, user_id, subscription_id, lock=lock)
    if site is None or (active and site["status"] != "active"):
        return None
    return site


def site_of(conn: psycopg.Connection, user_id: int, subscription_id: int, *, active: bool = False,
            lock: bool = False) -> dict:
    """The customer's site as `find_site` gives it, or NotYourSite."""
    site = find_site(conn, user_id, subscription_id, active=active, lock=lock)
    if site is None:
        raise NotYourSite(active)
    return site
