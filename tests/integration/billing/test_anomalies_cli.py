"""`mpanel billing anomalies` lists what Stripe events claimed that our records do not support."""
from __future__ import annotations

import json
import secrets
import subprocess
import sys


def _anomaly(db_conn, kind: str, detail: str, resolved: bool = False) -> int:
    return db_conn.execute(
        "INSERT INTO billing_anomalies (stripe_event_id, event_type, kind, stripe_object_id, detail, resolved_at) "
        "VALUES (%s, 'checkout.session.completed', %s, %s, %s, CASE WHEN %s THEN now() END) RETURNING id",
        (f"evt_{secrets.token_hex(8)}", kind, f"cs_{secrets.token_hex(6)}", detail, resolved)).fetchone()["id"]


def _cli(*args: str) -> subprocess.CompletedProcess:
    # The real command, with the environment the test session's servers set up (tests/conftest.py).
    return subprocess.run([sys.executable, "-m", "app.cli", "billing", "anomalies", *args],
                          capture_output=True, text=True, timeout=60)


def test_open_anomalies_are_listed_and_resolved_ones_only_with_all(settings, db_conn):
    tag = secrets.token_hex(4)
    open_id = _anomaly(db_conn, "checkout_not_ours", f"open one {tag}")
    resolved_id = _anomaly(db_conn, "checkout_mismatch", f"resolved one {tag}", resolved=True)

    listed = _cli()
    assert listed.returncode == 0, listed.stderr
    assert f"#{open_id} " in listed.stdout and f"open one {tag}" in listed.stdout
    assert f"resolved one {tag}" not in listed.stdout

    everything = json.loads(_cli("--all", "--json").stdout)
    mine = {row["id"]: row for row in everything if tag in row["detail"]}
    assert set(mine) == {open_id, resolved_id}
    assert mine[open_id]["kind"] == "checkout_not_ours" and mine[open_id]["resolved_at"] is None
    assert mine[resolved_id]["resolved_at"] is not None
