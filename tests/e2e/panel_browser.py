"""Driving the customer panel in a real browser: Playwright for Python with Debian's Chromium
(never a downloaded browser build), logged in through the login form as a customer would."""
from __future__ import annotations

import os
import shutil
from pathlib import Path


SCREENSHOTS = Path(os.environ.get("MPANEL_SCREENSHOTS") or "/tmp/mpanel-screenshots")


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def launched_chromium():
    """Debian's Chromium under Playwright, closed afterwards (for a fixture to `yield from`)."""
    from playwright.sync_api import sync_playwright

    path = chromium_path()
    assert path, "Debian's chromium is not installed (apt-get install chromium)"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, headless=True)
        yield browser
        browser.close()


def logged_in_page(chromium, mpanel, email: str, password: str):
    """A new browser context logged into the panel, on the dashboard (the wizard passed by)."""
    context = chromium.new_context()
    page = context.new_page()
    page.goto(f"{mpanel.url}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    page.goto(f"{mpanel.url}/dashboard")
    return page


def screenshot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def logged_in_session(mpanel, email: str, password: str):
    """A customer logged in over plain HTTP (no browser): the session and a page's CSRF token."""
    import requests

    from tests.e2e.conftest import csrf_of

    browser = requests.Session()
    form = browser.get(f"{mpanel.url}/login", timeout=10)
    page = browser.post(f"{mpanel.url}/login", timeout=30,
                        data={"csrf": csrf_of(form.text), "email": email, "password": password})
    return browser, csrf_of(page.text)


def turned_at_the_registrar(page, settings, domain: str, button: str, notice: str, field: str, value: str,
                            what: str) -> str:
    """Clicks `button` on the domain page, sees `notice`, waits until the registrar's `field` is
    `value`; returns the domain table after a reload."""
    from tests.polling import wait_for

    page.click(f"text={button}")
    page.wait_for_load_state()
    assert notice in page.inner_text("main")
    wait_for(lambda: registrar_record(settings, domain)[field] == value, 90, what)
    page.reload()
    return page.inner_text("table[aria-label=domain]")


def registrar_record(settings, domain: str) -> dict:
    """The domain as NameSilo's getDomainInfo tells it (the stand-in's record)."""
    import requests

    answer = requests.get(f"{settings.NAMESILO_API_URL}/getDomainInfo", timeout=10, params={
        "version": "1", "type": "json", "key": settings.NAMESILO_API_KEY, "domain": domain})
    return answer.json()["reply"]
