"""One-time cPanel login links: create_user_session and the link's single use."""

from __future__ import annotations

import hashlib
import secrets
from typing import Callable

from ..common.state import StateStore
from .api import Done, Params, WhmFailure, find_account, required

SESSION_SERVICES = {"cpaneld": 2083, "webmaild": 2096}
SESSION_LIFETIME_SECONDS = 300


class Sessions:
    store: StateStore
    now: Callable[[], float]

    def create_user_session(self, params: Params, base_url: str) -> Done:
        username = required(params, "user")
        service = required(params, "service")
        if service not in SESSION_SERVICES:
            raise WhmFailure(f"The service “{service}” is not valid; use one of: {', '.join(SESSION_SERVICES)}.")
        token = secrets.token_hex(16)
        security_token = "/cpsess" + "".join(secrets.choice("0123456789") for _ in range(10))
        now = int(self.now())
        with self.store.change() as state:
            find_account(state, username)
            state["sessions"].delete_below("expires", now, inclusive=True)
            # Only a digest is kept: the link itself is a credential.
            state["sessions"][_digest(token)] = {
                "user": username, "service": service, "expires": now + SESSION_LIFETIME_SECONDS,
                "used": False,
            }
        session = f"{username}:{token}"
        # The link points back at this stand-in (not at :2083) so a test can follow it.
        url = f"{base_url.rstrip('/')}{security_token}/login/?session={session}"
        return Done({"url": url, "session": session, "service": service,
                     "cp_security_token": security_token,
                     "expires": now + SESSION_LIFETIME_SECONDS})

    def consume_session(self, session: str) -> str | None:
        """The user a one-time login link logs in, or None once used or expired."""
        _, _, token = session.partition(":")
        with self.store.change() as state:
            record = state["sessions"].get(_digest(token))
            if record is None or record["used"] or record["expires"] <= self.now():
                return None
            record["used"] = True
            return record["user"]


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
