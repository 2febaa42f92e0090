"""The converge profile's arithmetic (app/devtools/bench/engine.py): phases cut from CLI call times,
the program's clock and event arrival times must add up to the operation, with nothing counted twice."""
from types import SimpleNamespace

from app.devtools.bench.engine import Timeline, _phases


def _event(kind: str, name: str, op: str = "create", type_: str = "pulumi-python:dynamic:Resource"):
    meta = SimpleNamespace(type=type_, op=op, urn=f"urn:pulumi:s::mpanel::{type_}::{name}")
    return SimpleNamespace(resource_pre_event=SimpleNamespace(metadata=meta) if kind == "pre" else None,
                           res_outputs_event=SimpleNamespace(metadata=meta) if kind == "done" else None)


def test_steps_pair_each_resource_start_with_its_end_and_skip_the_stack_and_component():
    t = Timeline()
    t.seen = [(1.0, _event("pre", "s", type_="pulumi:pulumi:Stack")), (2.0, _event("pre", "zone")),
              (2.5, _event("pre", "account")), (3.0, _event("done", "zone")), (4.5, _event("done", "account")),
              (5.0, _event("pre", "zone", "refresh"))]  # never finished: not a step
    assert t.steps() == [("zone", "create", 2.0, 3.0), ("account", "create", 2.5, 4.5)]


def test_phases_of_an_up_add_up_to_the_total():
    t = Timeline()
    t.seen = [(13.0, _event("pre", "zone")), (15.0, _event("done", "zone"))]
    calls = [("stack init", 10.0, 11.0), ("up", 11.0, 16.0)]
    phases = _phases(calls, t, [(12.0, 12.5)], total=16.5, ops_time=16.0 - 10.0 + 0.2)
    assert phases["CLI calls besides the operation (stack select/init, ...)"] == 1.0
    assert phases["operation: CLI start, backend read, language host, until the program runs"] == 1.0
    assert phases["operation: program construction (our process)"] == 0.5
    assert phases["operation: program built -> first resource step"] == 0.5
    assert phases["operation: resource steps (first start -> last done; provider calls)"] == 2.0
    assert phases["operation: after the last step (final checkpoint, plugins stop, CLI exit)"] == 1.0
    parts = sum(v for k, v in phases.items() if k != "total" and not k.startswith("our"))
    assert abs(parts - 6.0) < 1e-9  # the CLI calls' own time, nothing twice
