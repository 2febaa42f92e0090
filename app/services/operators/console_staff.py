"""Staff accounts from the console: the owner adds staff (a set-password link is mailed),
changes roles, disables and re-enables, resets and turns on the second factor, and issues and
revokes API tokens. The same services as `mpanel staff` (staff.py: the last active owner is
never disabled or demoted there), role-checked here (the view checks too) and audited, refusals
included. Secrets (a TOTP secret, an API token) are returned once, for the page to show once."""
from __future__ import annotations

from typing import Callable, TypeVar

from app.services.operators import staff
from app.services.operators.staff import StaffRefused, StaffSession
from app.services.operators.staff_roles import NotAllowed, allowed
from app.settings import Settings

ACTION = "manage_staff"
T = TypeVar("T")


def _audited(settings: Settings, who: StaffSession, action: str, about: str, do: Callable[[], tuple[T, str]],
             address: str | None) -> T:
    """Run `do` (returning its result and what the audit log says) if the role allows; audit either way."""
    if not allowed(who.role, ACTION):
        refusal = NotAllowed(who.role, ACTION)
        staff.audit(settings, who, action, None, "refused", f"{about}: {refusal}"[:500], address)
        raise refusal
    try:
        result, detail = do()
    except StaffRefused as exc:
        staff.audit(settings, who, action, None, "refused", f"{about}: {exc}"[:500], address)
        raise
    staff.audit(settings, who, action, None, "ok", f"{about}: {detail}"[:500], address)
    return result


def staff_page(settings: Settings) -> dict:
    return {"members": staff.list_staff(settings), "tokens": staff.api_tokens(settings)}


def add(settings: Settings, who: StaffSession, email: str, role: str, address: str | None = None) -> str:
    def do():
        staff.add_staff(settings, email, role, with_link=True, email_link=True)
        return (f"{email.strip()} added as {role}: a link to set a password is on its way to them (valid "
                f"{staff.SET_PASSWORD_HOURS} h, once)."), f"added as {role}, set-password link emailed"
    return _audited(settings, who, "staff_add", email.strip()[:200], do, address)


def change_role(settings: Settings, who: StaffSession, email: str, role: str, address: str | None = None) -> str:
    def do():
        before = staff.set_role(settings, email, role)
        return f"{email} is now {role}.", f"{before} -> {role}"
    return _audited(settings, who, "staff_role", email[:200], do, address)


def change_status(settings: Settings, who: StaffSession, email: str, status: str, address: str | None = None) -> str:
    def do():
        ended = staff.set_status(settings, email, status)
        said = f"{email} {'disabled' if status == 'disabled' else 'enabled'}"
        return said + (f"; {ended} session(s) ended." if ended else "."), status
    return _audited(settings, who, "staff_disable" if status == "disabled" else "staff_enable", email[:200], do,
                    address)


def reset_totp(settings: Settings, who: StaffSession, email: str, address: str | None = None) -> str:
    def do():
        ended = staff.reset_totp(settings, email)
        return (f"Second factor of {email} turned off ({ended} session(s) ended): turn a new one on for them "
                "to scan."), "second factor reset"
    return _audited(settings, who, "staff_totp_reset", email[:200], do, address)


def turn_on_totp(settings: Settings, who: StaffSession, email: str, address: str | None = None) -> str:
    """The new secret, returned once for the page to show (never audited, never stored in the clear)."""
    return _audited(settings, who, "staff_totp", email[:200], lambda: (staff.enable_totp(settings, email),
                                                                      "second factor turned on"), address)


def issue_token(settings: Settings, who: StaffSession, email: str, scopes: list[str], label: str,
                address: str | None = None) -> str:
    """The new API token, returned once for the page to show."""
    def do():
        token = staff.create_api_token(settings, email, scopes, label.strip()[:100] or None)
        return token, f"API token {label.strip()[:100] or '(no label)'} with {','.join(sorted(set(scopes)))}"
    return _audited(settings, who, "staff_token", email[:200], do, address)


def revoke_token(settings: Settings, who: StaffSession, token_hash: str, address: str | None = None) -> str:
    def do():
        revoked = staff.revoke_api_token(settings, token_hash)
        return (f"API token {revoked['label'] or ''} of {revoked['email']} revoked.".replace("  ", " "),
                f"API token {revoked['label'] or '(no label)'} of {revoked['email']} revoked")
    return _audited(settings, who, "staff_token_revoke", token_hash[:12], do, address)
