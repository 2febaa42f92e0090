"""Per-customer limits on panel actions that spend a shared upstream's quota or an operator's
email: a registrar call (NameSilo emails the registrant each transfer code), a converge and
an email (a cPanel password reset), a WHM session. Counted per customer and fixed window by
one atomic statement (app/db/customers/action_counts.py), so parallel requests cannot pass it.
The answer when reached is a 429 saying when to try again."""
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
    def __init__(self, field: str, limit: Limit):
        super().__init__(field, f"you have made {limit.uses} {limit.what} in {limit.window_words}, the most we "
                                f"allow; please try again later", status=429, code="limit-reached")
        self.retry_after = limit.window_seconds


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
