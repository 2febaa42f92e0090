"""`mpanel bench floor` and `mpanel bench profile`: the engine's own fixed cost, and where one
converge spends its time, measured in the same run so every figure stands next to its floor.

The floor is the engine with nothing to do: an empty inline program on the same postgres://
backend, through the same workspace options (offline CLI, passphrase secrets) our operations
use. A second floor stack holds one inert dynamic resource (providers/core/inert.py): the
difference is the dynamic-provider process and one step, before any of our modules load.
"""
from __future__ import annotations

import contextlib
import secrets
import statistics
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable

import psycopg
from pulumi import automation as auto

from app import db
from app.devtools.bench.figures import _ms, _new_subscription, _providers_configured, provider_process_imports
from app.settings import Settings
from stacks import engine
from stacks.events import StepRecorder


# --- timing the engine from the outside ------------------------------------------------------

@dataclass
class CliCalls:
    """Every Pulumi CLI call this process makes, timed: wraps run() of the one cached
    SupervisedCommand (stacks.engine.pulumi_command) for the benchmark's lifetime."""

    calls: list[tuple[str, float, float]] = field(default_factory=list)

    def install(self) -> "CliCalls":
        command = engine.pulumi_command()
        run = command.run

        def timed_run(args, cwd, additional_env, on_output=None, on_error=None):
            words = [a for a in args if not a.startswith("-")][:2]
            label = " ".join(words if words and words[0] in ("stack", "config", "plugin") else words[:1])
            started = time.perf_counter()
            try:
                return run(args, cwd, additional_env, on_output, on_error)
            finally:
                self.calls.append((label, started, time.perf_counter()))

        command.run = timed_run
        return self

    def since(self, mark: int) -> list[tuple[str, float, float]]:
        return self.calls[mark:]


class Timeline:
    """When each engine event reached this process (the SDK tails the engine's event log
    every 0.1 s: times are good to about that). tap() makes a recorder note them too."""

    def __init__(self):
        self.seen: list[tuple[float, object]] = []

    def tap(self, recorder: StepRecorder | None) -> StepRecorder:
        recorder = recorder or StepRecorder()
        seen = self.seen

        class Tapped(type(recorder)):
            def __call__(self, event) -> None:
                seen.append((time.perf_counter(), event))
                super().__call__(event)

        recorder.__class__ = Tapped  # the converge's own recorder keeps doing its bookkeeping
        return recorder

    def steps(self) -> list[tuple[str, str, float, float]]:
        """(resource name, op, started, finished) per step of a resource other than the stack."""
        started: dict[tuple[str, str], float] = {}
        out = []
        for at, event in self.seen:
            pre, done = event.resource_pre_event, event.res_outputs_event
            meta = (pre or done).metadata if (pre or done) else None
            if meta is None or meta.type in ("pulumi:pulumi:Stack", "pulumi:providers:pulumi-python",
                                             "mpanel:hosting:Account"):
                continue
            op = meta.op.value if hasattr(meta.op, "value") else str(meta.op)
            key = (meta.urn.rsplit("::", 1)[-1], op)
            if pre:
                started[key] = at
            elif key in started:
                out.append((*key, started.pop(key), at))
        return out


@dataclass
class ProgramClock:
    """When the inline program started and finished constructing its resources."""

    spans: list[tuple[float, float]] = field(default_factory=list)

    def wrap(self, program_for: Callable) -> Callable:
        def timed_program_for(spec, **options):
            program = program_for(spec, **options)

            def timed():
                started = time.perf_counter()
                try:
                    program()
                finally:
                    self.spans.append((started, time.perf_counter()))
            return timed
        return timed_program_for


