"""The customer panel: log in with the checkout's email and password, see your hosting."""
from __future__ import annotations

import hashlib
import secrets

from flask import Blueprint, current_app, redirect, render_template, request, session, url_for

from app.services.customers import customer_account, two_factor
from app.services.domains import dns_editor, domain_state, proof
from app.services.hosting import hosting_login, mailboxes
from app.services.orders import checkout, customer_billing
from app.services.orders.billing import PaymentServiceError
from app.services.customers.accounts import (authenticate, dashboard, finish_onboarding, needs_onboarding,
                                             request_cpanel_password_reset)
from app.web import csrf
from app.web.refusals import answer_on_pages, back_to, error_answer

bp = Blueprint("panel", __name__)
answer_on_pages(bp)


def init_app(app) -> None:
    # A key of its own, not the encryption key: every engine and provider process has that one
    # in its environment, and whoever can sign a cookie is any customer. Unset, a random key
    # per process (sessions end when the app restarts).
    key = app.config["MPANEL"].MPANEL_SESSION_KEY or secrets.token_hex(32)
    app.secret_key = hashlib.sha256(b"mpanel session cookie:" + key.encode()).digest()
    app.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
                      SESSION_COOKIE_SECURE=app.config["MPANEL"].APP_URL.startswith("https://"))


def login_required(view):
    """Marks the view as the signed-in customer's: `guard` sends anyone else to the login page."""
    view.login_required = True
    return view


def with_notice(endpoint: str, notice: str, **values):
    """Back to a page after its form did the work: the notice is said once, on the page's next view."""
    session["notice"] = notice
    return redirect(url_for(endpoint, **values))


def private(response):
    """An answer carrying a secret (a one-time login link, a token in the URL): it goes to no
    referrer and no cache."""
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response


def _signed_in() -> bool:
    if "user_id" not in session:
        return False
    # Signed-cookie sessions cannot be deleted server-side: a password change bumps the
    # user's generation, and a session issued under an older one is over.
    current = customer_account.session_generation(current_app.config["MPANEL"], session["user_id"])
    if current is None or session.get("gen") != current:
        session.clear()
        return False
    return True


@bp.before_request
def guard():
    """Every request of the customer's pages (this blueprint's and `account`'s), once: a view
    for the signed-in customer sends anyone else to log in, then every unsafe method must carry
    the session's CSRF token. In that order: a form posted without a session is asked to log in."""
    view = current_app.view_functions.get(request.endpoint)
    if getattr(view, "login_required", False) and not _signed_in():
        return redirect(url_for("panel.login", next=request.path))
    if request.method not in csrf.SAFE_METHODS:
        csrf.check(session.get("csrf"))
    return None


@bp.get("/login")
def login():
    return render_template("pages/login.html", csrf=csrf.session_token(), error=None, email="")


def _login_page(error: str | None, email: str, status: int):
    return render_template("pages/login.html", csrf=csrf.session_token(), email=email, error=error), status


@bp.post("/login")
@back_to(lambda exc: _login_page(exc.message, request.form.get("email", ""), exc.status))
def login_submit():
    email, password = request.form.get("email", ""), request.form.get("password", "")
    user_id = (authenticate(current_app.config["MPANEL"], email, password, request.remote_addr or "-")
               if email and password else None)
    if user_id is None:
        return _login_page("That email and password do not match an account.", email, 401)
    session.clear()
    if two_factor.is_on(current_app.config["MPANEL"], user_id):
        # The password was right; the session starts only once the second factor is too.
        session["code_for"] = user_id
        return redirect(url_for("panel.login_code"))
    return _start_session(user_id)


def _start_session(user_id: int):
    session.clear()
    session["user_id"] = user_id
    session["gen"] = customer_account.session_generation(current_app.config["MPANEL"], user_id)
    first_time = needs_onboarding(current_app.config["MPANEL"], user_id)
    return redirect(url_for("panel.welcome") if first_time else url_for("panel.home"))


