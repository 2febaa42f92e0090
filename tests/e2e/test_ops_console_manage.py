"""The console's management pages in a real browser (issue 26, items 5 to 7): web servers, staff
and the needs-attention work list, each driven through its forms by Playwright with Debian's
Chromium, refused by the server for a role below it (and audited), photographed at a desktop
width and at 768 px, and checked with axe-core (WCAG 2 A and AA: no violation).

The screenshots go under pytest's tmp dir (printed); look at them.
"""
from __future__ import annotations

import re
import secrets
from pathlib import Path

import psycopg
import pytest

from app.services.hosting import servers
from app.services.operators import staff
from tests.e2e.conftest import seed_payload, wait_for
from tests.e2e.test_ops_console import CHROMIUM, a_staff, fresh_page, log_in
from tools import axe

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")

DESKTOP, TABLET = {"width": 1360, "height": 900}, {"width": 768, "height": 1024}
ADD = "#add-heading ~ form "
HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"


@pytest.fixture(scope="module")
def browser(chromium):
    axe.ensure()
    return chromium


@pytest.fixture
def page(browser):
    # axe is injected as a script of its own: the console's policy rightly refuses it otherwise.
    yield from fresh_page(browser, viewport=DESKTOP, bypass_csp=True)


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("ops-console-shots")
    print(f"screenshots in {folder}")
    return folder


def looked_at(page, shots: Path, name: str) -> None:
    """Desktop and 768 px screenshots, no horizontal scrolling of the page at 768 px, and no
    WCAG 2 A/AA violation from axe-core."""
    page.set_viewport_size(DESKTOP)
    page.screenshot(path=str(shots / f"{name}-desktop.png"), full_page=True)
    page.set_viewport_size(TABLET)
    page.screenshot(path=str(shots / f"{name}-768.png"), full_page=True)
    overflow = page.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"{name} scrolls sideways at 768 px by {overflow} px"
    page.add_script_tag(path=str(axe.script()))
    found = page.evaluate("() => axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa']}})")
    violations = [(v["id"], v["help"], [n["target"] for n in v["nodes"]][:4]) for v in found["violations"]]
    assert not violations, f"{name}: {violations}"
    page.set_viewport_size(DESKTOP)


def audited(settings, email: str) -> list[tuple[str, str, str]]:
    with psycopg.connect(settings.DATABASE_URL) as conn:
        return conn.execute("SELECT action, outcome, coalesce(detail, '') FROM staff_audit_log WHERE staff_email = %s "
                            "ORDER BY id", (email,)).fetchall()


def a_server(settings, group: str) -> tuple[int, str]:
    name = f"web-{secrets.token_hex(3)}"
    server_id = servers.add_server(settings, servers.ServerInput(
        name=name, hostname=f"{name}.example.net", ip_address="192.0.2.91", whm_url=f"https://{name}.example.net:2087",
        whm_token="a-token", ssh_host_key=HOST_KEY, capacity=50, server_group=group))
    return server_id, name


def test_an_owner_adds_a_server_whose_token_is_never_shown_again(mpanel, settings, page, shots):
    email, password = a_staff(settings, "owner")
    log_in(page, mpanel, email, password)
    page.click("header >> text=Servers")
    name, token = f"web-{secrets.token_hex(3)}", f"whm-token-{secrets.token_hex(12)}"
    # Its own group: no order of the e2e plans is ever placed on this make-believe server.
    page.fill(ADD + "input[name=hostname]", f"{name}.example.net")
    page.fill(ADD + "input[name=ip_address]", "192.0.2.90")
    page.fill(ADD + "input[name=whm_url]", f"https://{name}.example.net:2087")
    page.fill(ADD + "input[name=whm_token]", token)
    page.fill(ADD + "input[name=ssh_host_key]", HOST_KEY)
    page.fill(ADD + "input[name=capacity]", "120")
    page.fill(ADD + "input[name=server_group]", f"console-{name}")
    with page.expect_navigation():
        page.click("text=Add the server")
    assert f"Server {name}.example.net added" in page.inner_text("[role=status]")
    row = page.inner_text(f"tr:has-text('{name}.example.net')")
    assert "0 / 120" in row and "active" in row and f"console-{name}" in row
    assert token not in page.content()
    with psycopg.connect(settings.DATABASE_URL) as conn:
        sealed = conn.execute("SELECT whm_token_encrypted FROM servers WHERE hostname = %s",
                              (f"{name}.example.net",)).fetchone()[0]
    assert token.encode() not in bytes(sealed)
    # A refusal names its field and keeps what was typed, except the token.
    page.fill(ADD + "input[name=hostname]", f"{name}.example.net")
    page.fill(ADD + "input[name=ip_address]", "192.0.2.90")
    page.fill(ADD + "input[name=whm_url]", "ftp://nope")
    page.fill(ADD + "input[name=whm_token]", token)
    page.fill(ADD + "input[name=ssh_host_key]", HOST_KEY)
    with page.expect_navigation():
        page.click("text=Add the server")
    assert "whm_url: must be http(s)" in page.inner_text("[role=alert]")
    assert page.input_value(ADD + "input[name=hostname]") == f"{name}.example.net" and not page.input_value(
        ADD + "input[name=whm_token]") and token not in page.content()
    looked_at(page, shots, "servers")
    actions = audited(settings, email)
    assert ("server_add", "ok") in [a[:2] for a in actions] and ("server_add", "refused") in [a[:2] for a in actions]
    assert not any(token in a[2] for a in actions)


