"""Who on the staff may do what in the operators' console: one table, checked on every route.

support reads everything and resends emails; admin also converges, refreshes (and previews),
suspends, unsuspends, sets a new cPanel password and manages the web servers (add, capacity,
drain, enable, retire, move an account); owner also destroys and manages staff. Each role holds
every right of the roles below it.
"""
from __future__ import annotations

ROLES = ("support", "admin", "owner")  # least to most

# Each action the console offers, and the least role allowed to do it.
ACTIONS: dict[str, str] = {
    "read": "support",
    "resend_welcome": "support",
    "converge": "admin",
    "refresh": "admin",
    "preview": "admin",
    "suspend": "admin",
    "unsuspend": "admin",
    "cpanel_password": "admin",
    "sync_report": "admin",          # a server's accounts against the stacks (read only, but lists every account)
    "manage_servers": "admin",
    "destroy": "owner",
    "manage_staff": "owner",
}


class NotAllowed(Exception):
    """A staff member asked for an action above their role."""

    def __init__(self, role: str, action: str):
        article = "an" if role[:1] in ("a", "e", "i", "o", "u") else "a"
        super().__init__(f"{article} {role} account may not {action.replace('_', ' ')} "
                         f"(needs {ACTIONS.get(action, 'owner')})")
        self.role, self.action = role, action


def allowed(role: str, action: str) -> bool:
    """Unknown roles and unknown actions are refused: a typo never opens anything."""
    if role not in ROLES or action not in ACTIONS:
        return False
    return ROLES.index(role) >= ROLES.index(ACTIONS[action])


def require(role: str, action: str) -> None:
    if not allowed(role, action):
        raise NotAllowed(role, action)


def actions_for(role: str) -> set[str]:
    return {action for action in ACTIONS if allowed(role, action)}
