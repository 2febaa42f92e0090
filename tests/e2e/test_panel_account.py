"""Issue 14 item 6, in a real browser: the customer's account (password, forgotten password,
email change) against the real app, worker, PostgreSQL and SMTP server.

A checkout that was never paid leaves a customer who can log in, so no hosting is built here.
"""
from __future__ import annotations

import hashlib
import re
import secrets

import psycopg
import requests

from tests.e2e.conftest import csrf_of, seed_payload, wait_for
from tests.e2e.panel_browser import logged_in_page, screenshot
from tests.e2e.test_client_area_on_a_phone import _check as fits_the_screen


def _customer(mpanel) -> tuple[str, str]:
    payload = seed_payload()
    assert mpanel.checkout(payload).status_code == 201
    return payload["customer"]["email"], payload["account"]["password"]


def _can_log_in(mpanel, email: str, password: str) -> bool:
    browser = requests.Session()
    form = browser.get(f"{mpanel.url}/login", timeout=10)
    answer = browser.post(f"{mpanel.url}/login", timeout=30,
                          data={"csrf": csrf_of(form.text), "email": email, "password": password})
    return answer.status_code == 200 and "/login" not in answer.url


def _submit(page, selector: str) -> int:
    """Click a form's button; the status of the POST's answer."""
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.click(selector)
    page.wait_for_load_state()
    return answer.value.status


def _link_in(mpanel, recipient: str, subject: str, path: str, count: int = 1) -> str:
    mails = wait_for(lambda: (lambda m: m if len(m) >= count else None)(
        [m for m in mpanel.mails_to(recipient) if subject in m["Subject"]]), 60, f"{subject!r} email")
    text = mails[-1].get_body(("plain",)).get_content()
    return re.search(rf"(https?://\S+{re.escape(path)}[A-Za-z0-9_-]+)", text).group(1)


def _token_row(settings, link: str) -> dict:
    digest = hashlib.sha256(link.rsplit("/", 1)[1].encode()).digest()
    with psycopg.connect(settings.DATABASE_URL, row_factory=psycopg.rows.dict_row) as conn:
        return conn.execute("SELECT id, token_sealed, used_at FROM account_tokens WHERE token_hash = %s",
                            (digest,)).fetchone()


def test_a_password_change_needs_the_current_one_and_signs_out_the_other_sessions(chromium, mpanel):
    email, password = _customer(mpanel)
    here = logged_in_page(chromium, mpanel, email, password)
    elsewhere = logged_in_page(chromium, mpanel, email, password)
    here.click("text=Account")
    assert here.url.endswith("/account") and email in here.inner_text("#account-email")

    here.fill("#password-form input[name=current_password]", "not my password")
    here.fill("#password-form input[name=new_password]", "a brand new passphrase")
    assert _submit(here, "#password-form button") == 422
    assert "current_password" in here.inner_text("[role=alert]")
    here.fill("#password-form input[name=current_password]", password)
    here.fill("#password-form input[name=new_password]", "short")
    assert _submit(here, "#password-form button") == 422
    assert "new_password" in here.inner_text("[role=alert]")
    assert _can_log_in(mpanel, email, password), "a refused change changes nothing"
    elsewhere.goto(f"{mpanel.url}/account")
    assert elsewhere.url.endswith("/account")

    here.fill("#password-form input[name=current_password]", password)
    here.fill("#password-form input[name=new_password]", "a brand new passphrase")
    assert _submit(here, "#password-form button") == 302
    assert "signed out everywhere else" in here.inner_text("[role=status]")
    screenshot(here, "account-password-changed")
    here.goto(f"{mpanel.url}/dashboard")
    assert here.url.endswith("/dashboard"), "the session that changed it stays"
    elsewhere.goto(f"{mpanel.url}/account")
    assert "/login" in elsewhere.url, "the other browser was signed out"
    assert _can_log_in(mpanel, email, "a brand new passphrase") and not _can_log_in(mpanel, email, password)
    here.context.close()
    elsewhere.context.close()


