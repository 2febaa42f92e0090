"""A small seeded `mpanel chaos` against the running app and worker: a few paid orders through
redelivered, shuffled, forged and stale Stripe events; SIGKILLs in the middle of engine runs of
the engine's processes and of worker children (the billing-and-mail one included: its job
waits for the stalled-job sweep, a minute or two); every outage (PowerDNS, Dovecot and pebble
down, PostgreSQL's connections dropped, stand-in faults) and the permanent faults; every
invariant must hold, within a few minutes. The full run (1,000 deliveries, 100 kills, every
outage) is a command:
`mpanel chaos --checkouts 40 --deliveries 1000 --kills 100 --outages all`.
"""
from __future__ import annotations

import imaplib
import os
import re

import pytest

from tests.polling import wait_for


@pytest.fixture
def fresh_pools_afterwards(settings):
    """The run drops every connection to this worker's databases, this process's pooled ones
    too, again and again: the tests after it start from fresh pools, and from a Dovecot whose
    SQL connection is back (the first login after a drop is answered "[UNAVAILABLE] Temporary
    authentication failure" while it reconnects; a mail client tries again, a test would fail)."""
    yield
    from app import db

    db.close_pools()
    wait_for(lambda: _dovecot_answers_for_certain(settings), 30, "Dovecot's SQL connection to be back")


def _dovecot_answers_for_certain(settings) -> bool:
    """A login nobody has: refused for certain once Dovecot can ask its database again."""
    host, port = settings.IMAP_ADDRESS.split(":")
    with imaplib.IMAP4(host, int(port), timeout=10) as imap:
        try:
            imap.login("nobody@chaos.invalid", "no-such-password")
        except imaplib.IMAP4.error as refused:
            return "UNAVAILABLE" not in str(refused)
    return False


def test_a_small_chaos_run_keeps_every_invariant(mpanel, settings, capsys, fresh_pools_afterwards):
    from app.cli import main

    seed = int(os.environ.get("MPANEL_CHAOS_SEED", 7))
    code = main(["chaos", "--checkouts", "3", "--deliveries", "20", "--kills", "6", "--kill-targets", "all",
                 "--seed", str(seed), "--outages", "all", "--outage-seconds", "3",
                 "--spread", "40", "--settle", "300", "--url", mpanel.url])
    out = capsys.readouterr().out
    print(out)
    assert code == 0, f"seed {seed}: an invariant broke:\n{out}"
    figures = dict(re.findall(r"^  (\S.*?\S)  +(\S.*)$", out, re.M))
    assert int(figures["deliveries: genuine"]) >= 18, "every one of 3 orders' 6 events delivered at least once"
    refused = sum(int(v) for k, v in figures.items() if re.match(r"answers: (forged|tampered|stale) -> 400", k))
    sent_bad = sum(int(figures.get(f"deliveries: {k}", 0)) for k in ("forged", "tampered", "stale"))
    assert sent_bad >= 3 and refused == sent_bad
    assert int(figures["SIGKILL: total"]) >= 1, "nothing was killed: the run tested no crash"
    assert int(figures["postgres connections dropped"]) >= 1, "no connection dropped: the run tested no outage"
    assert int(figures["outages delivered"]) == 7, "every outage within the window"
    assert int(figures["invariants broken"]) == 0 and int(figures["invariants held"]) >= 10
