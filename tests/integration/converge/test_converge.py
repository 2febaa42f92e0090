"""A subscription's stack converged by the real engine against the real local servers."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography import x509

from app.services.common import crypto
from app.services.hosting.engine import stack_operations
from stacks.events import StepRecorder
from app.services.hosting.specs import build_spec
from tests.factories import make_subscription, unique_domain
from tests.integration.converge.conftest import converged_for_the_module, converged_once


def _row(db_conn, sid):
    return db_conn.execute(
        "SELECT s.status, s.provisioning_status, s.provisioning_error, w.status AS website, w.cpanel_username, "
        "w.ssl_expires_at, d.status AS domain_status FROM subscriptions s "
        "LEFT JOIN websites w ON w.subscription_id = s.id LEFT JOIN domains d ON d.subscription_id = s.id "
        "WHERE s.id = %s", (sid,)).fetchone()


@pytest.fixture
def provisioned(db_conn, settings, converger):
    """An external-domain subscription, converged once, for a test that changes it; destroyed afterwards."""
    yield from converged_once(db_conn, settings, converger, "site")


@pytest.fixture(scope="module")
def looked_at(settings, converger):
    """One converged subscription shared by the tests that only look at it (a converge and a
    destroy each cost about 4.5 s); none of them may change it, so each still sees a first up."""
    yield from converged_for_the_module(settings, converger, "site")


def test_the_first_up_keeps_the_welcome_its_logins_sealed(db_conn, settings, looked_at):
    """The run keeps what its program exported, encrypted, for the welcome: the same values the
    CLI reads back from the stack; the welcome job's arguments (which workers log) carry none."""
    sid = looked_at
    sealed = db_conn.execute("SELECT sealed FROM welcome_logins WHERE subscription_id = %s", (sid,)).fetchone()["sealed"]
    args = db_conn.execute(
        "SELECT args FROM procrastinate_jobs WHERE task_name = 'send_welcome_email' "
        "AND (args->>'subscription_id')::int = %s ORDER BY id DESC LIMIT 1", (sid,)).fetchone()["args"]
    read_from_stack = stack_operations(settings).outputs(sid)

    assert json.loads(crypto.decrypt(settings, bytes(sealed))) == read_from_stack
    assert read_from_stack["cpanel_password"].encode() not in bytes(sealed)
    assert args == {"subscription_id": sid}


def test_a_full_up_builds_every_real_object(db_conn, settings, looked_at, servers):
    sid = looked_at
    row = _row(db_conn, sid)
    assert (row["provisioning_status"], row["website"], row["domain_status"]) == ("ready", "active", "external")
    domain = db_conn.execute("SELECT name FROM domains WHERE subscription_id = %s", (sid,)).fetchone()["name"]
    outputs = stack_operations(settings).outputs(sid)

    [account] = servers.whm_accounts_for(domain)
    assert servers.dns(domain, "A") == [account["ip"]]
    assert servers.dns(f"www.{domain}", "A") == [account["ip"]]
    assert servers.dns(domain, "MX")
    assert account["user"] == outputs["cpanel_username"] == row["cpanel_username"]
    assert account["plan"] == "mpanel_student"
    assert servers.imap_login(outputs["mailbox_address"], outputs["mailbox_password"])

    ssl = servers.whm("fetchsslinfo", domain=domain)["data"]
    leaf = x509.load_pem_x509_certificate(ssl["crt"].encode())
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
    assert sorted(names) == sorted([domain, f"www.{domain}"])
    assert int(ssl.get("ssl_redirect", 0)) == 1
    assert row["ssl_expires_at"] is not None

    page = Path(settings.SITES_HOME_ROOT) / account["user"] / "public_html" / "index.html"
    assert domain in page.read_text()


def test_the_zone_and_the_welcome_address_follow_the_ip_whm_gave_the_account(db_conn, settings, looked_at,
                                                                             servers):
    domain = db_conn.execute("SELECT name FROM domains WHERE subscription_id = %s", (looked_at,)).fetchone()["name"]
    row_ip = build_spec(db_conn, looked_at, settings).server_ip  # the servers row's address
    [account] = servers.whm_accounts_for(domain)
    assert account["ip"] != row_ip, "the stand-in must put accounts elsewhere for this test to mean anything"

    assert servers.dns(domain, "A") == servers.dns(f"www.{domain}", "A") == [account["ip"]]
    assert stack_operations(settings).outputs(looked_at)["server_ip"] == account["ip"]


