"""A stored customer record the zone would refuse cannot stop a stack: it is quarantined (left out,
the reason kept) and the account, certificate, mailboxes and managed records still converge."""
from __future__ import annotations

from tests.factories import make_subscription, unique_domain


def _store(db_conn, sid: int, name: str, rtype: str, content: str) -> int:
    return db_conn.execute(
        "INSERT INTO dns_records (domain_id, name, type, content, ttl) "
        "SELECT id, %s, %s, %s, 300 FROM domains WHERE subscription_id = %s RETURNING id",
        (name, rtype, content, sid)).fetchone()["id"]


def test_a_record_the_zone_refuses_is_quarantined_and_the_stack_converges(db_conn, settings, converger, servers):
    domain = unique_domain("quar")
    sid = make_subscription(db_conn, settings, domain=domain)
    # Written around the panel (as the panel stored it before the fix: the quoted SPF unquoted once),
    # beside a good record that must still be published.
    bad = _store(db_conn, sid, "@", "TXT", '"v=spf1 include:evil.example -all')
    _store(db_conn, sid, "shop", "A", "192.0.2.55")
    try:
        assert converger.converge(sid) == "up"
        row = db_conn.execute("SELECT quarantined_reason, quarantined_at FROM dns_records WHERE id = %s",
                              (bad,)).fetchone()
        assert "SPF" in row["quarantined_reason"] and row["quarantined_at"] is not None
        assert servers.dns(f"shop.{domain}", "A") == ["192.0.2.55"]
        assert not any("evil.example" in t for t in servers.dns(domain, "TXT"))
        assert servers.dns(domain, "MX") and servers.whm_accounts_for(domain)
        status = db_conn.execute("SELECT provisioning_status FROM subscriptions WHERE id = %s", (sid,)).fetchone()
        assert status["provisioning_status"] == "ready"

        # A second up (forced: nothing changed, which the shortcut would skip) still passes.
        assert converger.converge(sid, force=True) == "up"
    finally:
        db_conn.execute("UPDATE subscriptions SET status = 'terminated' WHERE id = %s", (sid,))
        converger.converge(sid)
