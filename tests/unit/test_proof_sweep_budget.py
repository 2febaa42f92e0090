"""The proof-of-control sweep stops when its time is spent: it shares the billing-and-mail
worker with Stripe's events, and domains that never answer once held those back a minute."""
from __future__ import annotations

from contextlib import contextmanager

from app.services.domains import proof


def test_the_sweep_checks_the_least_recently_checked_first_and_stops_when_its_time_is_spent(monkeypatch):
    checked, now = [], [0.0]

    @contextmanager
    def no_database(dsn):
        yield None

    def check_domain(settings, domain_id):
        checked.append(domain_id)
        now[0] += 4.0  # a domain whose nameservers never answer
        return domain_id == 7

    monkeypatch.setattr(proof.db, "transaction", no_database)
    monkeypatch.setattr(proof.rows, "unproven_ids", lambda conn: [7, 3, 9, 1])
    monkeypatch.setattr(proof, "check_domain", check_domain)

    class Settings:
        DATABASE_URL = "postgresql://unused"

    assert proof.check_unproven_domains(Settings(), budget=10.0, clock=lambda: now[0]) == 1
    assert checked == [7, 3, 9]  # 0, 4 and 8 s were inside the budget; at 12 s the rest wait
