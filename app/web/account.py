"""The customer's account pages: /account (password, email), /forgot, and the emailed links.

The links' pages answer with `Referrer-Policy: no-referrer` and `Cache-Control: no-store`,
so the token in their URL goes nowhere else; waitress keeps no access log.
"""
from __future__ import annotations

from flask import Blueprint, current_app, render_template, request, session

from app.services.customers import customer_account as account, two_factor
from app.services.customers.accounts import dashboard
from app.web import csrf
from app.web.panel import guard, login_required, private, with_notice
from app.web.refusals import answer_on_pages, back_to

bp = Blueprint("account", __name__)
bp.before_request(guard)  # the panel's: signed in where a view needs it, then the form's CSRF token
answer_on_pages(bp)

FORGOT_ANSWER = ("If an account uses that address, we have sent it a link to set a new password. "
                 "It works once, for one hour.")


def _settings():
    return current_app.config["MPANEL"]


def _private(response, status: int = 200):
    return private(current_app.make_response((response, status)))


@bp.get("/account")
@login_required
def account_page():
    return _account_page(notice=session.pop("notice", None))


def _account_page(status: int = 200, **extra):
    data = dashboard(_settings(), session["user_id"])
    return render_template("pages/account.html", csrf=csrf.session_token(), customer=data["customer"],
                           **extra), status


def _link_page(kind: str, status: int = 200, **extra):
    """The page of an emailed link (or of the form that asks for one), kept out of referrers and caches."""
    return _private(render_template("pages/account_link.html", csrf=csrf.session_token(), kind=kind, **extra),
                    status)


@bp.post("/account/password")
@login_required
@back_to(lambda exc: _account_page(exc.status, error=exc))
def change_password():
    generation = account.change_password(_settings(), session["user_id"], request.form.get("current_password"),
                                         request.form.get("new_password"))
    session["gen"] = generation  # this session stays; every other one is over
    return with_notice("account.account_page", "Your password is changed. You were signed out everywhere else.")


@bp.post("/account/email")
@login_required
@back_to(lambda exc: _account_page(exc.status, error=exc, new_email=request.form.get("new_email", "")))
def change_email():
    new_email = account.request_email_change(_settings(), session["user_id"],
                                             request.form.get("current_password"), request.form.get("new_email"))
    return with_notice("account.account_page", f"We sent a link to {new_email}. Your email changes when you open it "
                                               f"(within 24 hours); until then it stays as it is.")


@bp.get("/account/email/<token>")
def confirm_email_page(token: str):
    new_email = account.email_change_usable(_settings(), token)
    if new_email is None:
        return _link_page("gone", 410)
    return _link_page("email", new_email=new_email, token=token)


@bp.post("/account/email/<token>")
@back_to(lambda exc, token: _link_page("gone", exc.status, error=exc))
def confirm_email(token: str):
    new_email = account.confirm_email_change(_settings(), token)
    session.clear()  # every session ended with the change: this one too
    return _link_page("email_done", new_email=new_email)


@bp.get("/account/email/undo/<token>")
def undo_email_page(token: str):
    # Opening the link changes nothing (mail scanners follow links): the button below does.
    old_email = account.email_change_undo_usable(_settings(), token)
    if old_email is None:
        return _link_page("undo_gone", 410)
    return _link_page("undo", old_email=old_email, token=token)


@bp.post("/account/email/undo/<token>")
@back_to(lambda exc, token: _link_page("undo_gone", exc.status, error=exc))
def undo_email(token: str):
    old_email = account.undo_email_change(_settings(), token)
    session.clear()  # every session ended with the undo: this one too
    return _link_page("undo_done", old_email=old_email)


@bp.get("/forgot")
def forgot_page():
    return render_template("pages/account_link.html", csrf=csrf.session_token(), kind="forgot")


@bp.post("/forgot")
@back_to(lambda exc: (render_template("pages/account_link.html", csrf=csrf.session_token(), kind="forgot",
                                      error=exc), exc.status))
def forgot():
    account.request_password_reset(_settings(), request.form.get("email"), request.remote_addr or "-")
    return render_template("pages/account_link.html", csrf=csrf.session_token(), kind="forgot", notice=FORGOT_ANSWER)


@bp.get("/reset/<token>")
def reset_page(token: str):
    if not account.reset_link_usable(_settings(), token):
        return _link_page("gone", 410)
    return _link_page("reset", token=token)


@bp.post("/reset/<token>")
@back_to(lambda exc, token: _link_page("gone" if exc.field == "token" else "reset", exc.status, token=token,
                                       error=exc))
def reset(token: str):
    user_id = account.reset_password(_settings(), token, request.form.get("new_password"))
    session.clear()
    # A lost phone: the emailed link plus a recovery code turn the second factor off.
    recovery_code = request.form.get("recovery_code", "").strip()
    if recovery_code and two_factor.is_on(_settings(), user_id):
        try:
            two_factor.turn_off_with_recovery_code(_settings(), user_id, recovery_code)
        except two_factor.TwoFactorRefused as exc:
            return _link_page("reset_done", exc.status, error=exc)
        return _link_page("reset_done", notice="Two-factor authentication is off: log in with your new password.")
    return _link_page("reset_done")
