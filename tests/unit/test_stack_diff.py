"""The one renderer of previews and drift (stacks/diff.py), from recorded steps."""
from __future__ import annotations

from types import SimpleNamespace

from stacks.diff import UNKNOWN, changes_of, numbered, record_changes, render_text


def test_the_engines_unknown_placeholder_is_never_shown_as_a_value():
    steps = [{"op": "update", "resource_name": "mail-domain", "status": "started",
              "changes": {"dkim_private_key": {"old": "[secret]", "new": UNKNOWN},
                          "selector": {"old": "a", "new": {"nested": [UNKNOWN]}}}}]
    out = render_text(steps)
    assert UNKNOWN not in out
    assert "dkim_private_key: [secret] -> (known after apply)" in out
    assert '"(known after apply)"' in out  # inside a structure too


def test_a_record_deleted_behind_our_back_is_an_addition_in_the_preview():
    changes = record_changes([{"name": "a.com.", "type": "A", "records": ["192.0.2.1"]}],
                             [{"name": "a.com.", "type": "A", "records": ["192.0.2.1"]},
                              {"name": "a.com.", "type": "MX", "records": ["10 mail.a.com."]}])
    out = render_text([{"op": "update", "resource_name": "zone", "status": "started", "changes": changes}])
    assert 'record MX a.com.: (absent) -> "10 mail.a.com."' in out
    assert "record A" not in out  # unchanged records are not listed


def test_drift_found_by_a_refresh_is_listed_per_resource_and_property():
    steps = [{"op": "refresh", "resource_name": "zone", "status": "started", "changes": {}},
             {"op": "refresh", "resource_name": "zone", "status": "done",
              "changes": {"record A www.a.com.": {"old": "192.0.2.1", "new": None}}},
             {"op": "refresh", "resource_name": "account", "status": "done", "changes": {}}]
    [item] = changes_of(steps)
    assert item["op"] == "drift" and item["resource_name"] == "zone"
    assert render_text(steps).splitlines()[1].strip() == 'record A www.a.com.: "192.0.2.1" -> (removed)'


def test_a_replacement_says_what_it_destroys():
    [item] = changes_of([{"op": "replace", "resource_name": "account", "resource_type": "whm:WhmAccount",
                          "id": "shop1", "status": "started", "changes": {"user": {"old": "shop1", "new": "shop2"}},
                          "detailed_diff": {"user": "update-replace"}}])
    assert item["destroys"] == "whm:WhmAccount shop1" and item["lines"][0]["replaces"]


def test_history_is_numbered_by_position_when_the_backend_records_no_version():
    history = [SimpleNamespace(version=0), SimpleNamespace(version=0), SimpleNamespace(version=0)]  # newest first
    assert [v for v, _ in numbered(history)] == [3, 2, 1]


def test_history_keeps_the_engines_versions_when_it_has_them():
    history = [SimpleNamespace(version=12), SimpleNamespace(version=11)]
    assert [v for v, _ in numbered(history)] == [12, 11]
