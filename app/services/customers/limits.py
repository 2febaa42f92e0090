"""Per-customer limits on panel actions that spend a shared upstream's quota or an operator's
email: a registrar call (NameSilo emails the registrant each transfer code), a converge and
an email (a cPanel password reset), a WHM session. Counted per customer and fixed window by
one atomic statement (app/db/customers/action_counts.py), so parallel requests cannot pass it.
The answer when reached is a 429 saying when to try again.

Who is not logged in yet (a checkout intent, a domain claim) is counted the same way by what
they are known by: an email address, the client address (`request.remote_addr`, which the
trusted-proxy setting makes the real client's, app/web/proxy.py)."""
from __future__ import annotations

from dataclasses import dataclass

from app import db
from app.db.customers import action_counts
from app.services.common.refusals import Refused
from app.settings import Settings


@dataclass(frozen=True)
class Limit:
    uses: int
    window_seconds: int
    what: str  # "transfer-code requests"

    @property
    def window_words(self) -> str:
        return "a day" if self.window_seconds == 86400 else "an hour" if self.window_seconds == 3600 else \
            f"{self.window_seconds} seconds"


LIMITS: dict[str, Limit] = {
    "transfer_code": Limit(3, 86400, "transfer-code requests"),
    "domain_info": Limit(60, 3600, "registrar look-ups of your domain"),
    "registrar_change": Limit(10, 3600, "registrar lock and auto-renew changes"),
    "cpanel_password": Limit(3, 86400, "cPanel password resets"),
    "hosting_login": Limit(30, 3600, "one-click logins to cPanel and webmail"),
}


class LimitReached(Refused):
    def __init__(self, field: str | None, limit: Limit, retry_after: int | None = None, who: str = "you have"):
        super().__init__(field, f"{who} made {limit.uses} {limit.what} in {limit.window_words}, the most we "
                                f"allow; please try again later", status=429, code="limit-reached")
        self.retry_after = max(1, int(retry_after or limit.window_seconds))


def spend(settings: Settings, user_id: int, action: str, field: str | None = None) -> None:
    """Count one use of `action` for this customer; LimitReached when it is one too many."""
    limit = LIMITS[action]
    with db.transaction(settings.DATABASE_URL) as conn:
        uses = action_counts.count_use(conn, user_id, action, limit.window_seconds)
    if uses is not None and uses > limit.uses:
        raise LimitReached(field or action, limit)


def allows(settings: Settings, user_id: int, action: str) -> bool:
    """spend() for a read that degrades instead of refusing (the domain page still shows)."""
    try:
        spend(settings, user_id, action)
    except LimitReached:
        return False
    return True


def spend_keyed(settings: Settings, action: str, key: str, limit: Limit, field: str | None, who: str) -> None:
    """Count one use of `action` by `key` (an email address, a client address) in a window that
    starts at its first use; LimitReached, with the seconds until the window closes, when it is
    one too many. A limit of 0 uses is no limit."""
    if limit.uses <= 0:
        return
    with db.transaction(settings.DATABASE_URL) as conn:
        row = action_counts.count_keyed_use(conn, action, key.strip().lower()[:254] or "-", limit.window_seconds)
    if row["uses"] > limit.uses:
        raise LimitReached(field, limit, -(-(row["window_end"] - row["now"]).total_seconds() // 1), who)