def test_a_forgotten_password_link_works_once_and_not_after_it_expires(chromium, mpanel, settings):
    email, password = _customer(mpanel)
    stranger = f"nobody-{secrets.token_hex(4)}@example.com"
    page = chromium.new_context().new_page()
    answers = []
    for address in (stranger, email):
        page.goto(f"{mpanel.url}/login")
        page.click("text=Forgot your password?")
        page.fill("input[name=email]", address)
        answers.append((_submit(page, "button[type=submit]"), page.inner_text("#forgot-answer")))
    assert answers[0] == answers[1] and answers[0][0] == 200, "the answer says nothing of who is a customer"
    screenshot(page, "account-forgot")

    link = _link_in(mpanel, email, "Set a new password", "/reset/")
    assert mpanel.mails_to(stranger) == []
    row = wait_for(lambda: (lambda r: r if r["token_sealed"] is None else None)(_token_row(settings, link)), 30,
                   "the sealed token to be dropped once the email is sent")
    with psycopg.connect(settings.DATABASE_URL) as conn:
        args = conn.execute("SELECT args::text FROM procrastinate_jobs WHERE task_name = 'send_account_email'"
                            " AND args->>'token_id' = %s", (str(row["id"]),)).fetchone()[0]
    assert link.rsplit("/", 1)[1] not in args, "the job carries the row id, never the token"

    page.goto(link)
    page.fill("input[name=new_password]", "short")
    assert _submit(page, "button[type=submit]") == 422 and "new_password" in page.inner_text("[role=alert]")
    assert _can_log_in(mpanel, email, password), "a refused reset changes nothing and keeps the link"
    page.fill("input[name=new_password]", "chosen after forgetting")
    assert _submit(page, "button[type=submit]") == 200
    assert "password is set" in page.inner_text("h1")
    assert _can_log_in(mpanel, email, "chosen after forgetting") and not _can_log_in(mpanel, email, password)
    again = page.goto(link)
    assert again.status == 410 and page.inner_text("#link-gone")

    page.goto(f"{mpanel.url}/forgot")
    page.fill("input[name=email]", email)
    _submit(page, "button[type=submit]")
    late = _link_in(mpanel, email, "Set a new password", "/reset/", count=2)
    with psycopg.connect(settings.DATABASE_URL) as conn:
        conn.execute("UPDATE account_tokens SET expires_at = now() - interval '1 second' WHERE id = %s",
                     (_token_row(settings, late)["id"],))
    assert page.goto(late).status == 410
    posted = requests.Session()
    form = posted.get(f"{mpanel.url}/forgot", timeout=10)
    refused = posted.post(late, data={"csrf": csrf_of(form.text), "new_password": "too late for this one"},
                          timeout=10)
    assert refused.status_code == 410 and _can_log_in(mpanel, email, "chosen after forgetting")
    page.context.close()


def test_a_new_email_address_is_confirmed_from_that_address(chromium, mpanel):
    email, password = _customer(mpanel)
    taken, _ = _customer(mpanel)
    new = f"moved-{secrets.token_hex(4)}@example.com"
    page = logged_in_page(chromium, mpanel, email, password)
    page.goto(f"{mpanel.url}/account")
    for address, secret, field in ((new, "not my password", "current_password"),
                                   ("someone@localhost", password, "new_email"),
                                   (taken.upper(), password, "new_email")):
        page.fill("#email-form input[name=new_email]", address)
        page.fill("#email-form input[name=current_password]", secret)
        assert _submit(page, "#email-form button") == 422
        assert field in page.inner_text("[role=alert]")
    page.fill("#email-form input[name=new_email]", new)
    page.fill("#email-form input[name=current_password]", password)
    assert _submit(page, "#email-form button") == 302 and new in page.inner_text("[role=status]")
    assert email in page.inner_text("#account-email"), "nothing changes before the link is opened"
    assert _can_log_in(mpanel, email, password) and not _can_log_in(mpanel, new, password)

    link = _link_in(mpanel, new, "Confirm your new email address", "/account/email/")
    page.goto(link)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    assert new in page.inner_text("[role=status]")
    screenshot(page, "account-email-confirmed")
    assert _can_log_in(mpanel, new, password) and not _can_log_in(mpanel, email, password)
    assert page.goto(link).status == 410
    page.goto(f"{mpanel.url}/account")
    assert "/login" in page.url, "the change ended every session, this browser's too"
    page.context.close()
    page = logged_in_page(chromium, mpanel, new, password)
    page.goto(f"{mpanel.url}/account")
    assert new in page.inner_text("#account-email")
    page.context.close()

    notice = wait_for(lambda: [m for m in mpanel.mails_to(email) if "login email was changed" in m["Subject"]],
                      60, "the notice to the old address")
    text = notice[-1].get_body(("plain",)).get_content()
    assert new in text and f"{mpanel.url}/forgot" in text, "the old address is told, with where to secure it"
    assert notice[-1].get_body(("html",)) is not None


