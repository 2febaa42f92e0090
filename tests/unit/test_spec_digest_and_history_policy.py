"""The desired state's digest (stacks/spec.py) and the history pruning policy (stacks/history.py)."""
from __future__ import annotations

import dataclasses

from stacks.history import Backend, beyond_policy
from stacks.spec import MailboxSpec, spec_digest
from tests.unit.test_spec_from_rows import spec


def test_the_digest_is_stable_and_changes_with_the_desired_state_only():
    one = spec()
    assert spec_digest(one) == spec_digest(spec()) and len(spec_digest(one)) == 64
    assert spec_digest(dataclasses.replace(one, converged_before=not one.converged_before)) == spec_digest(one)
    assert spec_digest(dataclasses.replace(one, disk_quota_mb=one.disk_quota_mb + 1)) != spec_digest(one)
    # a secret changes it too, and never appears in it
    key = dataclasses.replace(one, ssh_private_key="-----BEGIN KEY----- other")
    assert spec_digest(key) != spec_digest(one) and "other" not in spec_digest(key)
    with_password = dataclasses.replace(one, mailboxes=(MailboxSpec("info", 100, "s3cret", 7, b"\x01\x02"),))
    assert spec_digest(with_password) != spec_digest(one)


def test_the_policy_keeps_the_newest_n_and_every_update_newer_than_the_cutoff():
    entries = [(f"p{i}", 1000 - i) for i in range(10)]  # newest first
    assert beyond_policy(entries, keep=3, newer_than_nanos=995) == ["p6", "p7", "p8", "p9"]
    assert beyond_policy(entries, keep=8, newer_than_nanos=995) == ["p8", "p9"]
    assert beyond_policy(entries, keep=3, newer_than_nanos=0) == []


def test_the_backend_url_gives_the_connection_the_table_and_the_key_prefix():
    b = Backend.from_url("postgres://u:p@h:5432/pulumi?sslmode=disable&table=state")
    assert (b.dsn, b.table, b.prefix) == ("postgresql://u:p@h:5432/pulumi?sslmode=disable", "state", "pulumi/")
    assert Backend.from_url("postgres://h/db").table == "pulumi_state"