def backend_counters(backend_url: str) -> dict[str, int]:
    """Rows written to and lookups on the Pulumi state table, and the backend database's
    commits, from PostgreSQL's own statistics (flushed when the CLI's connections close)."""
    url = backend_url.replace("postgres://", "postgresql://", 1)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        t = conn.execute("SELECT n_tup_ins + n_tup_upd + n_tup_del, coalesce(idx_scan, 0) + seq_scan "
                         "FROM pg_stat_user_tables WHERE relname = 'pulumi_state'").fetchone() or (0, 0)
        c = conn.execute("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()").fetchone()
    return {"writes": int(t[0]), "lookups": int(t[1]), "commits": int(c[0])}


@contextmanager
def counted(backend_url: str, into: list[dict[str, int]]):
    time.sleep(0.3)  # let the previous CLI's backends finish flushing their statistics
    before = backend_counters(backend_url)
    yield
    time.sleep(0.6)
    after = backend_counters(backend_url)
    into.append({k: after[k] - before[k] - (1 if k == "commits" else 0) for k in after})


# --- the floor -------------------------------------------------------------------------------

def _empty_program() -> None:
    pass


def _inert_program() -> None:
    from providers.core.inert import Inert

    Inert("inert")


def floor_once(config: engine.EngineConfig, program, label: str, attach: bool = False) -> dict[str, float]:
    """Create, no-change up (with refresh, as a converge does), preview, destroy and remove
    one throwaway stack, making the CLI calls StackOperations makes (`stack init` before the
    first up, no `stack select`, results from the engine's events), with nothing upstream.
    `attach`: the dynamic provider is the worker's running server (stacks.provider_host)."""
    from stacks import provider_host
    from stacks.operations import _Addressed, _answer_from_events

    name = f"floor-{label}-{secrets.token_hex(3)}"
    out: dict[str, float] = {}

    def timed(key: str, work: Callable[[auto.Stack, StepRecorder], object], create: bool = False) -> None:
        opts = engine.workspace_options(config)
        server = provider_host.attached(opts.env_vars) if attach else contextlib.nullcontext({})
        started = time.perf_counter()
        with server as attached:
            opts.env_vars.update(attached)
            stack = (auto.create_stack(name, engine.PROJECT, program, opts=opts) if create
                     else _Addressed(name, program, opts))
            recorder = StepRecorder()
            _answer_from_events(stack, recorder, "update")
            work(stack, recorder)
        out[key] = time.perf_counter() - started

    timed("full up", lambda s, r: s.up(color="never", on_event=r), create=True)
    timed("no-change up", lambda s, r: s.up(color="never", refresh=True, on_event=r))
    timed("preview", lambda s, r: s.preview(color="never", diff=True, on_event=r))
    timed("destroy", lambda s, r: s.destroy(color="never", on_event=r))
    _Addressed(name, program, engine.workspace_options(config)).workspace.remove_stack(name)
    return out


def measure_floor(config: engine.EngineConfig, n: int) -> dict[str, dict[str, float]]:
    """Medians of n rounds per operation: 'empty', 'inert' (one inert resource, the engine
    starting its provider process) and 'attached' (the same, the provider server attached)."""
    from stacks import provider_host

    with provider_host.attached(engine.engine_env(config)):  # started before the clock runs, as a worker's is
        rounds: dict[str, list[dict[str, float]]] = {"empty": [], "inert": [], "attached": []}
        for _ in range(n):
            rounds["empty"].append(floor_once(config, _empty_program, "empty"))
            rounds["inert"].append(floor_once(config, _inert_program, "inert"))
            rounds["attached"].append(floor_once(config, _inert_program, "attached", attach=True))
    return {kind: {op: statistics.median(r[op] for r in runs) for op in runs[0]} for kind, runs in rounds.items()}


