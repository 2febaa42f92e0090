"""`mpanel db upgrade`: the seed's tables plus the flow's, applied once, harmless to repeat."""
from __future__ import annotations

import psycopg
import pytest

from app import db


def test_upgrading_twice_applies_nothing_the_second_time(settings):
    assert db.upgrade(settings.DATABASE_URL) == []


def test_the_seed_tables_and_the_job_queue_exist(db_conn):
    tables = {r["table_name"] for r in db_conn.execute(
        "select table_name from information_schema.tables where table_schema = 'public'")}
    assert {"users", "customers", "subscriptions", "domains", "websites", "servers", "dns_zones", "plans",
            "promo_codes", "stripe_events", "provisioning_runs", "provisioning_events", "emails_sent",
            "procrastinate_jobs"} <= tables


def test_the_student_plan_is_seeded_with_both_prices_and_its_whm_package(db_conn):
    plan = db_conn.execute("select * from plans where slug = 'shared_student'").fetchone()
    assert plan["price_monthly_cents"] > 0 and plan["price_yearly_cents"] > plan["price_monthly_cents"]
    assert plan["whm_package"] == "mpanel_student" and plan["mailbox_count"] >= 1


def test_a_stripe_event_id_is_recorded_only_once(db_conn):
    db_conn.execute("insert into stripe_events (id, type, payload) values ('evt_once_test', 't', '{}') "
                    "on conflict do nothing")
    with pytest.raises(psycopg.errors.UniqueViolation):
        db_conn.execute("insert into stripe_events (id, type, payload) values ('evt_once_test', 't', '{}')")
