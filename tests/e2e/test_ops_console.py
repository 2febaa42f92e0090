"""The operators' console (/ops) in a real browser: Playwright driving Debian's Chromium against
`mpanel serve` and `mpanel worker`, with a subscription converged by the real engine.

Screenshots go to <state dir>/screenshots (outside the repository) for a person to look at.
"""
from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

import psycopg
import pytest
import requests

from app.services.common import throttle, totp
from app.services.operators import staff
from tests.e2e.conftest import csrf_of, seed_payload, wait_for

CHROMIUM = "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")
SHOTS = Path(os.environ["MPANEL_STATE_DIR"]) / "screenshots"


def fresh_page(browser, **context_options):
    """A page in a new browser context, closed afterwards (for a fixture to `yield from`)."""
    context = browser.new_context(**context_options)
    yield context.new_page()
    context.close()


@pytest.fixture
def page(chromium):
    yield from fresh_page(chromium, viewport={"width": 1360, "height": 900})


def a_staff(settings, role: str) -> tuple[str, str]:
    email = f"{role}-{secrets.token_hex(4)}@ops.example.net"
    _, password = staff.add_staff(settings, email, role)
    return email, password


def log_in(page, mpanel, email: str, password: str, code: str = "") -> None:
    page.goto(f"{mpanel.url}/ops/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    if code:
        page.fill("input[name=code]", code)
    with page.expect_navigation():
        page.click("main form button[type=submit]")  # not the header's Log out of a session already open


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"ops-{name}.png"), full_page=True)


@pytest.fixture(scope="module")
def converged(mpanel):
    """A paid subscription whose stack the worker converged: (subscription id, domain)."""
    payload = seed_payload(testMode=True, promoCode="TESTFREE")
    body = mpanel.checkout(payload).json()
    mpanel.wait_until(body["subscriptionId"], provisioningStatus="ready")
    wait_for(lambda: mpanel.mails_to(payload["customer"]["email"]), 60, "the welcome email")
    return body["subscriptionId"], payload["domain"]


def test_a_staff_member_logs_in_and_out_and_the_session_is_gone(mpanel, settings, page):
    email, password = a_staff(settings, "support")
    log_in(page, mpanel, email, password)
    assert page.url.endswith("/ops/") and page.is_visible("text=Needs attention")
    shot(page, "overview")
    with page.expect_navigation():
        page.click("text=Log out")
    assert "/ops/login" in page.url
    page.goto(f"{mpanel.url}/ops/subscriptions")
    assert "/ops/login" in page.url, "a logged-out session opens nothing"


def _post_login(mpanel, email: str, password: str, code: str = "", browser=None) -> requests.Response:
    browser = browser or requests.Session()
    form = browser.get(f"{mpanel.url}/ops/login", timeout=10)
    return browser.post(f"{mpanel.url}/ops/login", timeout=30, allow_redirects=False,
                        data={"csrf": csrf_of(form.text), "email": email, "password": password, "code": code})


def test_guesses_wait_with_a_clear_message_and_a_mistake_does_not_lock_the_owner_out(mpanel, settings, page):
    email, password = a_staff(settings, "admin")
    log_in(page, mpanel, email, "not the password")
    assert page.is_visible("text=do not match a staff account")
    log_in(page, mpanel, email, password)  # a mistake, then the right one: in
    assert page.url.endswith("/ops/")
    with page.expect_navigation():
        page.click("text=Log out")
    for _ in range(throttle.RULES["pair"].free):
        log_in(page, mpanel, email, "not the password")
    log_in(page, mpanel, email, password)  # from the same address right after the guesses: wait
    message = page.inner_text("[role=alert]")
    assert "Too many attempts: try again in" in message, message
    shot(page, "throttled")
    answer = _post_login(mpanel, email, password)
    assert answer.status_code == 429 and answer.headers["Retry-After"].isdigit()


def test_an_account_with_totp_needs_its_current_code_once(mpanel, settings, page):
    email, password = a_staff(settings, "owner")
    secret = staff.enable_totp(settings, email)
    log_in(page, mpanel, email, password)
    assert page.is_visible("text=do not match a staff account")
    code = totp.code_at(secret)
    log_in(page, mpanel, email, password, code)
    assert page.url.endswith("/ops/")
    with page.expect_navigation():
        page.click("text=Log out")
    log_in(page, mpanel, email, password, code)  # the same code again: a replay
    assert page.is_visible("text=do not match a staff account")


