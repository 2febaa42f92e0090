"""The customer's account pages: /account (password, email), /forgot, and the emailed links.

The links' pages answer with `Referrer-Policy: no-referrer` and `Cache-Control: no-store`,
so the token in their URL goes nowhere else; waitress keeps no access log.
"""
from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, request, session, url_for

from app.services.customers import customer_account as account
from app.services.customers.accounts import dashboard
from app.web.panel import _check_csrf, _csrf_token, login_required

bp = Blueprint("account", __name__)

FORGOT_ANSWER = ("If an account uses that address, we have sent it a link to set a new password. "
                 "It works once, for one hour.")


def _settings():
    return current_app.config["MPANEL"]


def _private(response, status: int = 200):
    response = current_app.make_response((response, status))
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/account")
@login_required
def account_page():
    return _account_page(notice=session.pop("notice", None))


def _account_page(status: int = 200, **extra):
    data = dashboard(_settings(), session["user_id"])
    return render_template("pages/account.html", csrf=_csrf_token(), customer=data["customer"], **extra), status


@bp.post("/account/password")
@login_required
def change_password():
    _check_csrf()
    try:
        generation = account.change_password(_settings(), session["user_id"], request.form.get("current_password"),
                                             request.form.get("new_password"))
    except account.AccountRefused as exc:
        return _account_page(exc.status, error=exc)
    session["gen"] = generation  # this session stays; every other one is over
    session["notice"] = "Your password is changed. You were signed out everywhere else."
    return redirect(url_for("account.account_page"))


@bp.post("/account/email")
@login_required
def change_email():
    _check_csrf()
    try:
        new_email = account.request_email_change(_settings(), session["user_id"],
                                                 request.form.get("current_password"), request.form.get("new_email"))
    except account.AccountRefused as exc:
        return _account_page(exc.status, error=exc, new_email=request.form.get("new_email", ""))
    session["notice"] = (f"We sent a link to {new_email}. Your email changes when you open it "
                         f"(within 24 hours); until then it stays as it is.")
    return redirect(url_for("account.account_page"))


@bp.get("/account/email/<token>")
def confirm_email_page(token: str):
    new_email = account.email_change_usable(_settings(), token)
    if new_email is None:
        return _private(render_template("pages/account_link.html", csrf=_csrf_token(), kind="gone"), 410)
    return _private(render_template("pages/account_link.html", csrf=_csrf_token(), kind="email",
                                    new_email=new_email, token=token))


@bp.post("/account/email/<token>")
def confirm_email(token: str):
    _check_csrf()
    try:
        new_email = account.confirm_email_change(_settings(), token)
    except account.AccountRefused as exc:
        return _private(render_template("pages/account_link.html", csrf=_csrf_token(), kind="gone",
                                        error=exc), exc.status)
    return _private(render_template("pages/account_link.html", csrf=_csrf_token(), kind="email_done",
                                    new_email=new_email))


@bp.get("/forgot")
def forgot_page():
    return render_template("pages/account_link.html", csrf=_csrf_token(), kind="forgot")


@bp.post("/forgot")
def forgot():
    _check_csrf()
    try:
        account.request_password_reset(_settings(), request.form.get("email"))
    except account.AccountRefused as exc:
        return render_template("pages/account_link.html", csrf=_csrf_token(), kind="forgot", error=exc), 422
    return render_template("pages/account_link.html", csrf=_csrf_token(), kind="forgot", notice=FORGOT_ANSWER)


@bp.get("/reset/<token>")
def reset_page(token: str):
    if not account.reset_link_usable(_settings(), token):
        return _private(render_template("pages/account_link.html", csrf=_csrf_token(), kind="gone"), 410)
    return _private(render_template("pages/account_link.html", csrf=_csrf_token(), kind="reset", token=token))


@bp.post("/reset/<token>")
def reset(token: str):
    _check_csrf()
    try:
        account.reset_password(_settings(), token, request.form.get("new_password"))
    except account.AccountRefused as exc:
        kind = "gone" if exc.field == "token" else "reset"
        return _private(render_template("pages/account_link.html", csrf=_csrf_token(), kind=kind, token=token,
                                        error=exc), exc.status)
    session.clear()
    return _private(render_template("pages/account_link.html", csrf=_csrf_token(), kind="reset_done"))
