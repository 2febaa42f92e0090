"""Retiring a web server from the console, in a real browser (issue 26 item 5): an account lives
on web server B (a second WHM stand-in and sshd, tests/web_server_b.py); an admin asks to retire B
and is refused while it holds the account, moves the account to web server A with the console's
Move form (the worker copies it, switches DNS, removes it from B), then retires B. Screenshots
(desktop and 768 px, axe-core clean) under pytest's tmp dir."""
from __future__ import annotations

import secrets
from pathlib import Path

import psycopg
import pytest
import requests

from app import db
from app.services.hosting import servers
from tests.e2e.conftest import seed_payload, wait_for
from tests.e2e.test_ops_console import CHROMIUM, a_staff, log_in
from tests.e2e.test_ops_console_manage import audited, browser, looked_at, page, shots  # noqa: F401  (fixtures)
from tests.web_server_b import running_web_server_b, sell_only_on

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")


@pytest.fixture(scope="module")
def web_server_b(settings, layout):
    # Offsets of its own: tests/integration/servers runs its B at 587/522 in the same session.
    yield from running_web_server_b(settings, layout, offsets=(588, 523), folder="web-b-console")


@pytest.fixture
def group_on_b(settings, layout, web_server_b):
    """A group whose only server is B, a plan selling it, and A ready to restore archives."""
    name = f"retire_{secrets.token_hex(3)}"
    b = sell_only_on(settings, web_server_b, name)
    a_archives = layout.root / "whm" / "backups"  # where A's WHM stand-in restores archives from
    a_archives.mkdir(parents=True, exist_ok=True)
    servers.update_server(settings, str(settings.DEFAULT_WEB_SERVER_ID), servers.ServerInput(archive_dir=str(a_archives)))
    yield {"plan": name, "server": b, "name": f"web-b-{name}"}
    with db.transaction(settings.DATABASE_URL) as conn:
        conn.execute("UPDATE plans SET active = false WHERE slug = %s", (name,))
        conn.execute("UPDATE servers SET status = 'retired' WHERE id = %s", (b,))


def _accounts(whm_url: str, user: str, token: str, domain: str) -> list[str]:
    body = requests.get(f"{whm_url}/json-api/listaccts", params={"api.version": 1, "search": domain,
                                                                 "searchtype": "domain", "searchmethod": "exact"},
                        headers={"Authorization": f"whm {user}:{token}"}, timeout=10).json()
    assert body.get("metadata", {}).get("result") == 1, body
    return [a["user"] for a in (body.get("data") or {}).get("acct") or []]


def test_an_admin_is_refused_retiring_a_server_with_accounts_moves_them_away_then_retires_it(
        mpanel, settings, page, shots, web_server_b, group_on_b):
    # A domain of its own letters: cPanel usernames come from the domain's first eight, and A must not
    # already hold one like it (a move refuses to overwrite another account).
    payload = seed_payload(testMode=True, promoCode="TESTFREE", planSlug=group_on_b["plan"],
                           domain=f"r{secrets.token_hex(4)}.com")
    answer = mpanel.checkout(payload)
    assert answer.status_code == 201, answer.text
    sid = answer.json()["subscriptionId"]
    mpanel.wait_until(sid, provisioningStatus="ready", deadline=180)
    domain = payload["domain"]
    b, a = group_on_b["server"], settings.DEFAULT_WEB_SERVER_ID
    with psycopg.connect(settings.DATABASE_URL) as conn:
        assert conn.execute("SELECT server_id FROM subscriptions WHERE id = %s", (sid,)).fetchone()[0] == b
    [user] = _accounts(web_server_b.whm_url, "root", web_server_b.token, domain)

    email, password = a_staff(settings, "admin")
    log_in(page, mpanel, email, password)
    page.click("header >> text=Servers")
    row = f"#server-{b}"
    assert "1 / 10" in page.inner_text(row)
    page.click(f"{row} summary")
    with page.expect_navigation():
        page.click(f"{row} >> text=Retire {group_on_b['name']}")
    assert "still holds 1 accounts: move them first" in page.inner_text("[role=alert]")
    assert "active" in page.inner_text(row)

    page.fill("input[name=subscription_id]", str(sid))
    page.select_option("select[name=to]", str(a))
    with page.expect_navigation():
        page.click("text=Request the move")
    assert f"of subscription {sid} to {a} requested" in page.inner_text("[role=status]")

    def moved():
        with psycopg.connect(settings.DATABASE_URL) as conn:
            state = conn.execute("SELECT state, error FROM account_moves WHERE subscription_id = %s "
                                 "ORDER BY id DESC LIMIT 1", (sid,)).fetchone()
        assert state[0] != "failed", state
        return state[0] == "done"
    wait_for(moved, 240, "the move to web server A")
    assert _accounts(settings.CPANEL_WHM_URL, settings.CPANEL_WHM_USERNAME, settings.CPANEL_WHM_API_TOKEN,
                     domain) == [user]
    assert _accounts(web_server_b.whm_url, "root", web_server_b.token, domain) == []

    page.goto(f"{mpanel.url}/ops/servers")
    assert "0 / 10" in page.inner_text(row)
    page.click(f"{row} summary")
    with page.expect_navigation():
        page.click(f"{row} >> text=Retire {group_on_b['name']}")
    assert "retired" in page.inner_text(row) and "retired" in page.inner_text("[role=status]")
    looked_at(page, shots, "servers-after-retire")
    did = [x[:2] for x in audited(settings, email) if x[0] != "login"]
    assert did == [("server_retire", "refused"), ("account_move", "ok"), ("server_retire", "ok")]
