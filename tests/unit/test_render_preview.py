"""The preview as operators read it (app/cli/stacks.py::render_preview), from recorded steps."""
from __future__ import annotations

from app.cli.stacks import render_preview


def step(op, name, changes=None, detailed_diff=None, status="started"):
    return {"op": op, "resource_name": name, "status": status, "changes": changes or {},
            "detailed_diff": detailed_diff or {}}


def test_no_steps_render_as_no_changes():
    assert render_preview([]) == "no changes"


def test_unchanged_read_and_finished_steps_render_as_no_changes():
    steps = [step("same", "zone"), step("read", "server"), step("update", "account", status="done")]
    assert render_preview(steps) == "no changes"


def test_a_created_resource_lists_its_new_values_without_an_old_side():
    out = render_preview([step("create", "zone", {"name": {"old": None, "new": "example.com"}})])
    lines = out.splitlines()
    assert lines[0].split() == ["+", "create", "zone"]
    assert lines[1].strip() == 'name: "example.com"'


def test_an_update_shows_each_property_from_old_to_new():
    out = render_preview([step("update", "account", {"plan": {"old": "student", "new": "business"}})])
    assert 'plan: "student" -> "business"' in out and out.startswith("~ ")


def test_a_property_that_forces_replacement_says_so():
    out = render_preview([step("replace", "account", {"username": {"old": "a", "new": "b"}},
                               {"username": "update-replace"})])
    assert 'username: "a" -> "b"  (forces replacement)' in out


def test_a_property_updated_in_place_is_not_flagged_as_a_replacement():
    out = render_preview([step("update", "account", {"quota": {"old": 1, "new": 2}}, {"quota": "update"})])
    assert "forces replacement" not in out


def test_a_deletion_lists_the_resource_and_what_it_destroys_not_its_properties():
    deleted = {**step("delete", "mailbox-sales", {"quota": {"old": 1, "new": None}}),
               "resource_type": "mailcore:Mailbox", "id": "sales@example.com"}
    lines = render_preview([deleted]).splitlines()
    assert lines[0].startswith("- ") and "mailbox-sales" in lines[0]
    assert lines[1].strip() == "destroys mailcore:Mailbox sales@example.com" and len(lines) == 2


def test_a_long_value_is_shortened_with_its_length():
    out = render_preview([step("create", "page", {"html": {"old": None, "new": "x" * 200}})])
    assert "... (202 chars)" in out and "x" * 100 not in out


def test_a_pem_value_is_shown_as_its_kind_and_size_only():
    pem = "-----BEGIN CERTIFICATE-----\nMIIB...\n-----END CERTIFICATE-----"
    out = render_preview([step("create", "certificate", {"certificate_pem": {"old": None, "new": pem}})])
    assert f"<begin certificate, {len(pem)} bytes>" in out and "MIIB" not in out


def test_a_secret_masked_by_the_engine_stays_masked():
    out = render_preview([step("update", "account", {"password": {"old": "[secret]", "new": "[secret]"}})])
    assert 'password: [secret] -> [secret]' in out  # the mask is shown as a mask, not as a string value


def test_an_unknown_operation_is_marked_with_a_question_mark():
    assert render_preview([step("import", "zone")]).startswith("? ")


def test_changes_are_listed_in_step_order():
    out = render_preview([step("create", "zone"), step("update", "account"), step("delete", "old")])
    assert [line.split()[-1] for line in out.splitlines() if not line.startswith(" ")] == ["zone", "account", "old"]
