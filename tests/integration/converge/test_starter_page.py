"""The starter page, published through pulumi_command's remote.Command over the local OpenSSH
server: read back over SSH, left alone by later converges, and never sent to an unknown host."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from app.services.hosting.errors import TransientConvergeError
from tests.factories import make_subscription, unique_domain
from tests.site_shell import over_ssh




@pytest.fixture
def site(db_conn, settings, converger, servers):
    domain = unique_domain("page")
    sid = make_subscription(db_conn, settings, domain=domain)
    assert converger.converge(sid) == "up"
    [account] = servers.whm_accounts_for(domain)
    yield sid, domain, f"{settings.SITES_HOME_ROOT}/{account['user']}/public_html/index.html"
    db_conn.execute("UPDATE subscriptions SET status = 'terminated' WHERE id = %s", (sid,))
    converger.converge(sid)


def test_the_page_is_on_the_web_server(settings, site):
    _, domain, page = site
    read = over_ssh(settings, f"cat {page}")
    assert read.returncode == 0, read.stderr
    assert domain in read.stdout and "<html" in read.stdout.lower()


def test_later_converges_leave_the_customers_page_alone_and_never_bring_it_back(settings, site, converger,
                                                                               db_conn):
    sid, domain, page = site
    assert over_ssh(settings, f"printf 'my own shop' > {page}").returncode == 0
    # A plan change: the page's own input (its stdin names the plan) and the account's package
    # change, so the page has a diff that ignore_changes must hide, and without it the
    # script's guard must still keep the customer's page.
    db_conn.execute("UPDATE subscriptions SET plan_id = (SELECT id FROM plans WHERE slug = 'shared_starter') "
                    "WHERE id = %s", (sid,))
    assert converger.converge(sid) == "up"
    assert over_ssh(settings, f"cat {page}").stdout == "my own shop"
    run = db_conn.execute("SELECT id, summary FROM provisioning_runs WHERE subscription_id = %s "
                          "AND operation = 'up' ORDER BY id DESC LIMIT 1", (sid,)).fetchone()
    assert run["summary"].get("update") and not run["summary"].get("replace"), run["summary"]  # the package changed
    page_steps = {r["op"] for r in db_conn.execute(
        "SELECT op FROM provisioning_events WHERE run_id = %s AND resource_name = 'starter-page' "
        "AND op IS NOT NULL", (run["id"],)).fetchall()}
    assert page_steps <= {"same", "refresh"}, f"the page was touched: {page_steps}"

    assert over_ssh(settings, f"rm {page}").returncode == 0  # the customer installs WordPress instead
    assert converger.converge(sid, force=True) == "up"  # an operator's: the engine runs though nothing changed
    assert over_ssh(settings, f"test -e {page}").returncode == 1
    run = db_conn.execute("SELECT summary FROM provisioning_runs WHERE subscription_id = %s AND operation = 'up' "
                          "ORDER BY id DESC LIMIT 1", (sid,)).fetchone()
    assert not run["summary"].get("create") and not run["summary"].get("replace")


def test_a_web_server_answering_with_another_host_key_gets_nothing(db_conn, settings, converger, tmp_path):
    domain = unique_domain("mitm")
    sid = make_subscription(db_conn, settings, domain=domain)
    server_id = db_conn.execute("SELECT coalesce(server_id, %s) AS id FROM subscriptions WHERE id = %s",
                                (settings.DEFAULT_WEB_SERVER_ID, sid)).fetchone()["id"]
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "other")], check=True)
    other_key = (tmp_path / "other.pub").read_text().strip()
    db_conn.execute("UPDATE servers SET ssh_host_key = %s WHERE id = %s", (other_key, server_id))
    try:
        with pytest.raises(TransientConvergeError) as failed:
            converger.converge(sid)
        assert "key" in str(failed.value).lower() or "handshake" in str(failed.value).lower(), str(failed.value)
    finally:
        db_conn.execute("UPDATE servers SET ssh_host_key = NULL WHERE id = %s", (server_id,))
        db_conn.execute("UPDATE subscriptions SET status = 'terminated' WHERE id = %s", (sid,))
        converger.converge(sid)