def test_a_wrong_password_and_a_wrong_code_get_byte_identical_answers(mpanel, settings):
    email, password = a_staff(settings, "owner")
    secret = staff.enable_totp(settings, email)
    wrong_code = f"{(int(totp.code_at(secret)) + 1) % 1_000_000:06d}"
    browser = requests.Session()
    wrong_password = _post_login(mpanel, email, "not the password", totp.code_at(secret), browser)
    wrong_code_answer = _post_login(mpanel, email, password, wrong_code, browser)
    assert wrong_password.status_code == wrong_code_answer.status_code == 401
    assert wrong_password.content == wrong_code_answer.content


def test_a_copied_staff_cookie_is_refused_after_logout_and_after_disable(mpanel, settings):
    email, password = a_staff(settings, "support")
    for end in ("logout", "disable"):
        browser = requests.Session()
        assert _post_login(mpanel, email, password, browser=browser).status_code == 302
        copied = browser.cookies.get("mpanel_ops")
        if end == "logout":
            overview = browser.get(f"{mpanel.url}/ops/", timeout=10)
            browser.post(f"{mpanel.url}/ops/logout", timeout=10, data={"csrf": csrf_of(overview.text)})
        else:
            staff.set_status(settings, email, "disabled")
        replay = requests.get(f"{mpanel.url}/ops/subscriptions", cookies={"mpanel_ops": copied}, timeout=10,
                              allow_redirects=False)
        assert replay.status_code == 302 and "/ops/login" in replay.headers["Location"], end


def test_support_is_refused_an_admin_action_by_the_server_and_it_is_audited(mpanel, settings, page, converged):
    sid, domain = converged
    email, password = a_staff(settings, "support")
    log_in(page, mpanel, email, password)
    page.goto(f"{mpanel.url}/ops/subscriptions/{sid}")
    assert page.is_visible("text=Resend welcome email") and not page.is_visible("text=Converge now")
    csrf = page.get_attribute("#actions input[name=csrf]", "value")
    answer = page.request.post(f"{mpanel.url}/ops/subscriptions/{sid}/actions/converge", form={"csrf": csrf},
                               max_redirects=0)
    assert answer.status == 403 and "a support account may not converge" in answer.text()
    with psycopg.connect(settings.DATABASE_URL) as conn:
        customer = conn.execute("SELECT u.email FROM users u JOIN customers c ON c.user_id = u.id "
                                "JOIN subscriptions s ON s.customer_id = c.id WHERE s.id = %s", (sid,)).fetchone()[0]
    welcomes = len(mpanel.mails_to(customer))
    with page.expect_navigation():
        page.click("text=Resend welcome email")
    assert f"Welcome email queued to {customer}" in page.inner_text("[role=status]")
    wait_for(lambda: len(mpanel.mails_to(customer)) == welcomes + 1, 60, "the resent welcome email")

    page.goto(f"{mpanel.url}/ops/audit?q={email}")
    row = page.inner_text("#audit")
    assert "converge" in row and "refused" in row and "resend_welcome" in row and f"sub-{sid}" in row
    shot(page, "audit")


def test_a_form_without_its_csrf_token_is_refused(mpanel, settings, page, converged):
    sid, _ = converged
    email, password = a_staff(settings, "admin")
    log_in(page, mpanel, email, password)
    forged = page.request.post(f"{mpanel.url}/ops/subscriptions/{sid}/actions/converge",
                               form={"csrf": "not-the-token"}, max_redirects=0)
    assert forged.status == 400
    no_token_login = requests.post(f"{mpanel.url}/ops/login", data={"email": email, "password": password}, timeout=10)
    assert no_token_login.status_code == 400


