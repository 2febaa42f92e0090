"""The converge's shortcut: a desired state already applied, on a stack refreshed recently, needs
no engine run (no Pulumi CLI is started; the converge answers "nothing to do" in milliseconds).

Applied: the latest converging run succeeded having applied a spec with the same digest
(stacks/spec.py `spec_digest`, with a fingerprint of the program and providers' code, so a
release that changes what a spec makes runs the engine again). Refreshed recently: a successful
`up` or drift check finished inside MPANEL_DRIFT_WINDOW_HOURS (the nightly drift check keeps
it so). Never taken after a failed or interrupted run, after a drift check that found drift, for
a subscription not 'ready' or with a transfer pending, or when forced (an operator's "Converge
now", `mpanel stacks up`, the certificate renewal sweep: the clock changed, not the spec).
"""
from __future__ import annotations

import functools
import hashlib
from pathlib import Path

import psycopg

from app.db.hosting import runs
from app.settings import Settings
from stacks.spec import HostingSpec, spec_digest

_CHECKOUT = Path(__file__).resolve().parents[3]


@functools.cache
def _code_fingerprint() -> str:
    """The program and providers' source as this process loaded it (read once per process)."""
    h = hashlib.sha256()
    for package in ("stacks", "providers"):
        for path in sorted((_CHECKOUT / package).rglob("*.py")):
            h.update(str(path.relative_to(_CHECKOUT)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def desired_digest(spec: HostingSpec) -> str:
    return hashlib.sha256(f"{spec_digest(spec)}:{_code_fingerprint()}".encode()).hexdigest()


def already_applied(conn: psycopg.Connection, settings: Settings, spec: HostingSpec, digest: str) -> bool:
    row = runs.billing_state(conn, spec.subscription_id)
    if row is None or row["provisioning_status"] != "ready":
        return False
    applied = runs.last_applied(conn, spec.subscription_id, settings.MPANEL_DRIFT_WINDOW_HOURS)
    return applied is not None and applied["spec_digest"] == digest
