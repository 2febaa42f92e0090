"""Who may do what in the operators' console (app/services/operators/staff_roles.py): the whole matrix."""
from __future__ import annotations

import pytest

from app.services.operators.staff_roles import ACTIONS, NotAllowed, actions_for, allowed, require

EXPECTED = {
    "support": {"read", "resend_welcome"},
    "admin": {"read", "resend_welcome", "converge", "refresh", "preview", "suspend", "unsuspend", "cpanel_password",
              "sync_report", "manage_servers"},
    "owner": set(ACTIONS),
}


@pytest.mark.parametrize("role", sorted(EXPECTED))
def test_each_role_may_do_exactly_its_actions(role):
    assert actions_for(role) == EXPECTED[role]
    for action in ACTIONS:
        assert allowed(role, action) == (action in EXPECTED[role])


def test_only_the_owner_destroys_and_manages_staff():
    assert [r for r in EXPECTED if allowed(r, "destroy")] == ["owner"]
    assert [r for r in EXPECTED if allowed(r, "manage_staff")] == ["owner"]


def test_servers_are_managed_by_admins_and_owners_only():
    assert [r for r in EXPECTED if allowed(r, "manage_servers")] == ["admin", "owner"]


def test_unknown_roles_and_actions_are_refused():
    assert not allowed("root", "read") and not allowed("owner", "format_disk") and not allowed("", "read")


def test_require_raises_with_the_role_and_action_in_words():
    with pytest.raises(NotAllowed, match="a support account may not converge"):
        require("support", "converge")
    require("admin", "converge")