@bp.get("/login/code")
def login_code():
    if "code_for" not in session:
        return redirect(url_for("panel.login"))
    return render_template("pages/login_code.html", csrf=csrf.session_token(), error=None)


@bp.post("/login/code")
def login_code_submit():
    """The second step when two-factor authentication is on: a code of the app or a recovery code."""
    user_id = session.get("code_for")
    if user_id is None:
        return redirect(url_for("panel.login"))
    if not two_factor.second_factor_is_right(current_app.config["MPANEL"], user_id, request.form.get("code", ""),
                                           request.remote_addr or ""):
        return render_template("pages/login_code.html", csrf=csrf.session_token(),
                               error="That code is not right (or was used already)."), 401
    return _start_session(user_id)


@bp.post("/logout")
def logout():
    # The cookie is signed, not stored: clearing it here leaves any copy of it valid, so the
    # user's session generation moves on and every session issued before it is refused.
    if _signed_in():
        customer_account.end_sessions(current_app.config["MPANEL"], session["user_id"])
    session.clear()
    return redirect(url_for("panel.login"))


@bp.get("/dashboard")
@login_required
def home():
    return _dashboard_page(notice=session.pop("notice", None))


def _dashboard_page(**extra):
    data = dashboard(current_app.config["MPANEL"], session["user_id"])
    return render_template("pages/dashboard.html", csrf=csrf.session_token(), **extra, **data)


def _dashboard_notice(name: str):
    """Refusals shown on the dashboard, under the site they concern, as the template's `name`."""
    def render(exc, subscription_id: int, **_):
        return _dashboard_page(**{name: exc}, error_site=subscription_id), exc.status
    return render


@bp.post("/sites/<int:subscription_id>/mailboxes")
@login_required
@back_to(_dashboard_notice("error"))
def add_mailbox(subscription_id: int):
    address = mailboxes.add_mailbox(current_app.config["MPANEL"], session["user_id"], subscription_id,
                                    request.form.get("local_part", ""), request.form.get("password", ""))
    return with_notice("panel.home",
                       f"{address} is being created: it works in a few seconds, with the password you chose.")


@bp.post("/sites/<int:subscription_id>/mailboxes/<local_part>/remove")
@login_required
def remove_mailbox(subscription_id: int, local_part: str):
    address = mailboxes.remove_mailbox(current_app.config["MPANEL"], session["user_id"], subscription_id, local_part)
    return with_notice("panel.home", f"{address} is being removed, with the mail in it.")


@bp.post("/sites/<int:subscription_id>/cpanel-password")
@login_required
def reset_cpanel_password(subscription_id: int):
    """A new temporary cPanel password, set by the worker and sent by email (never shown here)."""
    request_cpanel_password_reset(current_app.config["MPANEL"], session["user_id"], subscription_id)
    return with_notice("panel.home", "A new cPanel password is being set: it will be in your inbox in a minute.")


@bp.post("/sites/<int:subscription_id>/open/<app>")
@login_required
@back_to(_dashboard_notice("login_error"))
def open_hosting_app(subscription_id: int, app: str):
    """One-click cPanel or Webmail: the one-time login link travels only in this redirect's
    Location (the form opens a new tab), never in a page, the session or a log."""
    url = hosting_login.one_time_login_url(current_app.config["MPANEL"], session["user_id"], subscription_id, app)
    return private(redirect(url, 303))


@bp.get("/sites/new")
@login_required
def new_site():
    return _new_site_page()


def _new_site_page(status: int = 200, error=None, form=None):
    settings = current_app.config["MPANEL"]
    return render_template("pages/new_site.html", csrf=csrf.session_token(), money=customer_billing.money,
                           plans=customer_billing.plans_on_sale(settings), error=error, form=form or {}), status


