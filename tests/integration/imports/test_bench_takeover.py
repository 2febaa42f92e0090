"""`mpanel bench takeover`, small and seeded: 20 accounts left on the server, 3 of them imported;
the sync report lists all 20 as unmanaged, every import finishes, none is unmanaged afterwards,
and the bench leaves nothing of its own behind."""
from __future__ import annotations

import psycopg

from app.devtools.bench.takeover import measure
from app.services.hosting.engine import provider_config
from providers.clients.whm import WhmClient


def test_the_takeover_bench_times_the_sync_report_and_imports_and_cleans_up(settings):
    figures = measure(settings, accounts=20, imports=3, n=2)

    assert len(figures.sync_seconds) == 2 and all(s > 0 for s in figures.sync_seconds)
    assert figures.unmanaged_ours == 20
    assert len(figures.check_seconds) == len(figures.import_seconds) == len(figures.imported) == 3
    assert figures.unmanaged_after == 0
    with psycopg.connect(settings.DATABASE_URL) as conn:
        states = conn.execute("SELECT status, provisioning_status FROM subscriptions WHERE id = ANY(%s)",
                              (figures.imported,)).fetchall()
    assert states == [("terminated", "destroyed")] * 3
    assert len(set(figures.users)) == 20
    left = {a["user"] for a in WhmClient(provider_config(settings)).list_accounts()} & set(figures.users)
    assert left == set()