def test_an_owner_adds_a_staff_member_who_sets_a_password_from_the_emailed_link(mpanel, settings, page, shots,
                                                                                   browser):
    email, password = a_staff(settings, "owner")
    log_in(page, mpanel, email, password)
    page.click("header >> text=Staff")
    newcomer = f"new-{secrets.token_hex(4)}@ops.example.net"
    page.fill("#add-staff-heading ~ form input[name=email]", newcomer)
    page.select_option("#add-staff-heading ~ form select[name=role]", "admin")
    with page.expect_navigation():
        page.click("text=Add and email a set-password link")
    assert f"{newcomer} added as admin" in page.inner_text("[role=status]")
    mail = wait_for(lambda: mpanel.mails_to(newcomer), 60, "the set-password email")[0]
    link = re.search(r"https?://\S+/ops/set-password\?token=\S+", mail.get_body(("plain",)).get_content()).group(0)
    with psycopg.connect(settings.DATABASE_URL) as conn:
        assert conn.execute("SELECT count(*) FROM staff_password_tokens t JOIN staff_users u ON u.id = t.staff_id "
                            "WHERE u.email = %s AND t.token_sealed IS NOT NULL", (newcomer,)).fetchone()[0] == 0

    other = browser.new_context(viewport=DESKTOP)
    theirs = other.new_page()
    theirs.goto(link)
    theirs.fill("input[name=password]", "a long new password 26")
    with theirs.expect_navigation():
        theirs.click("main form button[type=submit]")
    log_in(theirs, mpanel, newcomer, "a long new password 26")
    assert theirs.url.endswith("/ops/") and "admin" in theirs.inner_text("header")
    other.close()

    # Role, second factor and an API token from the same page; each audited.
    page.goto(f"{mpanel.url}/ops/staff")
    row = f"tr:has-text('{newcomer}')"
    page.select_option(f"{row} select[name=role]", "support")
    with page.expect_navigation():
        page.click(f"{row} >> text=Change role")
    assert f"{newcomer} is now support" in page.inner_text("[role=status]")
    with page.expect_navigation():
        page.click(f"{row} >> text=Turn on")
    assert "shown once" in page.inner_text("#shown-heading") and len(page.inner_text("#shown-value")) >= 16
    with page.expect_navigation():
        page.click(f"{row} >> text=Reset")
    assert "turned off" in page.inner_text("[role=status]")
    page.select_option("#token-heading ~ form select[name=email]", newcomer)
    page.fill("#token-heading ~ form input[name=label]", "monitoring")
    with page.expect_navigation():
        page.click("text=Issue the token")
    token = page.inner_text("#shown-value")
    assert token.startswith("mpo_")
    assert staff.token_session(settings, token)[0].email == newcomer
    page.goto(f"{mpanel.url}/ops/staff")
    looked_at(page, shots, "staff")
    with page.expect_navigation():
        page.click(f"button[aria-label='Revoke monitoring of {newcomer}']")
    assert staff.token_session(settings, token) is None
    with page.expect_navigation():
        page.click(f"{row} >> text=Disable")
    assert f"{newcomer} disabled" in page.inner_text("[role=status]")
    with page.expect_navigation():
        page.click(f"{row} >> text=Enable")
    did = [a[:2] for a in audited(settings, email)]
    for action in ("staff_add", "staff_role", "staff_totp", "staff_totp_reset", "staff_token", "staff_token_revoke",
                   "staff_disable", "staff_enable"):
        assert (action, "ok") in did, action


def test_the_last_active_owner_cannot_be_disabled_or_demoted(mpanel, settings, page):
    email, password = a_staff(settings, "owner")
    log_in(page, mpanel, email, password)
    with psycopg.connect(settings.DATABASE_URL) as conn:
        others = [r[0] for r in conn.execute(
            "UPDATE staff_users SET status = 'disabled' WHERE role = 'owner' AND status = 'active' AND email <> %s "
            "RETURNING id", (email,)).fetchall()]
    try:
        page.goto(f"{mpanel.url}/ops/staff")
        row = f"tr:has-text('{email}')"
        page.select_option(f"{row} select[name=role]", "admin")
        with page.expect_navigation():
            page.click(f"{row} >> text=Change role")
        assert "is the last active owner" in page.inner_text("[role=alert]")
        with page.expect_navigation():
            page.click(f"{row} >> text=Disable")
        assert "is the last active owner" in page.inner_text("[role=alert]")
        assert page.is_visible("header >> text=Staff"), "still an owner, still in"
    finally:
        with psycopg.connect(settings.DATABASE_URL) as conn:
            conn.execute("UPDATE staff_users SET status = 'active' WHERE id = ANY(%s)", (others,))
    assert [a[:2] for a in audited(settings, email)].count(("staff_role", "refused")) == 1