@bp.post("/sites/new")
@login_required
@back_to(lambda exc: _new_site_page(exc.status, exc, request.form))
def add_site():
    """Add a site: the order is placed for this customer, then paid on Stripe Checkout (their
    Stripe customer, so their saved card), which comes back to the progress page as a first order does."""
    try:
        placed = checkout.add_site(current_app.config["MPANEL"], session["user_id"], request.form.to_dict())
    except PaymentServiceError as exc:  # Stripe refused or is away: nothing of the order stays
        return _new_site_page(502, {"field": "payment", "message": str(exc)}, request.form)
    if placed["checkoutUrl"] is None:  # nothing to pay (a free order): straight to its progress
        return redirect(url_for("panel.home"))
    return redirect(placed["checkoutUrl"], 303)


@bp.get("/sites/<int:subscription_id>/billing")
@login_required
def billing_page(subscription_id: int):
    return _billing_page(subscription_id, notice=session.pop("notice", None))


def _billing_page(subscription_id: int, status: int = 200, **extra):
    data = customer_billing.billing_overview(current_app.config["MPANEL"], session["user_id"], subscription_id)
    return render_template("pages/billing.html", csrf=csrf.session_token(), money=customer_billing.money,
                           **extra, **data), status


def _billing_notice(exc, subscription_id: int, **_):
    """Back to the billing page with the refusal; a site that is not theirs is only a 404."""
    return None if exc.status == 404 else _billing_page(subscription_id, exc.status, error=exc)


@bp.post("/sites/<int:subscription_id>/billing/portal")
@login_required
@back_to(_billing_notice)
def billing_portal(subscription_id: int):
    """Manage billing: a fresh Stripe Customer Portal session, opened by a redirect."""
    url = customer_billing.portal_url(current_app.config["MPANEL"], session["user_id"], subscription_id)
    return redirect(url, 303)


@bp.post("/sites/<int:subscription_id>/plan/preview")
@login_required
@back_to(_billing_notice)
def preview_plan(subscription_id: int):
    preview = customer_billing.preview_plan_change(current_app.config["MPANEL"], session["user_id"],
                                                   subscription_id, request.form.get("plan"))
    return _billing_page(subscription_id, preview=preview)


@bp.post("/sites/<int:subscription_id>/plan")
@login_required
@back_to(_billing_notice)
def change_plan(subscription_id: int):
    plan = customer_billing.change_plan(current_app.config["MPANEL"], session["user_id"], subscription_id,
                                        request.form.get("plan"), request.form.get("proration_date"))
    return with_notice("panel.billing_page",
                       f"You are moving to {plan['name']}: Stripe has billed the difference, and your "
                       f"hosting gets the new plan's limits within a minute.",
                       subscription_id=subscription_id)


@bp.get("/sites/<int:subscription_id>/dns")
@login_required
def dns_page(subscription_id: int):
    return _dns_page(subscription_id, notice=session.pop("notice", None))


def _dns_page(subscription_id: int, status: int = 200, **extra):
    data = dns_editor.zone_view(current_app.config["MPANEL"], session["user_id"], subscription_id)
    return render_template("pages/dns.html", csrf=csrf.session_token(), **extra, **data), status


def _record_form() -> dict:
    return {k: request.form.get(k) for k in ("name", "type", "content", "ttl")}


def _dns_notice(exc, subscription_id: int, **_):
    """Back to the editor with the refusal and what was typed; a site that is not theirs is only a 404."""
    return None if exc.status == 404 else _dns_page(subscription_id, exc.status, error=exc, form=_record_form())


@bp.post("/sites/<int:subscription_id>/dns")
@login_required
@back_to(_dns_notice)
def add_dns_record(subscription_id: int):
    record = dns_editor.add_record(current_app.config["MPANEL"], session["user_id"], subscription_id, _record_form())
    return with_notice("panel.dns_page",
                       f"{record['name']} {record['type']} is being published: it answers in a few seconds.",
                       subscription_id=subscription_id)


@bp.post("/sites/<int:subscription_id>/dns/<int:record_id>/remove")
@login_required
def remove_dns_record(subscription_id: int, record_id: int):
    removed = dns_editor.remove_record(current_app.config["MPANEL"], session["user_id"], subscription_id, record_id)
    return with_notice("panel.dns_page",
                       f"{removed['name']} {removed['type']} {removed['content']} is being removed.",
                       subscription_id=subscription_id)


