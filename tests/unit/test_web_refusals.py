"""A service's refusal answered by one handler per blueprint, and the CSRF token checked once
per HTML blueprint: no view catches a refusal or checks a token itself."""
from __future__ import annotations

import pytest
from flask import Blueprint, Flask

from app import create_app
from app.services.common.refusals import Refused
from app.services.customers.sites import NotYourSite
from app.services.hosting.mailboxes import MailboxRefused
from app.services.operators.staff import StaffSession
from app.services.orders.validation import MalformedBody, ValidationError
from app.settings import Settings
from app.web import errors, ops, panel
from app.web.refusals import answer_on_pages, back_to

HTML_BLUEPRINTS = ("panel", "account", "ops")


# --- the JSON APIs: a refusal is {"error", "message", "field"} with its status ---------------

def _api_answering(exc: Exception) -> Flask:
    app = Flask(__name__)
    errors.init_app(app)
    api = Blueprint("api", __name__)

    @api.post("/refuse")
    def refuse():
        raise exc

    app.register_blueprint(api)
    return app


@pytest.mark.parametrize("exc, status, body", [
    (Refused("domain", "is hosted here already"), 422,
     {"error": "refused", "message": "is hosted here already", "field": "domain"}),
    (ValidationError("customer.email", "is not an email address"), 422,
     {"error": "invalid_field", "message": "customer.email is not an email address", "field": "customer.email"}),
    (MalformedBody("payload_too_large", "the body must be under 16384 bytes"), 413,
     {"error": "payload_too_large", "message": "the body must be under 16384 bytes", "field": "body"}),
    (errors.ApiError(401, "unauthorized", "missing or wrong X-API-Key", "X-API-Key"), 401,
     {"error": "unauthorized", "message": "missing or wrong X-API-Key", "field": "X-API-Key"}),
    (Refused(None, "not now", status=409), 409, {"error": "refused", "message": "not now"}),
])
def test_an_api_refusal_is_json_naming_the_field(exc, status, body):
    answer = _api_answering(exc).test_client().post("/refuse")
    assert (answer.status_code, answer.get_json()) == (status, body)


# --- the pages: back to the page the view declares, or the plain error answer --------------

def _pages_answering(exc: Exception) -> Flask:
    app = Flask(__name__)
    errors.init_app(app)
    pages = Blueprint("pages", __name__)
    answer_on_pages(pages)

    @pages.post("/sites/<int:site>/form")
    @back_to(lambda refusal, site: None if refusal.status == 404 else
             (f"site {site}: {refusal.field} {refusal.message}", refusal.status))
    def form(site: int):
        raise exc

    @pages.post("/sites/<int:site>/button")
    def button(site: int):
        raise exc

    app.register_blueprint(pages)
    return app


def test_a_refusal_goes_back_to_the_page_the_view_declares_with_its_notice():
    answer = _pages_answering(MailboxRefused("local_part", "admin@ is reserved")).test_client().post("/sites/7/form")
    assert (answer.status_code, answer.text) == (422, "site 7: local_part admin@ is reserved")


def test_a_refusal_the_page_does_not_take_is_the_plain_error_of_its_status():
    client = _pages_answering(NotYourSite(active=True)).test_client()
    for path in ("/sites/7/form", "/sites/7/button"):
        answer = client.post(path)
        assert answer.status_code == 404
        assert answer.get_json() == {"error": "not_found", "message": "no active site of yours with that number"}


# --- CSRF: every unsafe endpoint of every HTML blueprint refuses a form without its token ---

@pytest.fixture
def app(monkeypatch):
    # Signed in everywhere (customer and staff), so that only the token is missing; no database.
    monkeypatch.setattr(panel, "_signed_in", lambda: True)
    owner = StaffSession(1, "owner@example.com", "owner", "the-staff-token", "hash")
    monkeypatch.setattr(ops.staff, "session_for", lambda settings, token: owner)
    return create_app(Settings(), open_queue=False)


def _unsafe_endpoints(app: Flask) -> list[tuple[str, str, str]]:
    found = []
    with app.test_request_context():
        for rule in app.url_map.iter_rules():
            if rule.endpoint.split(".")[0] not in HTML_BLUEPRINTS:
                continue
            values = {arg: 1 if type(conv).__name__ == "IntegerConverter" else "x"
                      for arg, conv in rule._converters.items()}
            for method in sorted(rule.methods - {"GET", "HEAD", "OPTIONS"}):
                found.append((rule.endpoint, method, rule.build(values)[1]))
    return found


def test_every_html_blueprint_has_unsafe_endpoints_to_guard(app):
    guarded = {endpoint.split(".")[0] for endpoint, _, _ in _unsafe_endpoints(app)}
    assert guarded == set(HTML_BLUEPRINTS)


def test_a_form_without_its_csrf_token_is_refused_on_every_unsafe_endpoint(app):
    client = app.test_client()
    with client.session_transaction() as session:
        session["user_id"], session["csrf"] = 1, "the-session-token"
    client.set_cookie(ops.COOKIE, "a-staff-session", path="/ops")
    client.set_cookie(ops.LOGIN_CSRF_COOKIE, "the-login-token", path="/ops")
    for endpoint, method, path in _unsafe_endpoints(app):
        for form in ({}, {"csrf": "not-the-token"}):
            answer = client.open(path, method=method, data=form)
            assert answer.status_code == 400, (endpoint, form, answer.status_code)
            assert "the form expired" in answer.text, endpoint


def test_a_form_posted_without_a_session_is_asked_to_log_in_first(monkeypatch):
    monkeypatch.setattr(panel, "_signed_in", lambda: False)
    client = create_app(Settings(), open_queue=False).test_client()
    answer = client.post("/sites/1/dns/reset")
    assert answer.status_code == 302 and "/login" in answer.headers["Location"]
    assert client.post("/login").status_code == 400  # no login needed there: only the token


def test_the_staff_login_form_takes_the_login_cookies_token(app, monkeypatch):
    seen = []
    monkeypatch.setattr(ops.staff, "log_in", lambda *args: seen.append(args) or
                        type("Outcome", (), {"token": None, "error": "no", "retry_after": None})())
    client = app.test_client()
    client.set_cookie(ops.LOGIN_CSRF_COOKIE, "the-login-token", path="/ops")
    assert client.post("/ops/login", data={"csrf": "the-staff-token"}).status_code == 400
    assert client.post("/ops/login", data={"csrf": "the-login-token"}).status_code == 401 and len(seen) == 1
