"""`mpanel staff ...`: the operators' console accounts (add, list, disable, enable, totp, token)."""
from __future__ import annotations

import sys

from app.services.common import totp
from app.services.operators import staff
from app.settings import Settings


def main(action: str, email: str | None, role: str | None, link: bool, scope: str | None = None) -> int:
    settings = Settings.from_env()
    try:
        if action == "list":
            for m in staff.list_staff(settings):
                print(f"{m['email']:40} {m['role']:8} {m['status']:9} {'totp' if m['has_totp'] else '-':5} "
                      f"last login {m['last_login_at'] or 'never'}")
            return 0
        if not email:
            print(f"mpanel staff {action} needs an email", file=sys.stderr)
            return 2
        if action == "add":
            _, secret = staff.add_staff(settings, email, role or "", with_link=link)
            if link:
                url = f"{settings.APP_URL.rstrip('/')}/ops/set-password?token={secret}"
                print(f"{email} ({role}) added. Send them this link to set a password (valid "
                      f"{staff.SET_PASSWORD_HOURS} h, once):\n{url}")
            else:
                print(f"{email} ({role}) added. Password (shown once, not stored anywhere): {secret}\n"
                      f"Log in at {settings.APP_URL.rstrip('/')}/ops/login")
            return 0
        if action == "totp":
            secret = staff.enable_totp(settings, email)
            print(f"Second factor on for {email}. Add it to an authenticator app (shown once):\n"
                  f"  secret {secret}\n  {totp.provisioning_uri(secret, email)}")
            return 0
        if action == "token":
            token = staff.create_api_token(settings, email, (scope or "read").split(","))
            print(f"API token for {email} ({scope or 'read'}; shown once):\n{token}\n"
                  f"use: curl -H 'Authorization: Bearer {token[:8]}...' {settings.APP_URL.rstrip('/')}/ops/api/subscriptions")
            return 0
        if action in ("disable", "enable"):
            ended = staff.set_status(settings, email, "disabled" if action == "disable" else "active")
            print(f"{email} {action}d" + (f"; {ended} session(s) ended" if ended else ""))
            return 0
    except staff.StaffRefused as exc:
        print(f"mpanel staff {action}: {exc}", file=sys.stderr)
        return 1
    print(f"unknown action {action}", file=sys.stderr)
    return 2
