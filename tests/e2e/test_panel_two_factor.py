"""Customer two-factor authentication in the browser: enrol (secret and otpauth URI shown, a
code confirms), recovery codes shown once; login asks for a code; a recovery code works once and
not twice; turned off with a current code. Against the running app."""
from __future__ import annotations

import re
import time

from app.services.common import totp
from tests.e2e.conftest import seed_payload
from tests.e2e.panel_browser import logged_in_page, screenshot


def _customer(mpanel) -> tuple[str, str]:
    payload = seed_payload()
    assert mpanel.checkout(payload).status_code == 201
    return payload["customer"]["email"], payload["account"]["password"]


def _fresh_code(secret: str) -> str:
    """The next step's code (the app accepts one step either side): each step's code works once."""
    return totp.code_at(secret, time.time() + totp.STEP_SECONDS)


def _previous_code(secret: str) -> str:
    """The previous step's code, used for the enrolment so that the login's current code and the
    turning off's next one are later steps without waiting for the clock; taken with at least
    5 s of the step left, so the app still counts it as one step back."""
    if totp.STEP_SECONDS - time.time() % totp.STEP_SECONDS < 5:
        time.sleep(totp.STEP_SECONDS - time.time() % totp.STEP_SECONDS + 0.1)
    return totp.code_at(secret, time.time() - totp.STEP_SECONDS)


def _password_step(chromium, mpanel, email: str, password: str):
    page = chromium.new_context().new_page()
    page.goto(f"{mpanel.url}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    return page


def _code_step(page, code: str) -> int:
    page.fill("input[name=code]", code)
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.click("button[type=submit]")
    page.wait_for_load_state()
    return answer.value.status


def test_enrol_log_in_with_a_code_a_recovery_code_once_and_turn_off(chromium, mpanel):
    email, password = _customer(mpanel)
    page = logged_in_page(chromium, mpanel, email, password)
    page.goto(f"{mpanel.url}/account/two-factor")
    page.click("#start-form button")
    page.wait_for_load_state()
    secret = page.inner_text("#totp-secret").strip()
    assert page.get_attribute("#totp-uri", "href").startswith("otpauth://totp/mpanel:")
    screenshot(page, "two-factor-enrol")
    page.fill("#confirm-form input[name=code]", "000000" if totp.code_at(secret) != "000000" else "111111")
    page.click("#confirm-form button")
    page.wait_for_load_state()
    assert "not right" in page.inner_text("main")  # a wrong code does not turn it on
    page.fill("#confirm-form input[name=code]", _previous_code(secret))
    page.click("#confirm-form button")
    page.wait_for_load_state()
    codes = [c.strip() for c in page.locator("#recovery-codes code").all_inner_texts()]
    assert len(codes) == 10 and all(re.fullmatch(r"[0-9a-f]{5}-[0-9a-f]{5}", c) for c in codes)
    screenshot(page, "two-factor-recovery-codes")
    page.goto(f"{mpanel.url}/account/two-factor")
    assert "#recovery-codes" not in page.content() and page.locator("#two-factor-on").count() == 1  # shown once

    # The password alone no longer signs in: the code step follows, and a wrong code is refused.
    second = _password_step(chromium, mpanel, email, password)
    assert second.url.endswith("/login/code")
    screenshot(second, "two-factor-login-code")
    assert _code_step(second, "12345x") == 401
    second.goto(f"{mpanel.url}/dashboard")
    assert "/login" in second.url  # no session before the code
    second = _password_step(chromium, mpanel, email, password)
    assert _code_step(second, totp.code_at(secret)) in (200, 302) and "/login" not in second.url

    # A recovery code works once, and not twice.
    third = _password_step(chromium, mpanel, email, password)
    assert _code_step(third, codes[0].upper()) in (200, 302) and "/login" not in third.url
    fourth = _password_step(chromium, mpanel, email, password)
    assert _code_step(fourth, codes[0]) == 401

    # Turned off only with a current code.
    page.goto(f"{mpanel.url}/account/two-factor")
    page.fill("#off-form input[name=code]", codes[1])
    page.click("#off-form button")
    page.wait_for_load_state()
    assert page.locator("#two-factor-on").count() == 1  # a recovery code is not a current code
    # The login spent the current step's code: the next step's is a later one, accepted once.
    page.fill("#off-form input[name=code]", _fresh_code(secret))
    page.click("#off-form button")
    page.wait_for_load_state()
    assert "Two-factor authentication is off" in page.inner_text("main")
    fifth = _password_step(chromium, mpanel, email, password)
    assert "/login" not in fifth.url  # the password alone signs in again
