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

# What the CLI says when a previous run died holding the lock or mid-operation.
LEFT_BY_A_DEAD_RUN = re.compile(r"currently locked|pending operation|interrupted while|"
                                r"operation was interrupted|update is in progress", re.IGNORECASE)
