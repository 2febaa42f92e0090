"""The pieces the stand-ins share: the state store, the fault registry, the log."""

from __future__ import annotations

import threading

import pytest

from sandbox.common.faults import Fault, FaultRegistry, FaultSpecError, parse_fault
from sandbox.common.requestlog import redact_query
from sandbox.common.state import CorruptStateError, StateStore, Table

OPERATIONS = frozenset({"createacct", "listaccts"})


TABLES = [Table("accounts", {"domain": lambda a: a["domain"]})]


def accounts_store(path, initial=None) -> StateStore:
    return StateStore(path, TABLES, initial or (lambda: {"accounts": {}, "items": []}))


def test_a_change_that_raises_leaves_the_state_untouched(tmp_path):
    store = accounts_store(tmp_path / "state.sqlite3")
    with store.change() as state:
        state["accounts"]["ada"] = {"domain": "ada.example", "plan": "small"}

    with pytest.raises(RuntimeError):
        with store.change() as state:
            state["items"].append("half-done")
            state["accounts"]["ada"]["plan"] = "large"
            state["accounts"]["bob"] = {"domain": "bob.example"}
            raise RuntimeError("validation failed halfway")

    assert store.dump() == {"accounts": {"ada": {"domain": "ada.example", "plan": "small"}}, "items": []}
    assert accounts_store(tmp_path / "state.sqlite3").dump() == store.dump()


def test_records_are_found_by_their_indexed_columns_as_edited_in_the_same_change(tmp_path):
    store = accounts_store(tmp_path / "state.sqlite3")
    with store.change() as state:
        state["accounts"]["ada"] = {"domain": "ada.example"}
        state["accounts"]["bob"] = {"domain": "bob.example"}
    with store.change() as state:
        state["accounts"]["ada"]["domain"] = "ada.test"
        assert state["accounts"].first(domain="ada.test") is state["accounts"]["ada"]
        assert state["accounts"].where(domain="ada.example") == []
        assert [a["domain"] for a in state["accounts"].newest_first()] == ["bob.example", "ada.test"]
    with store.view() as state:
        assert state["accounts"].first(domain="ada.test") == {"domain": "ada.test"}


def test_a_reset_empties_the_tables_and_restores_the_initial_scalars(tmp_path):
    store = accounts_store(tmp_path / "state.sqlite3", lambda: {"accounts": {"root": {"domain": "x"}}, "count": 0})
    with store.change() as state:
        state["accounts"]["ada"] = {"domain": "ada.example"}
        state["count"] += 5

    store.reset()

    assert store.dump() == {"accounts": {"root": {"domain": "x"}}, "count": 0}


def test_concurrent_changes_are_serialised(tmp_path):
    store = accounts_store(tmp_path / "state.sqlite3", lambda: {"accounts": {}, "count": 0})

    def bump():
        for _ in range(20):
            with store.change() as state:
                state["count"] += 1

    threads = [threading.Thread(target=bump) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert accounts_store(tmp_path / "state.sqlite3").dump()["count"] == 160


def test_a_corrupt_state_file_is_refused_rather_than_overwritten(tmp_path):
    (tmp_path / "state.sqlite3").write_text("{half" * 1000)

    with pytest.raises(CorruptStateError):
        accounts_store(tmp_path / "state.sqlite3")
    assert (tmp_path / "state.sqlite3").read_text() == "{half" * 1000


def test_a_fault_for_the_exact_operation_fires_before_a_wildcard_one():
    registry = FaultRegistry()
    registry.add(Fault(operation="*", kind="http", status=503))
    registry.add(Fault(operation="createacct", kind="code", reason="busy"))

    first, second = registry.take("createacct"), registry.take("createacct")

    assert (first.outcome.kind, second.outcome.kind) == ("code", "http")
    assert registry.take("createacct").outcome is None


def test_latency_adds_up_and_combines_with_an_outcome_fault():
    registry = FaultRegistry()
    registry.add(Fault(operation="*", kind="latency", ms=100, count=0))
    registry.add(Fault(operation="createacct", kind="latency", ms=50))
    registry.add(Fault(operation="createacct", kind="code", reason="busy"))

    plan = registry.take("createacct")

    assert plan.delay_seconds == pytest.approx(0.15)
    assert plan.outcome.reason == "busy"
    assert [f["operation"] for f in registry.snapshot()] == ["*"]


def test_a_timeout_really_waits_when_no_sleep_is_injected():
    registry = FaultRegistry()
    registry.add(Fault(operation="listaccts", kind="timeout", seconds=0.01))

    assert registry.answer("listaccts", run=lambda: "done", refuse=lambda f: "refused") == "done"


@pytest.mark.parametrize("spec, words", [
    ({"operation": "createAcct", "kind": "http"}, "unknown operation"),
    ({"operation": "*", "kind": "explode"}, "kind"),
    ({"operation": "*", "kind": "code"}, "code"),
    ({"operation": "*", "kind": "http", "status": 404}, "5xx"),
    ({"operation": "*", "kind": "timeout"}, "seconds"),
    ({"operation": "*", "kind": "latency"}, "ms"),
    ({"operation": "*", "kind": "latency", "ms": 5, "count": -1}, "count"),
    ({"operation": "*", "kind": "latency", "ms": "soon"}, "ms"),
])
def test_nonsensical_fault_descriptions_are_refused(spec, words):
    with pytest.raises(FaultSpecError, match=words):
        parse_fault(spec, OPERATIONS)


def test_redaction_masks_named_parameters_whatever_their_case():
    masked = redact_query("version=1&KEY=abc&domain=a.com&auth=x", ["key", "auth"])

    assert masked == "version=1&KEY=REDACTED&domain=a.com&auth=REDACTED"