def _signed_in(mpanel, email: str, password: str) -> requests.Session:
    browser = requests.Session()
    form = browser.get(f"{mpanel.url}/login", timeout=10)
    answer = browser.post(f"{mpanel.url}/login", timeout=30,
                          data={"csrf": csrf_of(form.text), "email": email, "password": password})
    assert answer.status_code == 200 and "/login" not in answer.url
    return browser


def test_a_copied_cookie_is_refused_after_logout(mpanel):
    email, password = _customer(mpanel)
    browser = _signed_in(mpanel, email, password)
    copied = browser.cookies.get("session")
    page = browser.get(f"{mpanel.url}/account", timeout=10)
    assert browser.post(f"{mpanel.url}/logout", data={"csrf": csrf_of(page.text)}, timeout=10).status_code == 200
    replay = requests.get(f"{mpanel.url}/dashboard", cookies={"session": copied}, timeout=10, allow_redirects=False)
    assert replay.status_code == 302 and "/login" in replay.headers["Location"]


def _ask_for_new_email(browser, mpanel, password: str, new_email: str) -> requests.Response:
    page = browser.get(f"{mpanel.url}/account", timeout=10)
    return browser.post(f"{mpanel.url}/account/email", timeout=30, allow_redirects=False,
                        data={"csrf": csrf_of(page.text), "current_password": password, "new_email": new_email})


def test_a_pending_email_change_link_is_dead_after_a_password_reset(mpanel):
    email, password = _customer(mpanel)
    browser = _signed_in(mpanel, email, password)
    new = f"evicted-{secrets.token_hex(4)}@example.com"
    assert _ask_for_new_email(browser, mpanel, password, new).status_code == 302
    link = _link_in(mpanel, new, "Confirm your new email address", "/account/email/")

    forgot = requests.Session()
    form = forgot.get(f"{mpanel.url}/forgot", timeout=10)
    forgot.post(f"{mpanel.url}/forgot", data={"csrf": csrf_of(form.text), "email": email}, timeout=10)
    reset = _link_in(mpanel, email, "Set a new password", "/reset/")
    form = forgot.get(reset, timeout=10)
    assert forgot.post(reset, data={"csrf": csrf_of(form.text), "new_password": "taken back by the owner"},
                       timeout=30).status_code == 200

    assert requests.get(link, timeout=10).status_code == 410, "the evicted address cannot confirm itself"
    assert browser.get(f"{mpanel.url}/dashboard", timeout=10, allow_redirects=False).status_code == 302


def test_at_most_three_confirmation_emails_an_hour(mpanel):
    email, password = _customer(mpanel)
    browser = _signed_in(mpanel, email, password)
    answers = [_ask_for_new_email(browser, mpanel, password, f"flood-{i}-{secrets.token_hex(3)}@example.com")
               for i in range(4)]
    assert [a.status_code for a in answers] == [302, 302, 302, 429]
    assert int(answers[-1].headers["Retry-After"]) > 3000 and "3 confirmation emails an hour" in answers[-1].text


def _confirmed_email_change(mpanel, email: str, password: str, new: str) -> None:
    """The customer (or whoever has the password) moves the login to `new` and confirms it."""
    browser = _signed_in(mpanel, email, password)
    assert _ask_for_new_email(browser, mpanel, password, new).status_code == 302
    link = _link_in(mpanel, new, "Confirm your new email address", "/account/email/")
    form = browser.get(link, timeout=10)
    assert browser.post(link, data={"csrf": csrf_of(form.text)}, timeout=30).status_code == 200


def _undo_link(mpanel, old: str, count: int = 1) -> str:
    return _link_in(mpanel, old, "login email was changed", "/account/email/undo/", count=count)


