"""Recovering a stack a killed run left behind: what the CLI says when that happened.

A run that dies holding the stack's lock (or with operations pending) blocks every later
run until someone clears it. Clearing it is safe only when the run's process is gone, and
only the caller can know that: mpanel decides it from worker heartbeats in PostgreSQL
(app/services/hosting/workers.py), never from the hostname and pid written in the lock, since
containers share both. StackOperations takes that decision as `lock_holder_gone`; the
providers then adopt what the dead run left upstream (architecture decision 5).
"""
from __future__ import annotations

import re

from psycopg import sql

from stacks.history import STACKS, Backend, like_escaped

# What the CLI says when a previous run died holding the lock or mid-operation.
LEFT_BY_A_DEAD_RUN = re.compile(r"currently locked|pending operation|interrupted while|"
                                r"operation was interrupted|update is in progress", re.IGNORECASE)


# A run killed inside `pulumi stack init` can leave the new stack's lock and no stack: the CLI
# then can neither create the stack (it is locked) nor cancel the lock (`pulumi cancel` needs
# the stack), so every later run failed the same way (found by `mpanel chaos`). The DIY
# backend keeps each lock as one object under .pulumi/locks/<org>/<project>/<stack>/
# (pkg/backend/diy/lock.go); stacks/history.py has the postgres:// backend's layout.
LOCKS = ".pulumi/locks/organization"


def remove_locks_of_a_missing_stack(backend_url: str, project: str, stack: str) -> int:
    """Delete the lock objects of `stack` when the backend holds no state for it (for a stack
    that exists, `pulumi cancel` is the way); the number removed. The caller decides the holder
    is gone, as for any lock (module docstring)."""
    backend = Backend.from_url(backend_url)
    table = sql.Identifier(backend.table)
    with backend.connect() as conn, conn.transaction():
        state = f"{backend.prefix}{STACKS}/{project}/{stack}.json"
        if conn.execute(sql.SQL("SELECT 1 FROM {} WHERE key LIKE %s").format(table),
                        (like_escaped(state) + "%",)).fetchone():
            return 0
        locks = f"{backend.prefix}{LOCKS}/{project}/{stack}/"
        return conn.execute(sql.SQL("DELETE FROM {} WHERE key LIKE %s").format(table),
                            (like_escaped(locks) + "%",)).rowcount
