"""Each stack's Pulumi history pruned to policy (app/services/retention.py prune_stack_history,
stacks/history.py) on the postgres:// backend; `pulumi stack history` and `stack export` still read it."""
from __future__ import annotations

import dataclasses
import json
import secrets
import time

import pulumi

from app.devtools.bench.scale import simulate_nightly_updates
from app.services.hosting.engine import engine_config, stack_operations
from app.services.retention import prune_stack_history
from stacks import engine, history


def test_a_stack_with_many_updates_is_pruned_to_policy_and_still_reads(settings):
    config = engine_config(settings)
    sid = 900_000_000 + secrets.randbelow(10_000_000)  # a stack of its own, named as the app's are
    name = f"sub-{sid}"

    def program():
        pulumi.export("answer", 42)

    stack = engine.inline_stack(config, name, program)
    try:
        stack.up(color="never")
        stack.up(color="never", refresh=True)  # two real updates
        backend = history.Backend.from_url(settings.PULUMI_BACKEND_URL)
        with backend.connect() as conn:
            real = history.updates(conn, backend, engine.PROJECT, name)
            assert len(real) == 2 and real[0][0].startswith(f"{backend.prefix}.pulumi/history/mpanel/{name}/{name}-")
            # 150 nights back from an hour ago: the last 90 days hold 89 of them and the two real updates
            simulate_nightly_updates(conn, backend, name, 150, now=time.time() - 3600)
            assert len(history.updates(conn, backend, engine.PROJECT, name)) == 152

        small = dataclasses.replace(settings, MPANEL_RETENTION_BATCH=7)
        assert prune_stack_history(small)["updates"] >= 150 - 89
        with backend.connect() as conn:
            kept = history.updates(conn, backend, engine.PROJECT, name)
            assert len(kept) == 2 + 89  # every update of the last 90 days (more than the last 50)
            assert [k for k, _ in kept[:2]] == [k for k, _ in real]
            orphans = conn.execute(f"SELECT count(*) FROM {backend.table} WHERE key LIKE %s",
                                   (f"{backend.prefix}.pulumi/history/mpanel/{name}/%.checkpoint.json",)).fetchone()[0]
            assert orphans == len(kept)  # each kept entry with its checkpoint, no checkpoint left alone

        # fewer days: the last 50 are kept
        assert prune_stack_history(dataclasses.replace(settings, MPANEL_HISTORY_DAYS=10))["updates"] >= 91 - 50
        with backend.connect() as conn:
            assert len(history.updates(conn, backend, engine.PROJECT, name)) == 50

        # the plain CLI and the Automation API read what is left
        ops = stack_operations(settings)
        assert len(ops.history(sid, page_size=0)) == 50
        plain = engine.cli(config, "stack", "history", "--stack", name, "--json", "--page-size", "100", cwd=stack.workspace.work_dir)
        assert plain.returncode == 0, plain.stderr
        assert len(json.loads(plain.stdout)) == 50
        exported = engine.cli(config, "stack", "export", "--stack", name, cwd=stack.workspace.work_dir)
        assert exported.returncode == 0, exported.stderr
        assert ops.export(sid)["resources"]
        assert stack.up(color="never").summary.result == "succeeded"  # and updates go on
    finally:
        stack.workspace.remove_stack(name, force=True)