def test_the_old_address_undoes_an_email_change_once(chromium, mpanel, settings):
    email, password = _customer(mpanel)
    intruder = f"intruder-{secrets.token_hex(4)}@example.com"
    _confirmed_email_change(mpanel, email, password, intruder)
    link = _undo_link(mpanel, email)
    row = wait_for(lambda: (lambda r: r if r["token_sealed"] is None else None)(_token_row(settings, link)), 30,
                   "the sealed undo token to be dropped once the notice is sent")
    assert row["used_at"] is None
    # The intruder holds a session and asks for a reset link to their address: both must die.
    intruders = _signed_in(mpanel, intruder, password)
    forgot = requests.Session()
    form = forgot.get(f"{mpanel.url}/forgot", timeout=10)
    forgot.post(f"{mpanel.url}/forgot", data={"csrf": csrf_of(form.text), "email": intruder}, timeout=10)
    intruders_reset = _link_in(mpanel, intruder, "Set a new password", "/reset/")

    page = chromium.new_context().new_page()
    opened = page.goto(link)
    assert opened.status == 200 and email in page.inner_text("main")
    assert _can_log_in(mpanel, intruder, password), "opening the link changes nothing: the button does"
    screenshot(page, "account-email-undo")
    phone = chromium.new_context(viewport={"width": 390, "height": 800}, bypass_csp=True).new_page()  # axe is injected
    assert phone.goto(link).status == 200  # opening it, on a phone too, changes nothing
    fits_the_screen(phone, "email-undo", 390)
    assert _submit(page, "button[type=submit]") == 200
    assert email in page.inner_text("#undo-done")
    screenshot(page, "account-email-undone")

    assert _can_log_in(mpanel, email, password) and not _can_log_in(mpanel, intruder, password)
    assert intruders.get(f"{mpanel.url}/dashboard", timeout=10, allow_redirects=False).status_code == 302, \
        "every session ended"
    assert requests.get(intruders_reset, timeout=10).status_code == 410, "the intruder's reset link died"

    again = page.goto(link)
    assert again.status == 410 and "already used" in page.inner_text("#link-gone")
    screenshot(page, "account-email-undo-used")
    assert phone.goto(link).status == 410
    fits_the_screen(phone, "email-undo-used", 390)
    phone.context.close()
    posted = requests.Session()
    form = posted.get(f"{mpanel.url}/forgot", timeout=10)
    assert posted.post(link, data={"csrf": csrf_of(form.text)}, timeout=10).status_code == 410
    page.context.close()


def test_an_expired_undo_link_is_refused(chromium, mpanel, settings):
    email, password = _customer(mpanel)
    new = f"kept-{secrets.token_hex(4)}@example.com"
    _confirmed_email_change(mpanel, email, password, new)
    link = _undo_link(mpanel, email)
    with psycopg.connect(settings.DATABASE_URL) as conn:
        conn.execute("UPDATE account_tokens SET expires_at = now() - interval '1 second' WHERE id = %s",
                     (_token_row(settings, link)["id"],))
    page = chromium.new_context().new_page()
    assert page.goto(link).status == 410 and "expired" in page.inner_text("#link-gone")
    posted = requests.Session()
    form = posted.get(f"{mpanel.url}/forgot", timeout=10)
    assert posted.post(link, data={"csrf": csrf_of(form.text)}, timeout=10).status_code == 410
    assert _can_log_in(mpanel, new, password) and not _can_log_in(mpanel, email, password)
    page.context.close()


def test_an_intruders_own_undo_link_cannot_outlast_the_owners(mpanel):
    """Owner A -> intruder B -> intruder C: B's undo link (back to B) is retired by the owner's
    undo, and using B's first leaves the owner's link working."""
    a, password = _customer(mpanel)
    b, c = (f"{n}-{secrets.token_hex(4)}@example.com" for n in ("b", "c"))
    _confirmed_email_change(mpanel, a, password, b)
    _confirmed_email_change(mpanel, b, password, c)
    owners, intruders = _undo_link(mpanel, a), _undo_link(mpanel, b)

    def use(link: str) -> int:
        s = requests.Session()
        form = s.get(link, timeout=10)
        return s.post(link, data={"csrf": csrf_of(form.text)}, timeout=30).status_code

    assert use(intruders) == 200 and _can_log_in(mpanel, b, password)
    assert use(owners) == 200 and _can_log_in(mpanel, a, password) and not _can_log_in(mpanel, b, password)
