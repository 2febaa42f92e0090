"""A server's sync report in the console (issue 25): found from the servers page, it lists an
account another system left on the WHM stand-in, in a real browser (Playwright with Debian's
Chromium), photographed at a desktop width, at 768 px and at a 390 px phone, checked with axe-core."""
from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from app.services.hosting.engine import provider_config
from providers.clients.whm import WhmClient
from tests.e2e.test_ops_console import CHROMIUM, a_staff, log_in
from tests.e2e.test_ops_console_manage import browser, looked_at, page, shots  # noqa: F401  (fixtures)

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def left_account(settings):
    """A cPanel account no stack holds, as another system would have left it."""
    whm = WhmClient(provider_config(settings))
    user = f"sy{secrets.token_hex(3)}"
    whm.createacct(username=user, domain=f"{user}-left-mpanel-test.com", plan="default",
                   password="Old-System-Pass-9", contact_email=f"owner@{user}-left-mpanel-test.com", quota_mb=None)
    yield user
    whm.removeacct(user)


def test_the_sync_report_is_a_link_from_the_servers_page_and_lists_an_account_no_stack_holds(
        mpanel, settings, page, shots, left_account):
    email, password = a_staff(settings, "admin")
    log_in(page, mpanel, email, password)
    page.goto(f"{mpanel.url}/ops/servers")
    page.click("#sync-1")
    page.wait_for_load_state()
    assert page.url.endswith("/ops/servers/1/sync")
    unmanaged = page.inner_text("#unmanaged-accounts")
    assert left_account in unmanaged and f"{left_account}-left-mpanel-test.com" in unmanaged
    looked_at(page, shots, "server-sync-report")
    page.set_viewport_size(PHONE)
    page.screenshot(path=str(shots / "server-sync-report-390.png"), full_page=True)
    page.screenshot(path=str(shots / "server-sync-report-390-first-screen.png"))
    overflow = page.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"the sync report scrolls sideways at 390 px by {overflow} px (its tables scroll in place)"


def test_support_staff_see_no_sync_link_and_are_refused_the_report(mpanel, settings, page):
    email, password = a_staff(settings, "support")
    log_in(page, mpanel, email, password)
    assert page.goto(f"{mpanel.url}/ops/servers/1/sync").status == 403