def test_destroy_needs_the_owner_and_the_domain_typed(mpanel, settings, page, converged):
    sid, domain = converged
    email, password = a_staff(settings, "admin")
    log_in(page, mpanel, email, password)
    page.goto(f"{mpanel.url}/ops/subscriptions/{sid}")
    assert not page.is_visible("text=Destroy this stack")
    csrf = page.get_attribute("#actions input[name=csrf]", "value")
    refused = page.request.post(f"{mpanel.url}/ops/subscriptions/{sid}/actions/destroy", max_redirects=0,
                                form={"csrf": csrf, "confirm_domain": domain})
    assert refused.status == 403

    email, password = a_staff(settings, "owner")
    log_in(page, mpanel, email, password)
    page.goto(f"{mpanel.url}/ops/subscriptions/{sid}")
    page.click("text=Destroy this stack")
    page.fill("input[name=confirm_domain]", "not-" + domain)
    with page.expect_navigation():
        page.click("button.danger")
    assert "does not match: nothing destroyed" in page.inner_text("[role=alert]")
    with psycopg.connect(settings.DATABASE_URL) as conn:
        status = conn.execute("SELECT status FROM subscriptions WHERE id = %s", (sid,)).fetchone()[0]
    assert status == "active"


def test_customer_and_staff_sessions_do_not_cross(mpanel, settings, converged):
    payload = seed_payload()
    assert mpanel.checkout(payload).status_code == 201
    customer = requests.Session()
    form = customer.get(f"{mpanel.url}/login", timeout=10)
    customer.post(f"{mpanel.url}/login", timeout=10, data={"csrf": csrf_of(form.text),
                  "email": payload["customer"]["email"], "password": payload["account"]["password"]})
    assert customer.get(f"{mpanel.url}/dashboard", timeout=10).status_code == 200
    refused = customer.get(f"{mpanel.url}/ops/subscriptions", timeout=10, allow_redirects=False)
    assert refused.status_code == 302 and "/ops/login" in refused.headers["Location"]

    email, password = a_staff(settings, "owner")
    operator = requests.Session()
    form = operator.get(f"{mpanel.url}/ops/login", timeout=10)
    operator.post(f"{mpanel.url}/ops/login", timeout=10,
                  data={"csrf": csrf_of(form.text), "email": email, "password": password})
    assert operator.get(f"{mpanel.url}/ops/subscriptions", timeout=10).status_code == 200
    panel = operator.get(f"{mpanel.url}/dashboard", timeout=10, allow_redirects=False)
    assert panel.status_code == 302 and "/login" in panel.headers["Location"]


def test_every_page_carries_the_security_headers(mpanel):
    for path in ("/", "/login", "/ops/login"):
        headers = requests.get(f"{mpanel.url}{path}", timeout=10).headers
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"], path
        assert "script-src 'self' 'nonce-" in headers["Content-Security-Policy"], path
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert "Strict-Transport-Security" not in headers  # served over http here


def test_search_then_a_subscriptions_page_shows_its_real_stack(mpanel, settings, page, converged):
    sid, domain = converged
    email, password = a_staff(settings, "admin")
    log_in(page, mpanel, email, password)
    page.goto(f"{mpanel.url}/ops/subscriptions")
    page.fill("input[name=q]", domain[:10])
    with page.expect_navigation():
        page.click("form[role=search] button")
    assert page.is_visible(f"#results >> text=sub-{sid}")
    shot(page, "subscriptions")
    with page.expect_navigation():
        page.click(f"#results >> text=sub-{sid}")
    page.wait_for_selector("#resources", timeout=30_000)
    resources = page.inner_text("#resources")
    for name in ("zone", "account", "mail-domain", "mailbox-admin", "certificate"):
        assert name in resources
    assert "[secret]" in resources and "BEGIN" not in resources  # secrets masked, PEM never shown
    history = page.inner_text("#engine-history")  # the engine's version 1 is our first run's
    first_run = re.search(r"#1\s+(\d+)\s+update\s+succeeded", history)
    assert first_run and f"\n{first_run.group(1)}\tup" in page.inner_text("#runs"), history
    assert page.is_visible("text=welcome")  # the welcome email, under Emails sent
    shot(page, "subscription")


def _zone_records(settings, domain: str) -> dict:
    r = requests.get(f"{settings.POWERDNS_API_URL}/api/v1/servers/localhost/zones/{domain}.", timeout=10,
                     headers={"X-API-Key": settings.POWERDNS_API_KEY})
    return {(rr["name"], rr["type"]): rr for rr in r.json()["rrsets"]}


