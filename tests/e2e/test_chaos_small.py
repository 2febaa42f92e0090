"""A small seeded `mpanel chaos` against the running app and worker: a few paid orders through
redelivered, shuffled, forged and stale Stripe events, SIGKILLs of the engine's processes in
the middle of runs, a PowerDNS outage and stand-in faults; every invariant must hold.

Worker children are not killed here: a killed one's job waits for the stalled-job sweep (a
minute or two), which tests/integration/supervision covers. Nor are PostgreSQL's connections
dropped: a job whose end cannot be recorded then stays 'doing' under its live worker, and a
billing one holds the billing lock for good (procrastinate's ConnectorException; found by
`mpanel chaos --outages postgres`, not fixed yet). The full run (1,000 deliveries, 100 kills of
both kinds, every outage) is a command:
`mpanel chaos --checkouts 40 --deliveries 1000 --kills 100 --outages all`.
"""
from __future__ import annotations

import os
import re


def test_a_small_chaos_run_keeps_every_invariant(mpanel, settings, capsys):
    from app.cli import main

    seed = int(os.environ.get("MPANEL_CHAOS_SEED", 7))
    code = main(["chaos", "--checkouts", "3", "--deliveries", "20", "--kills", "3", "--kill-targets", "engine",
                 "--seed", str(seed), "--outages", "powerdns,whm,namesilo,stripe", "--outage-seconds", "2",
                 "--spread", "10", "--settle", "240", "--url", mpanel.url])
    out = capsys.readouterr().out
    print(out)
    assert code == 0, f"seed {seed}: an invariant broke:\n{out}"
    figures = dict(re.findall(r"^  (\S.*?\S)  +(\S.*)$", out, re.M))
    assert int(figures["deliveries: genuine"]) >= 18, "every one of 3 orders' 6 events delivered at least once"
    refused = sum(int(v) for k, v in figures.items() if re.match(r"answers: (forged|tampered|stale) -> 400", k))
    sent_bad = sum(int(figures.get(f"deliveries: {k}", 0)) for k in ("forged", "tampered", "stale"))
    assert sent_bad >= 3 and refused == sent_bad
    assert int(figures["SIGKILL: total"]) >= 1, "no engine process was killed: the run tested no crash"
    assert int(figures["invariants broken"]) == 0 and int(figures["invariants held"]) >= 10