@bp.post("/sites/<int:subscription_id>/dns/reset")
@login_required
def reset_dns(subscription_id: int):
    count = dns_editor.reset_to_defaults(current_app.config["MPANEL"], session["user_id"], subscription_id)
    return with_notice("panel.dns_page",
                       f"Your {count} records are being removed: the zone goes back to its defaults.",
                       subscription_id=subscription_id)


@bp.get("/sites/<int:subscription_id>/domain")
@login_required
def domain_page(subscription_id: int):
    data = domain_state.domain_view(current_app.config["MPANEL"], session["user_id"], subscription_id)
    return render_template("pages/domain.html", csrf=csrf.session_token(), notice=session.pop("notice", None),
                           **data)


def _domain_error(exc, **_):
    """The domain's forms answer a refusal as an error naming the field first."""
    return error_answer(exc.status, f"{exc.field}: {exc.message}")


def _domain_switch(subscription_id: int, turn, field: str, notice: str):
    """One of the domain's on/off settings at the registrar, turned as the form says."""
    on = turn(current_app.config["MPANEL"], session["user_id"], subscription_id, request.form.get(field))
    return with_notice("panel.domain_page", notice.format("on" if on else "off"), subscription_id=subscription_id)


@bp.post("/sites/<int:subscription_id>/domain/auto-renew")
@login_required
@back_to(_domain_error)
def domain_auto_renew(subscription_id: int):
    return _domain_switch(subscription_id, domain_state.set_auto_renew, "auto_renew",
                          "Auto-renew is being turned {} at the registrar.")


@bp.post("/sites/<int:subscription_id>/domain/lock")
@login_required
@back_to(_domain_error)
def domain_lock(subscription_id: int):
    return _domain_switch(subscription_id, domain_state.set_lock, "lock", "The registrar lock is being turned {}.")


@bp.post("/sites/<int:subscription_id>/domain/transfer-code")
@login_required
@back_to(_domain_error)
def domain_transfer_code(subscription_id: int):
    name = domain_state.send_transfer_code(current_app.config["MPANEL"], session["user_id"], subscription_id)
    # The code itself is never here: the registrar emails it.
    return with_notice("panel.domain_page",
                       f"The registrar is emailing the transfer code of {name} to the domain's "
                       "administrative contact.",
                       subscription_id=subscription_id)


@bp.post("/sites/<int:subscription_id>/domain/check-control")
@login_required
@back_to(_domain_error)
def domain_check_control(subscription_id: int):
    proven = proof.check_now(current_app.config["MPANEL"], session["user_id"], subscription_id)
    return with_notice("panel.domain_page",
                       "Proof of control found: mail from other senders is being routed to your mailboxes."
                       if proven else "No proof of control found yet: see below what was seen.",
                       subscription_id=subscription_id)


# The first-time login wizard (seed step 7): three short steps over the customer's hosting,
# then the dashboard. Shown after the first login once a site is ready; always reachable
# from the dashboard; finishing or skipping it is remembered.
WIZARD_STEPS = ("domain", "email", "website")


@bp.get("/welcome")
@login_required
def welcome():
    step = request.args.get("step", WIZARD_STEPS[0])
    if step not in WIZARD_STEPS:
        return redirect(url_for("panel.welcome"))
    settings = current_app.config["MPANEL"]
    data = dashboard(settings, session["user_id"])
    data["sites"] = [site for site in data["sites"]
                     if site["provisioning_status"] == "ready" and site["status"] == "active"]
    number = WIZARD_STEPS.index(step)
    return render_template("pages/welcome.html", csrf=csrf.session_token(), step=step, steps=WIZARD_STEPS, number=number,
                           next_step=WIZARD_STEPS[number + 1] if number + 1 < len(WIZARD_STEPS) else None,
                           mail_host=settings.MAIL_SERVER_HOST, **data)


@bp.post("/welcome")
@login_required
def welcome_done():
    finish_onboarding(current_app.config["MPANEL"], session["user_id"])
    return redirect(url_for("panel.home"))