def test_drift_shows_in_the_preview_and_a_converge_repairs_it_live(mpanel, settings, page, converged):
    sid, domain = converged
    requests.patch(f"{settings.POWERDNS_API_URL}/api/v1/servers/localhost/zones/{domain}.", timeout=10,
                   headers={"X-API-Key": settings.POWERDNS_API_KEY},
                   json={"rrsets": [{"name": f"{domain}.", "type": "MX", "changetype": "DELETE"}]}).raise_for_status()
    assert (f"{domain}.", "MX") not in _zone_records(settings, domain)
    email, password = a_staff(settings, "admin")
    log_in(page, mpanel, email, password)
    page.goto(f"{mpanel.url}/ops/subscriptions/{sid}")

    with page.expect_navigation():
        page.click("text=Refresh and preview")
    page.wait_for_selector("#live-title.succeeded", timeout=90_000)
    page.reload()
    preview = page.inner_text("#runs")
    assert re.search(rf"record MX {re.escape(domain)}\.: \(absent\) → \"10 ", preview), preview
    assert "04da6b54" not in preview
    shot(page, "preview")

    with page.expect_navigation():
        page.click("text=Converge now")
    page.wait_for_selector("#live-title.succeeded", timeout=90_000)
    assert "(up)" in page.inner_text("#live-title") and "zone" in page.inner_text("#live-steps")
    shot(page, "converged")
    assert (f"{domain}.", "MX") in _zone_records(settings, domain)
    page.goto(f"{mpanel.url}/ops/audit?subscription={sid}")
    audit = page.inner_text("#audit")
    assert "converge" in audit and "refresh" in audit and email in audit


def test_the_customers_progress_page_script_runs_under_the_policy(mpanel, page):
    """The customers' pages got the same headers: their one inline script carries the nonce,
    so it runs (it polls the status) and the browser reports no violation."""
    body = mpanel.checkout(seed_payload()).json()
    violations = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    with page.expect_request(lambda r: "/checkout/status" in r.url, timeout=20_000):
        page.goto(f"{mpanel.url}/checkout/success?session_id={body['checkoutSessionId']}")
    assert page.is_visible("#summary") and violations == []


def test_api_tokens_read_and_act_within_their_scopes(mpanel, settings, converged):
    sid, domain = converged
    email, _ = a_staff(settings, "admin")
    reader = {"Authorization": "Bearer " + staff.create_api_token(settings, email, ["read"])}
    actor = {"Authorization": "Bearer " + staff.create_api_token(settings, email, ["read", "actions"])}
    api = f"{mpanel.url}/ops/api"

    assert requests.get(f"{api}/subscriptions", timeout=10).status_code == 401
    assert requests.get(f"{api}/subscriptions", timeout=10,
                        headers={"Authorization": "Bearer mpo_not-a-token"}).status_code == 401
    found = requests.get(f"{api}/subscriptions", params={"q": domain}, headers=reader, timeout=10).json()
    assert [s["id"] for s in found["subscriptions"]] == [sid]
    page = requests.get(f"{api}/subscriptions/{sid}", headers=reader, timeout=10).json()
    assert page["domain"] == domain and page["runs"][-1]["operation"] == "up"

    refused = requests.post(f"{api}/subscriptions/{sid}/actions/converge", headers=reader, timeout=10)
    assert refused.status_code == 403 and "'actions' scope" in refused.json()["message"]
    above_role = requests.post(f"{api}/subscriptions/{sid}/actions/destroy", headers=actor, timeout=10,
                               json={"confirmDomain": domain})
    assert above_role.status_code == 403  # the token's account is an admin: destroying is the owner's
    queued = requests.post(f"{api}/subscriptions/{sid}/actions/converge", headers=actor, timeout=10)
    assert queued.status_code == 202 and queued.json()["status"] == "queued"
    with psycopg.connect(settings.DATABASE_URL) as conn:
        outcomes = [r[0] for r in conn.execute("SELECT outcome FROM staff_audit_log WHERE staff_email = %s "
                                               "AND subscription_id = %s ORDER BY id", (email, sid))]
    assert outcomes == ["refused", "queued"]