def test_an_account_moved_in_whm_is_reported_as_drift_and_the_next_converge_moves_the_records(
        db_conn, settings, provisioned, servers, converger):
    domain = db_conn.execute("SELECT name FROM domains WHERE subscription_id = %s", (provisioned,)).fetchone()["name"]
    [account] = servers.whm_accounts_for(domain)
    servers.whm_drift(account["user"], ip="198.51.100.23")

    assert converger.check_drift(provisioned) is True
    assert converger.converge(provisioned) == "up"

    assert servers.dns(domain, "A") == servers.dns(f"www.{domain}", "A") == ["198.51.100.23"]
    assert stack_operations(settings).outputs(provisioned)["server_ip"] == "198.51.100.23"
    assert converger.check_drift(provisioned) is False


def test_each_resource_step_is_recorded_while_the_engine_runs(db_conn, looked_at):
    events = db_conn.execute("SELECT resource_name, op, status FROM provisioning_events WHERE subscription_id = %s",
                             (looked_at,)).fetchall()
    created = {e["resource_name"] for e in events if e["op"] == "create" and e["status"] == "done"}
    assert {"zone", "certificate", "account", "tls", "mail-domain", "mailbox-admin", "starter-page"} <= created


def test_a_second_preview_shows_no_changes(db_conn, settings, looked_at):
    recorder = StepRecorder()
    result = stack_operations(settings).preview(build_spec(db_conn, looked_at, settings), recorder)
    assert set(result.change_summary) == {"same"}


def test_the_result_answered_from_engine_events_matches_what_the_cli_says(db_conn, settings, looked_at):
    """up's and refresh's results come from the engine's events (no extra CLI runs); they
    must equal what `stack output` and `stack history` report for the same update."""
    ops = stack_operations(settings)
    spec = build_spec(db_conn, looked_at, settings)
    for operation in (lambda rec: ops.up(spec, rec), lambda rec: ops.refresh(spec, rec)):
        recorder = StepRecorder()
        result = operation(recorder)
        assert recorder.resource_changes is not None and recorder.stack_outputs is not None, "answered by the CLI"
        with ops._stack(spec.stack_name, existing=True) as stack:
            from_cli = stack.outputs()
            [last] = stack.history(page_size=1)
        assert result.summary.resource_changes == last.resource_changes
        assert set(result.summary.resource_changes) == {"same"}
        if hasattr(result, "outputs"):
            assert {k: v.secret for k, v in result.outputs.items()} == {k: v.secret for k, v in from_cli.items()}
            assert {k: v.value for k, v in result.outputs.items() if not v.secret} == \
                {k: v.value for k, v in from_cli.items() if not v.secret}
            assert all(v.value == "[secret]" for v in result.outputs.values() if v.secret)


def test_a_plan_change_converges_in_place(db_conn, settings, converger, provisioned, servers):
    db_conn.execute("UPDATE subscriptions SET plan_id = (SELECT id FROM plans WHERE slug = 'shared_business') "
                    "WHERE id = %s", (provisioned,))
    converger.converge(provisioned)
    domain = db_conn.execute("SELECT name FROM domains WHERE subscription_id = %s", (provisioned,)).fetchone()["name"]
    [account] = servers.whm_accounts_for(domain)
    assert account["plan"] == "mpanel_business"
    run = db_conn.execute("SELECT summary FROM provisioning_runs WHERE subscription_id = %s AND operation = 'up' "
                          "ORDER BY id DESC LIMIT 1", (provisioned,)).fetchone()
    assert run["summary"].get("update") and not run["summary"].get("replace") and not run["summary"].get("create")


def test_suspension_and_reactivation_reach_the_whm_account(db_conn, converger, provisioned, servers):
    domain = db_conn.execute("SELECT name FROM domains WHERE subscription_id = %s", (provisioned,)).fetchone()["name"]
    db_conn.execute("UPDATE subscriptions SET status = 'suspended' WHERE id = %s", (provisioned,))
    converger.converge(provisioned)
    assert int(servers.whm_accounts_for(domain)[0]["suspended"]) == 1
    assert _row(db_conn, provisioned)["website"] == "suspended"
    db_conn.execute("UPDATE subscriptions SET status = 'active' WHERE id = %s", (provisioned,))
    converger.converge(provisioned)
    assert int(servers.whm_accounts_for(domain)[0]["suspended"]) == 0
    assert _row(db_conn, provisioned)["website"] == "active"


