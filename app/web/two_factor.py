"""The customer's second factor pages: /account/two-factor (enrol, confirm, recovery codes, turn off).
The login step itself is the panel's (/login/code)."""
from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, request, session, url_for

from app.services.customers import two_factor
from app.services.customers.accounts import dashboard
from app.web import csrf
from app.web.panel import guard, login_required, with_notice
from app.web.refusals import answer_on_pages, back_to

bp = Blueprint("two_factor", __name__)
bp.before_request(guard)
answer_on_pages(bp)


def _settings():
    return current_app.config["MPANEL"]


def _page(status: int = 200, **extra):
    settings, user_id = _settings(), session["user_id"]
    email = dashboard(settings, user_id)["customer"]["email"]
    on = two_factor.is_on(settings, user_id)
    secret = None if on else two_factor.pending_secret(settings, user_id)
    uri = two_factor.totp.provisioning_uri(secret, email, two_factor.ISSUER) if secret else None
    response = current_app.make_response((render_template(
        "pages/two_factor.html", csrf=csrf.session_token(), on=on, secret=secret, uri=uri,
        notice=session.pop("notice", None), **extra), status))
    response.headers["Cache-Control"] = "no-store"  # a secret or recovery codes may be on it
    return response


@bp.get("/account/two-factor")
@login_required
def page():
    return _page()


@bp.post("/account/two-factor/start")
@login_required
@back_to(lambda exc: _page(exc.status, error=exc))
def start():
    email = dashboard(_settings(), session["user_id"])["customer"]["email"]
    two_factor.start_enrolment(_settings(), session["user_id"], email)
    return redirect(url_for("two_factor.page"))


@bp.post("/account/two-factor/confirm")
@login_required
@back_to(lambda exc: _page(exc.status, error=exc))
def confirm():
    codes = two_factor.confirm_enrolment(_settings(), session["user_id"], request.form.get("code", ""))
    return _page(recovery_codes=codes)


@bp.post("/account/two-factor/off")
@login_required
@back_to(lambda exc: _page(exc.status, error=exc))
def turn_off():
    two_factor.turn_off(_settings(), session["user_id"], request.form.get("code", ""))
    return with_notice("two_factor.page", "Two-factor authentication is off.")
