"""A stack addressed by name (stacks/operations.py `_Addressed`): no `pulumi stack select` before
the operation, and a stack that does not exist yet is created on demand, as before."""
from __future__ import annotations

import secrets

import pulumi
from pulumi import automation as auto

from app.services.hosting.engine import engine_config
from stacks import engine
from stacks.operations import _Addressed


def test_an_addressed_stack_is_created_when_missing_and_then_costs_one_cli_call_per_operation(settings):
    config = engine_config(settings)
    name = f"addressed-{secrets.token_hex(3)}"
    command = engine.pulumi_command()
    calls: list[str] = []
    run = command.run

    def counting(args, *rest, **kwargs):
        calls.append(" ".join([a for a in args if not a.startswith("-")][:2]))
        return run(args, *rest, **kwargs)

    def program():
        pulumi.export("answer", 42)

    command.run = counting
    try:
        first = _Addressed(name, program, engine.workspace_options(config)).up(color="never")
        assert first.outputs["answer"].value == 42
        # missing: the up found no stack, the stack was created, the up ran again
        assert [c.split()[0] for c in calls[:3]] == ["up", "stack", "up"] and calls[1] == "stack init"

        calls.clear()
        again = _Addressed(name, program, engine.workspace_options(config)).up(color="never", refresh=True)
        assert again.summary.result == "succeeded"
        # no select before it (the SDK then reads outputs and history: `stack output`, `stack history`)
        assert calls[0].split()[0] == "up" and "stack select" not in calls
    finally:
        command.run = run
        auto.select_stack(name, engine.PROJECT, program, opts=engine.workspace_options(config)) \
            .workspace.remove_stack(name, force=True)


def test_a_read_never_creates_the_stack_and_outputs_cost_one_cli_call(settings):
    from app.services.hosting.engine import stack_operations

    ops = stack_operations(settings)
    missing = 10**9 + secrets.randbelow(10**6)  # no such subscription's stack
    try:
        ops.outputs(missing)
        raise AssertionError("outputs of a missing stack answered")
    except auto.StackNotFoundError:
        pass
    assert not ops.exists(missing)  # and the read did not create it

    config = engine_config(settings)
    name = f"addressed-{secrets.token_hex(3)}"

    def program():
        pulumi.export("password", pulumi.Output.secret("s3cret"))
        pulumi.export("answer", 42)

    _Addressed(name, program, engine.workspace_options(config)).up(color="never")
    command, calls = engine.pulumi_command(), []
    run = command.run
    command.run = lambda args, *rest, **kw: calls.append(args) or run(args, *rest, **kw)
    try:
        stack = _Addressed(name, program, engine.workspace_options(config), create_missing=False)
        assert stack.plain_outputs() == {"password": "s3cret", "answer": 42}
        assert len(calls) == 1
    finally:
        command.run = run
        stack.workspace.remove_stack(name, force=True)