def _domain_status(db_conn, sid):
    return db_conn.execute("SELECT status FROM domains WHERE subscription_id = %s", (sid,)).fetchone()["status"]


def _terminate_and_check_registration_retained(db_conn, converger, servers, sid, domain):
    db_conn.execute("UPDATE subscriptions SET status = 'terminated' WHERE id = %s", (sid,))
    assert converger.converge(sid) == "destroyed"
    info = servers.namesilo("getDomainInfo", domain=domain)
    assert int(info["code"]) == 300, "the registration is the customer's: destroy must keep it"
    assert info["auto_renew"] in ("No", "no", 0, "0", False)


def test_a_new_registration_delegates_to_our_nameservers_and_survives_destroy(db_conn, settings, converger, servers):
    domain = unique_domain("new")
    sid = make_subscription(db_conn, settings, domain=domain, mode="new_registration")
    assert converger.converge(sid) == "up"
    info = servers.namesilo("getDomainInfo", domain=domain)
    assert int(info["code"]) == 300
    assert [n["nameserver"] for n in info["nameservers"]][:2] == [settings.NS1, settings.NS2]
    assert _domain_status(db_conn, sid) == "active"
    _terminate_and_check_registration_retained(db_conn, converger, servers, sid, domain)


def test_a_transfer_is_followed_until_the_registry_completes_it(db_conn, settings, converger, servers):
    import requests

    domain = unique_domain("xfer")
    sid = make_subscription(db_conn, settings, domain=domain, mode="transfer", auth_code="EPP-TEST-1")
    assert converger.converge(sid) == "up"
    assert "pending" in servers.namesilo("checkTransferStatus", domain=domain)["status"].lower()
    assert _domain_status(db_conn, sid) == "transfer_pending"

    requests.post(f"{settings.NAMESILO_API_URL.rsplit('/api', 1)[0]}/_sandbox/transfers/{domain}",
                  json={"status": "Transfer Completed"}, timeout=10).raise_for_status()
    assert converger.converge(sid) == "up"
    assert _domain_status(db_conn, sid) == "active"
    _terminate_and_check_registration_retained(db_conn, converger, servers, sid, domain)


def test_destroy_leaves_nothing_behind_in_any_server(db_conn, settings, converger, servers):
    domain = unique_domain("gone")
    sid = make_subscription(db_conn, settings, domain=domain)
    converger.converge(sid)
    outputs = stack_operations(settings).outputs(sid)
    db_conn.execute("UPDATE subscriptions SET status = 'terminated' WHERE id = %s", (sid,))
    assert converger.converge(sid) == "destroyed"

    assert servers.zone(domain) is None
    assert servers.whm_accounts_for(domain) == []
    assert not servers.imap_login(outputs["mailbox_address"], outputs["mailbox_password"])
    assert not stack_operations(settings).exists(sid)
    row = _row(db_conn, sid)
    assert (row["provisioning_status"], row["website"], row["domain_status"]) == ("destroyed", "removed", "released")


def test_the_drift_check_sees_a_change_made_behind_our_back_and_up_undoes_it(db_conn, settings, converger,
                                                                             provisioned, servers):
    import requests

    domain = db_conn.execute("SELECT name FROM domains WHERE subscription_id = %s", (provisioned,)).fetchone()["name"]
    user = servers.whm_accounts_for(domain)[0]["user"]
    # The package changed on WHM (a suspension on WHM is recorded as WHM's own instead: test_whm_suspensions.py).
    requests.post(f"{settings.CPANEL_WHM_URL}/_sandbox/accounts/{user}", json={"plan": "someone_elses_package"},
                  timeout=10).raise_for_status()
    assert converger.check_drift(provisioned) is True
    run = db_conn.execute("SELECT drift, summary FROM provisioning_runs WHERE subscription_id = %s "
                          "AND operation = 'refresh' ORDER BY id DESC LIMIT 1", (provisioned,)).fetchone()
    assert run["drift"] is True and run["summary"]["pending"].get("update")

    converger.converge(provisioned)
    assert servers.whm_accounts_for(domain)[0]["plan"] == "mpanel_student"
    assert converger.check_drift(provisioned) is False
