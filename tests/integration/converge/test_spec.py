"""The spec is built from the database alone, and the server choice is made once."""
from __future__ import annotations

from app.services.hosting.specs import build_spec
from tests.factories import make_subscription, unique_domain


def test_a_spec_carries_the_plan_domain_server_and_default_mailbox(db_conn, settings):
    domain = unique_domain("spec")
    sid = make_subscription(db_conn, settings, domain=domain, mode="transfer", auth_code="EPP-42")
    spec = build_spec(db_conn, sid, settings)
    assert spec.stack_name == f"sub-{sid}"
    assert (spec.domain, spec.domain_mode, spec.auth_code) == (domain, "transfer", "EPP-42")
    assert spec.whm_package == "mpanel_student" and spec.disk_quota_mb == 5120
    assert [m.local_part for m in spec.mailboxes] == ["admin"]
    assert spec.nameservers == (settings.NS1, settings.NS2)
    assert not spec.suspended and not spec.terminated


def test_the_auth_code_is_stored_encrypted(db_conn, settings):
    sid = make_subscription(db_conn, settings, mode="transfer", auth_code="EPP-SECRET-99")
    stored = db_conn.execute("SELECT auth_code_encrypted FROM domains WHERE subscription_id = %s", (sid,)).fetchone()
    assert b"EPP-SECRET-99" not in bytes(stored["auth_code_encrypted"])


def test_server_assignment_is_recorded_once(db_conn, settings):
    sid = make_subscription(db_conn, settings)
    first = build_spec(db_conn, sid, settings).server_id
    db_conn.execute("INSERT INTO servers (hostname, ip_address) VALUES ('web-spare-' || %s, '192.0.2.99') "
                    "ON CONFLICT DO NOTHING", (str(sid),))
    assert build_spec(db_conn, sid, settings).server_id == first
    stored = db_conn.execute("SELECT server_id FROM subscriptions WHERE id = %s", (sid,)).fetchone()["server_id"]
    assert stored == first
    db_conn.execute("DELETE FROM servers WHERE hostname = 'web-spare-' || %s", (str(sid),))


def test_plan_suspension_and_termination_follow_the_subscription_status(db_conn, settings):
    sid = make_subscription(db_conn, settings, plan="shared_business", status="suspended")
    spec = build_spec(db_conn, sid, settings)
    assert spec.suspended and spec.whm_package == "mpanel_business" and spec.mailbox_allowance == 100
    db_conn.execute("UPDATE subscriptions SET status = 'terminated' WHERE id = %s", (sid,))
    assert build_spec(db_conn, sid, settings).terminated
