"""The client area on a phone (issue 26 item 9): every customer page in Chromium at a desktop
width and at 360, 390 and 414 px, with no horizontal scrolling, screenshots to look at, and no
WCAG 2 A/AA violation found by axe-core; the operators' console holds at a 768 px tablet.

One paid site (registered through us, so billing, domain and DNS all have something to show),
with DNS records whose values are long: the phone layout must wrap them, not widen the page."""
from __future__ import annotations

import re
import secrets

import pytest

from app.services.operators import staff
from tests.e2e.axe import described, violations
from tests.e2e.conftest import csrf_of, seed_payload
from tests.e2e.panel_browser import logged_in_session, screenshot

DESKTOP = {"width": 1280, "height": 900}
PHONES = [{"width": w, "height": 800} for w in (360, 390, 414)]
LONG_TXT = "v=spf1 include:_spf.mail-provider.example.net include:_spf.another-sender.example.org ~all"


@pytest.fixture(scope="module")
def site(mpanel):
    payload = seed_payload(planSlug="shared_starter")
    body = mpanel.checkout(payload).json()
    assert mpanel.pay(body["checkoutSessionId"]).status_code == 200
    mpanel.wait_until(body["subscriptionId"], provisioningStatus="ready")
    browser, token = logged_in_session(mpanel, payload["customer"]["email"], payload["account"]["password"])
    sid = body["subscriptionId"]
    for name, kind, content in (("shop", "A", "192.0.2.10"), ("verification-of-a-rather-long-host-name", "TXT", LONG_TXT),
                                ("v6", "AAAA", "2001:db8:85a3:1234:5678:8a2e:370:7334")):
        answer = browser.post(f"{mpanel.url}/sites/{sid}/dns", timeout=30,
                              data={"csrf": token, "name": name, "type": kind, "content": content, "ttl": ""})
        assert answer.status_code == 200, re.findall(r"role=\"alert\">([^<]*)", answer.text)
    return {"id": sid, "session": body["checkoutSessionId"], "email": payload["customer"]["email"],
            "password": payload["account"]["password"]}


def _context(chromium, viewport):
    # axe-core is injected as an inline script: the panel's CSP (rightly) refuses those.
    return chromium.new_context(viewport=viewport, bypass_csp=True)


def _log_in(page, mpanel, site) -> None:
    page.goto(f"{mpanel.url}/login")
    page.fill("input[name=email]", site["email"])
    page.fill("input[name=password]", site["password"])
    with page.expect_navigation():
        page.click("button[type=submit]")


def _pages(mpanel, site) -> dict[str, str]:
    base = f"{mpanel.url}/sites/{site['id']}"
    return {"dashboard": f"{mpanel.url}/dashboard", "dns": f"{base}/dns", "billing": f"{base}/billing",
            "domain": f"{base}/domain", "account": f"{mpanel.url}/account", "add-site": f"{mpanel.url}/sites/new",
            "getting-started": f"{mpanel.url}/welcome",
            "progress": f"{mpanel.url}/checkout/success?session_id={site['session']}"}


def _check(page, name: str, width: int) -> None:
    """No horizontal scrolling, a screenshot, and nothing for axe to find."""
    page.wait_for_load_state("networkidle")
    wide, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert wide <= inner, f"{name} at {width} px scrolls sideways: {wide} px of content in {inner}"
    screenshot(page, f"phone-{name}-{width}")
    found = violations(page)
    assert not found, f"{name} at {width} px:\n{described(found)}"


@pytest.mark.parametrize("viewport", [DESKTOP, *PHONES], ids=lambda v: f"{v['width']}px")
def test_every_customer_page_fits_the_screen_and_passes_axe(mpanel, chromium, site, viewport):
    context = _context(chromium, viewport)
    page = context.new_page()
    try:
        page.goto(f"{mpanel.url}/login")
        _check(page, "login", viewport["width"])
        _log_in(page, mpanel, site)
        for name, url in _pages(mpanel, site).items():
            page.goto(url)
            _check(page, name, viewport["width"])
    finally:
        context.close()


def test_dns_values_wrap_in_stacked_rows_on_a_phone(mpanel, chromium, site):
    """At 390 px each record is a block of labelled lines: the content keeps most of the width
    (it was squeezed into a column a few characters wide) and the address stays on one line."""
    context = _context(chromium, {"width": 390, "height": 800})
    page = context.new_page()
    try:
        _log_in(page, mpanel, site)
        page.goto(f"{mpanel.url}/sites/{site['id']}/dns")
        address = page.locator("td[data-label=Content] code", has_text="192.0.2.10")
        box = address.bounding_box()
        assert box["height"] < 30, "the address broke over several lines"
        cell = page.locator("td[data-label=Content]").first.bounding_box()
        assert cell["width"] > 300
    finally:
        context.close()


def test_the_console_holds_at_a_tablet_width(mpanel, settings, chromium, site):
    email = f"admin-{secrets.token_hex(4)}@ops.example.net"
    _, password = staff.add_staff(settings, email, "admin")
    context = _context(chromium, {"width": 768, "height": 1000})
    page = context.new_page()
    try:
        page.goto(f"{mpanel.url}/ops/login")
        page.fill("input[name=email]", email)
        page.fill("input[name=password]", password)
        with page.expect_navigation():
            page.click("main form button[type=submit]")
        for name, path in (("ops-overview", "/ops"), ("ops-subscriptions", "/ops/subscriptions"),
                           ("ops-subscription", f"/ops/subscriptions/{site['id']}")):
            page.goto(f"{mpanel.url}{path}")
            page.wait_for_load_state("networkidle")
            wide, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
            screenshot(page, f"{name}-768")
            assert wide <= inner, f"{path} at 768 px scrolls sideways: {wide} in {inner}"
    finally:
        context.close()