def test_an_admin_drains_a_server_with_a_pace_and_enables_and_retires_it(mpanel, settings, page):
    server_id, name = a_server(settings, f"console-{secrets.token_hex(3)}")
    email, password = a_staff(settings, "admin")
    log_in(page, mpanel, email, password)
    page.click("header >> text=Servers")
    assert not page.is_visible("header >> text=Staff")
    row = f"#server-{server_id}"
    page.click(f"{row} summary")
    page.fill(f"{row} input[name=drain_moves_per_hour]", "4")
    with page.expect_navigation():
        page.click(f"{row} >> text=Drain {name}")
    assert "draining, moving 4 accounts away per hour" in page.inner_text("[role=status]")
    assert "draining" in page.inner_text(row) and "4 moves/h" in page.inner_text(row)
    page.click(f"{row} summary")
    page.fill(f"{row} input[name=capacity]", "75")
    with page.expect_navigation():
        page.click(f"{row} >> text=Save capacity")
    assert "0 / 75" in page.inner_text(row)
    page.click(f"{row} summary")
    with page.expect_navigation():
        page.click(f"{row} >> text=Enable {name}")
    page.click(f"{row} summary")
    with page.expect_navigation():
        page.click(f"{row} >> text=Retire {name}")
    assert "retired" in page.inner_text(row)
    did = [a[:2] for a in audited(settings, email)]
    for action in ("server_drain", "server_capacity", "server_enable", "server_retire"):
        assert (action, "ok") in did, action


def test_support_is_refused_servers_and_staff_by_the_server_and_it_is_audited(mpanel, settings, page, shots):
    email, password = a_staff(settings, "support")
    log_in(page, mpanel, email, password)
    assert not page.is_visible("header >> text=Servers") and not page.is_visible("header >> text=Staff")
    csrf = page.get_attribute("header input[name=csrf]", "value")
    for path in ("/ops/servers", "/ops/staff"):
        answer = page.goto(f"{mpanel.url}{path}")
        assert answer.status == 403 and "a support account may not manage" in page.inner_text("main")
    looked_at(page, shots, "refused")
    for path, form in (("/ops/servers", {"hostname": "evil.example.net"}), ("/ops/servers/1/state", {"do": "drain"}),
                       ("/ops/staff", {"email": "friend@ops.example.net", "role": "owner"}),
                       ("/ops/staff/role", {"email": email, "role": "owner"})):
        answer = page.request.post(f"{mpanel.url}{path}", form={"csrf": csrf, **form}, max_redirects=0)
        assert answer.status == 403, path
    with psycopg.connect(settings.DATABASE_URL) as conn:
        assert conn.execute("SELECT role FROM staff_users WHERE email = %s", (email,)).fetchone()[0] == "support"
    refused = [a for a in audited(settings, email) if a[1] == "refused"]
    assert len(refused) == 6 and {a[0] for a in refused} == {"manage_servers", "manage_staff"}
    assert "POST /ops/staff/role" in [a[2] for a in refused]


def test_the_attention_work_list_retries_with_the_error_in_words_a_note_and_who_acted(mpanel, settings, page, shots):
    payload = seed_payload(testMode=True, promoCode="TESTFREE")
    sid = mpanel.checkout(payload).json()["subscriptionId"]
    mpanel.wait_until(sid, provisioningStatus="ready")
    with psycopg.connect(settings.DATABASE_URL) as conn:
        conn.execute("UPDATE subscriptions SET provisioning_status = 'failed', provisioning_error = %s WHERE id = %s",
                     ("WHM createacct: the package 'basic' does not exist\nTraceback (most recent call last): ...", sid))
    support, support_password = a_staff(settings, "support")
    log_in(page, mpanel, support, support_password)
    page.click("header >> text=Needs attention")
    card = f"#attention-{sid}"
    words = page.inner_text(f"{card} .words")
    assert "The last converge failed" in words and "the package 'basic' does not exist" in words
    assert "Traceback" not in words and "nobody yet" in page.inner_text(card)
    assert not page.is_visible(f"{card} >> text=Retry sub-{sid}"), "support does not converge"
    page.fill(f"#note-{sid}", "asked the datacentre about the package")
    with page.expect_navigation():
        page.click(f"{card} >> text=Save note")
    assert "asked the datacentre about the package" in page.inner_text(card) and support in page.inner_text(card)
    with page.expect_navigation():
        page.click("header >> text=Log out")

    admin, admin_password = a_staff(settings, "admin")
    log_in(page, mpanel, admin, admin_password)
    page.goto(f"{mpanel.url}/ops/attention")
    looked_at(page, shots, "attention")
    with page.expect_navigation():
        page.click(f"{card} >> text=Retry sub-{sid}")
    assert "Converge" in page.inner_text("[role=status]")
    mpanel.wait_until(sid, provisioningStatus="ready")
    with psycopg.connect(settings.DATABASE_URL) as conn:
        last = conn.execute("SELECT staff_email, action FROM staff_audit_log WHERE subscription_id = %s "
                            "ORDER BY id DESC LIMIT 1", (sid,)).fetchone()
    assert last == (admin, "converge")