def passphrase_key(n: int = 3) -> float:
    """The passphrase secrets manager's key derivation, which every CLI call that opens a
    stack pays (PBKDF2-HMAC-SHA256, 1,000,000 rounds, pulumi sdk go/common/resource/config/
    crypt.go), timed here with the same parameters through OpenSSL: median of n."""
    import hashlib

    times = []
    for _ in range(n):
        started = time.perf_counter()
        hashlib.pbkdf2_hmac("sha256", secrets.token_bytes(16), secrets.token_bytes(8), 1_000_000, 32)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def cli_start(n: int) -> float:
    """The Pulumi CLI starting and exiting (`pulumi version`), median of n."""
    from stacks import install

    times = []
    for _ in range(n):
        started = time.perf_counter()
        subprocess.run([str(install.cli_path()), "version"], capture_output=True, check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def bench_floor(n: int) -> int:
    from app.services.hosting.engine import engine_config

    settings = Settings.from_env()
    config = engine_config(settings)
    print(f"engine floor: {n} rounds each, same postgres:// backend, nothing upstream (medians)")
    start = cli_start(max(n, 5))
    floor = measure_floor(config, n)
    print(f"\n{'operation':16} {'empty program':>14} {'1 inert resource':>17} {'same, provider attached':>24}")
    for op in floor["empty"]:
        print(f"{op:16} {_ms(floor['empty'][op]):>14} {_ms(floor['inert'][op]):>17} {_ms(floor['attached'][op]):>24}")
    print(f"\nPulumi CLI start and exit (`pulumi version`): {_ms(start).strip()}")
    print(f"the passphrase key derivation every stack-opening CLI call pays (PBKDF2-SHA256, 10^6 rounds, "
          f"OpenSSL): {_ms(passphrase_key()).strip()}")
    return 0


# --- the profile of one converge ----------------------------------------------------------

def _median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def _phases(calls, timeline: Timeline, program_spans, total: float, ops_time: float) -> dict[str, float]:
    """One engine operation cut into phases, from the CLI calls, the program's clock and the
    events' arrival times."""
    main = next((c for c in reversed(calls) if c[0] in ("up", "preview", "refresh", "destroy")), None)
    phases: dict[str, float] = {"CLI calls besides the operation (stack select/init, ...)":
                                sum(e - s for label, s, e in calls if (label, s, e) != main)}
    if main:
        _, cli_started, cli_done = main
        steps = timeline.steps()
        program = next(((s, e) for s, e in program_spans if cli_started <= s <= cli_done), None)
        first_step = min((s for _, _, s, _ in steps), default=cli_done)
        last_step = max((e for _, _, _, e in steps), default=first_step)
        if program and program[0] <= first_step:
            phases["operation: CLI start, backend read, language host, until the program runs"] = \
                program[0] - cli_started
            phases["operation: program construction (our process)"] = program[1] - program[0]
            phases["operation: program built -> first resource step"] = max(0.0, first_step - program[1])
        else:  # a refresh reads every resource before the program runs
            phases["operation: CLI start, backend read, plugins, until the first resource step"] = \
                first_step - cli_started
            if program:
                phases["  (program construction, during the steps: not added again)"] = program[1] - program[0]
        phases["operation: resource steps (first start -> last done; provider calls)"] = last_step - first_step
        phases["operation: after the last step (final checkpoint, plugins stop, CLI exit)"] = cli_done - last_step
    phases["our bookkeeping (runs, steps, spec, outputs rows) outside the engine"] = total - ops_time
    phases["total"] = total
    return phases


def bench_profile(n: int) -> int:
    import stacks.operations as operations

    from app.services.hosting.converge import Converger
    from app.services.hosting.engine import engine_config, stack_operations
    from app.services.hosting.specs import build_spec

    settings = Settings.from_env()
    _providers_configured(settings)
    calls = CliCalls().install()
    clock = ProgramClock()
    operations.program_for = clock.wrap(operations.program_for)  # this process only: to time construction

    print(f"converge profile: {n} fresh subscriptions (external domain), real engine and local servers; "
          "the floor measured in the same run (medians)")
    start = cli_start(5)
    floor = measure_floor(engine_config(settings), max(1, min(n, 3)))
    imports = provider_process_imports(5)

    ops_for_run = stack_operations(settings)
    kinds = ("full up", "no-change up", "preview")
    phases: dict[str, list[dict[str, float]]] = {k: [] for k in kinds}
    counters: dict[str, list[dict[str, int]]] = {k: [] for k in kinds}
    steps: dict[str, dict[str, list[float]]] = {k: {} for k in kinds}

    for i in range(n):
        sid = _new_subscription(settings)
        for kind in kinds:
            timeline = Timeline()
            ops = stack_operations(settings)
            ops_spent: list[float] = []
            run = ops.preview if kind == "preview" else ops.up

            def timed_op(spec, recorder=None, *args, _run=run, _timeline=timeline, **kwargs):
                started = time.perf_counter()
                try:
                    return _run(spec, _timeline.tap(recorder), *args, **kwargs)
                finally:
                    ops_spent.append(time.perf_counter() - started)
            mark = len(calls.calls)
            with counted(settings.PULUMI_BACKEND_URL, counters[kind]):
                started = time.perf_counter()
                if kind == "preview":
                    with db.transaction(settings.DATABASE_URL) as conn:
                        spec = build_spec(conn, sid, settings)
                    timed_op(spec)
                else:
                    ops.up = timed_op
                    Converger(settings, ops).converge(sid)
                total = time.perf_counter() - started
            phases[kind].append(_phases(calls.since(mark), timeline, clock.spans, total, sum(ops_spent)))
            for name, op, s, e in timeline.steps():
                steps[kind].setdefault(f"{name} ({op})", []).append(e - s)
        with db.transaction(settings.DATABASE_URL) as conn:
            conn.execute("UPDATE subscriptions SET status = 'terminated' WHERE id = %s", (sid,))
        Converger(settings, ops_for_run).converge(sid)
        print(f"  subscription {sid}: full up {phases['full up'][-1]['total']:.2f}s, no-change "
              f"{phases['no-change up'][-1]['total']:.2f}s, preview {phases['preview'][-1]['total']:.2f}s", flush=True)

    names = list(dict.fromkeys(k for kind in kinds for p in phases[kind] for k in p))
    print(f"\n{'phase':84} " + " ".join(f"{k:>13}" for k in kinds))
    for name in names:
        cells = [[p[name] for p in phases[k] if name in p] for k in kinds]
        print(f"{name:84} " + " ".join(f"{_ms(_median(c)) if c else '-':>13}" for c in cells))
    print(f"{'floor: the same operation on an empty program (same backend, same run)':84} "
          f"{_ms(floor['empty']['full up']):>13} {_ms(floor['empty']['no-change up']):>13} "
          f"{_ms(floor['empty']['preview']):>13}")
    print(f"{'floor: one inert dynamic resource (adds the provider process)':84} "
          f"{_ms(floor['inert']['full up']):>13} {_ms(floor['inert']['no-change up']):>13} "
          f"{_ms(floor['inert']['preview']):>13}")
    print(f"{'floor: one inert dynamic resource, provider server attached (as our runs are)':84} "
          f"{_ms(floor['attached']['full up']):>13} {_ms(floor['attached']['no-change up']):>13} "
          f"{_ms(floor['attached']['preview']):>13}")
    for what in ("writes", "lookups", "commits"):
        label = {"writes": "Pulumi state rows written (checkpoints, history, backups)",
                 "lookups": "Pulumi state table lookups", "commits": "backend database commits"}[what]
        print(f"{label:84} " + " ".join(f"{_median([c[what] for c in counters[k]]):>13.0f}" for k in kinds))
    print("\nprovider steps as the engine reported them (event arrival, +-0.1 s; parallel steps overlap):")
    for kind in kinds:
        for name, values in sorted(steps[kind].items(), key=lambda kv: -_median(kv[1])):
            print(f"  {kind:13} {name:36} {_ms(_median(values))}")
    print(f"\nPulumi CLI start and exit (`pulumi version`): {_ms(start).strip()}")
    print("the dynamic-provider process's imports, fresh interpreter (medians):")
    for name, seconds in imports.items():
        print(f"  {name:60} {_ms(seconds)}")
    return 0
