"""The operators' console under /ops: staff login, overview, subscriptions, one subscription
with its stack and runs, actions, the needs-attention work list, the web servers, staff, the
audit log. Views parse, call one service, render.

Staff sessions are not customers': their own cookie (path /ops), kept in the database and
re-checked on every request. Every route names the action it needs (app/services/operators/staff_roles.py);
every form carries the session's CSRF token (the login forms a cookie-bound one). Both are checked
once, by `guard`, before any view runs.
"""
from __future__ import annotations

import secrets

from flask import Blueprint, abort, current_app, g, jsonify, make_response, redirect, render_template, request, url_for
from werkzeug.exceptions import HTTPException

from app.services.hosting.servers import ServerInput, ServerRefused
from app.services.operators import console, console_actions, console_attention, console_servers, console_staff, staff
from app.services.operators.staff_roles import ACTIONS, ROLES, NotAllowed, actions_for, allowed
from app.web import csrf
from app.web.refusals import answer_on_pages, back_to

bp = Blueprint("ops", __name__, url_prefix="/ops")
answer_on_pages(bp)

COOKIE = "mpanel_ops"
LOGIN_CSRF_COOKIE = "mpanel_ops_login"


def _settings():
    return current_app.config["MPANEL"]


def _address() -> str:
    return request.remote_addr or "-"


def _secure() -> bool:
    return _settings().APP_URL.startswith("https://")


@bp.before_request
def load_staff():
    g.staff = staff.session_for(_settings(), request.cookies.get(COOKIE))


@bp.app_context_processor
def staff_context():
    who = g.get("staff")
    return {"staff_user": who, "can": (lambda action: bool(who) and allowed(who.role, action))}


def requires(action: str):
    """Marks the view as needing a live staff session whose role allows `action` (checked by `guard`)."""
    assert action in ACTIONS, action

    def declare(view):
        view.requires = action
        return view
    return declare


def login_form(view):
    """Marks a form posted before any staff session exists: its CSRF token is the login cookie's."""
    view.login_form = True
    return view


@bp.before_request
def guard():
    """Every request under /ops, once, before its view: the staff session and role the view
    requires (a GET page without one is sent to log in, anything else is a 401; a role below
    the action a 403), then for every unsafe method the form's CSRF token: the login cookie's
    on the login forms, the staff session's on every other."""
    view = current_app.view_functions.get(request.endpoint)
    action = getattr(view, "requires", None)
    if action is not None:
        if g.staff is None:
            if request.method == "GET" and not request.path.endswith(".json"):
                return redirect(url_for("ops.login", next=request.full_path.rstrip("?")))
            abort(401, description="log in at /ops/login")
        if not allowed(g.staff.role, action):
            # Refused by the server whatever the page showed, and written down (who tried what).
            staff.audit(_settings(), g.staff, action, None, "refused", f"{request.method} {request.path}"[:500],
                        _address())
            raise NotAllowed(g.staff.role, action)
    if request.method not in csrf.SAFE_METHODS:
        if getattr(view, "login_form", False):
            csrf.check(request.cookies.get(LOGIN_CSRF_COOKIE, ""))
        else:
            csrf.check(g.staff.csrf if g.staff else None)
    return None


@bp.errorhandler(NotAllowed)
def not_allowed(exc: NotAllowed):
    return render_template("ops/message.html", title="Not allowed", message=str(exc)), 403


@bp.errorhandler(HTTPException)
def http_error(exc: HTTPException):
    if request.path.endswith(".json"):
        return jsonify(error=exc.name.lower().replace(" ", "_"), message=exc.description), exc.code
    return render_template("ops/message.html", title=exc.name, message=exc.description), exc.code


# --- login ----------------------------------------------------------------------------------

@bp.get("/login")
def login():
    return _login_page()


def _login_page(error: str | None = None, email: str = "", status: int = 200):
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(24)
    response = make_response(render_template("ops/login.html", csrf=token, error=error, email=email), status)
    response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="Strict", secure=_secure(), path="/ops")
    return response


@bp.post("/login")
@login_form
def login_submit():
    email = request.form.get("email", "")
    outcome = staff.log_in(_settings(), email, request.form.get("password", ""), request.form.get("code", ""),
                           _address())
    if outcome.token is None:
        response = _login_page(outcome.error, email, 429 if outcome.retry_after else 401)
        if outcome.retry_after:
            response.headers["Retry-After"] = str(outcome.retry_after)
        return response
    target = request.args.get("next", "")
    response = redirect(target if target.startswith("/ops/") and not target.startswith("//") else url_for("ops.overview"))
    response.set_cookie(COOKIE, outcome.token, httponly=True, samesite="Strict", secure=_secure(), path="/ops",
                        max_age=staff.SESSION_HOURS * 3600)
    return response


@bp.post("/logout")
@requires("read")
def logout():
    staff.log_out(_settings(), g.staff, _address())
    response = redirect(url_for("ops.login"))
    response.delete_cookie(COOKIE, path="/ops")
    return response


@bp.route("/set-password", methods=["GET", "POST"])
@login_form
@back_to(lambda exc: _login_page_for_password(request.values.get("token", ""), exc.message, 422))
def set_password():
    token = request.values.get("token", "")
    if request.method == "GET":
        return _login_page_for_password(token)
    done = staff.set_password_with_link(_settings(), token, request.form.get("password", ""))
    if not done:
        return _login_page_for_password(token, "This link was used already or has expired.", 410)
    return redirect(url_for("ops.login"))


def _login_page_for_password(token: str, error: str | None = None, status: int = 200):
    login_token = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(24)
    response = make_response(render_template("ops/set_password.html", csrf=login_token, token=token, error=error),
                             status)
    response.set_cookie(LOGIN_CSRF_COOKIE, login_token, httponly=True, samesite="Strict", secure=_secure(), path="/ops")
    return response


# --- pages ----------------------------------------------------------------------------------

@bp.get("/")
@requires("read")
def overview():
    return render_template("ops/overview.html", **console.overview(_settings()),
                           billing_states=console.BILLING_STATES, stack_states=console.STACK_STATES)


@bp.get("/subscriptions")
@requires("read")
def subscriptions():
    args = request.args
    before = args.get("before", "")
    found = console.subscriptions(_settings(), query=args.get("q", "")[:200], status=args.get("status", ""),
                                  stack=args.get("stack", ""), attention=args.get("attention") == "1",
                                  before_id=int(before) if before.isdigit() else None)
    return render_template("ops/subscriptions.html", **found, q=args.get("q", ""), status=args.get("status", ""),
                           stack=args.get("stack", ""), attention=args.get("attention") == "1",
                           billing_states=console.BILLING_STATES, stack_states=console.STACK_STATES)


@bp.get("/subscriptions/<int:subscription_id>")
@requires("read")
def subscription(subscription_id: int):
    page = console.subscription(_settings(), subscription_id)
    if page is None:
        abort(404, description=f"no subscription {subscription_id}")
    return render_template("ops/subscription.html", **page, notice=request.args.get("notice"),
                           error=request.args.get("error"), csrf=g.staff.csrf, allowed=actions_for(g.staff.role),
                           watch=request.args.get("watch", ""))


@bp.get("/subscriptions/<int:subscription_id>/stack")
@requires("read")
def stack(subscription_id: int):
    """The stack's resources and engine history: an engine call, so loaded apart from the page."""
    return render_template("ops/_stack.html", **console.stack_resources(_settings(), subscription_id))


@bp.get("/subscriptions/<int:subscription_id>/live.json")
@requires("read")
def live(subscription_id: int):
    """Live progress: the newest run after `since` (a run id) and its steps after `after`."""
    since, after = request.args.get("since", "0"), request.args.get("after", "0")
    latest = console.latest_run(_settings(), subscription_id)
    if latest is None or latest <= int(since if since.isdigit() else 0):
        return jsonify(waiting=True)
    return jsonify(console.run_progress(_settings(), latest, int(after) if after.isdigit() else 0))


def _subscription_notice(exc, subscription_id: int, **_):
    """Back to the subscription's page with the refusal; without the subscription, only the error."""
    page = console.subscription(_settings(), subscription_id)
    if page is None:
        return None
    return render_template("ops/subscription.html", **page, notice=None, error=exc.message, csrf=g.staff.csrf,
                           allowed=actions_for(g.staff.role), watch=""), exc.status


@bp.post("/subscriptions/<int:subscription_id>/actions/<action>")
@requires("read")
@back_to(_subscription_notice)
def act(subscription_id: int, action: str):
    if action not in console_actions.HANDLERS:  # the subscription actions, not read or managing staff/servers
        abort(404, description=f"no action {action}")
    since = console.latest_run(_settings(), subscription_id) or 0
    notice = console_actions.perform(_settings(), g.staff, action, subscription_id, address=_address(),
                                     typed_domain=request.form.get("confirm_domain", ""),
                                     cancel_billing=request.form.get("cancel_billing") == "1",
                                     reason=request.form.get("reason", ""))
    watch = str(since) if action in ("converge", "refresh", "preview", "suspend", "unsuspend", "destroy",
                                     "cpanel_password") else ""
    return redirect(url_for("ops.subscription", subscription_id=subscription_id, notice=notice, watch=watch))


@bp.get("/audit")
@requires("read")
def audit():
    before, sid = request.args.get("before", ""), request.args.get("subscription", "")
    entries = staff.audit_log(_settings(), request.args.get("q", "")[:200],
                              subscription_id=int(sid) if sid.isdigit() else None,
                              before_id=int(before) if before.isdigit() else None)
    return render_template("ops/audit.html", entries=entries, q=request.args.get("q", ""), subscription=sid)


@bp.get("/servers/<server>/sync")
@requires("sync_report")
def server_sync(server: str):
    """The sync report of one server (read only): what `mpanel servers sync` prints."""
    from app.services.operators.sync_report import sync_report

    return render_template("ops/sync.html", report=sync_report(_settings(), server))


@bp.get("/staff")
@requires("manage_staff")
def staff_list():
    return _staff_page(notice=request.args.get("notice"))


@bp.post("/staff")
@requires("manage_staff")
@back_to(lambda exc: _staff_page(error=exc.message, status=exc.status))
def staff_add():
    form = request.form
    return _to_staff(console_staff.add(_settings(), g.staff, form.get("email", ""), form.get("role", ""), _address()))


@bp.post("/staff/role")
@requires("manage_staff")
@back_to(lambda exc: _staff_page(error=exc.message, status=exc.status))
def staff_role():
    form = request.form
    return _to_staff(console_staff.change_role(_settings(), g.staff, form.get("email", ""), form.get("role", ""),
                                               _address()))


@bp.post("/staff/status")
@requires("manage_staff")
@back_to(lambda exc: _staff_page(error=exc.message, status=exc.status))
def staff_status():
    form = request.form
    status = "disabled" if form.get("status") == "disabled" else "active"
    return _to_staff(console_staff.change_status(_settings(), g.staff, form.get("email", ""), status, _address()))


@bp.post("/staff/totp-reset")
@requires("manage_staff")
@back_to(lambda exc: _staff_page(error=exc.message, status=exc.status))
def staff_totp_reset():
    return _to_staff(console_staff.reset_totp(_settings(), g.staff, request.form.get("email", ""), _address()))


@bp.post("/staff/totp")
@requires("manage_staff")
@back_to(lambda exc: _staff_page(error=exc.message, status=exc.status))
def staff_totp():
    from app.services.common import totp

    email = request.form.get("email", "")
    secret = console_staff.turn_on_totp(_settings(), g.staff, email, _address())
    return _staff_page(notice=f"Second factor on for {email}: have them scan it now, it is not shown again.",
                       shown={"what": "Authenticator secret", "for": email, "value": secret,
                              "uri": totp.provisioning_uri(secret, email)})


@bp.post("/staff/tokens")
@requires("manage_staff")
@back_to(lambda exc: _staff_page(error=exc.message, status=exc.status))
def staff_token():
    form = request.form
    email = form.get("email", "")
    token = console_staff.issue_token(_settings(), g.staff, email, form.getlist("scope"), form.get("label", ""),
                                      _address())
    return _staff_page(notice=f"API token for {email} issued: copy it now, it is not shown again.",
                       shown={"what": "API token", "for": email, "value": token})


@bp.post("/staff/tokens/revoke")
@requires("manage_staff")
@back_to(lambda exc: _staff_page(error=exc.message, status=exc.status))
def staff_token_revoke():
    return _to_staff(console_staff.revoke_token(_settings(), g.staff, request.form.get("token", ""), _address()))


def _to_staff(notice: str):
    return redirect(url_for("ops.staff_list", notice=notice))


def _staff_page(notice: str | None = None, error: str | None = None, shown: dict | None = None, status: int = 200):
    response = make_response(render_template("ops/staff.html", **console_staff.staff_page(_settings()),
                                             roles=ROLES, scopes=staff.API_SCOPES, notice=notice, error=error,
                                             shown=shown), status)
    if shown:
        response.headers["Cache-Control"] = "no-store"  # a secret shown once stays out of every cache
    return response


# --- web servers ----------------------------------------------------------------------------------

@bp.get("/servers")
@requires("manage_servers")
def servers():
    return _servers_page(notice=request.args.get("notice"))


def _servers_page(notice: str | None = None, error: str | None = None, form: dict | None = None, status: int = 200):
    return render_template("ops/servers.html", servers=console_servers.servers_page(_settings()), notice=notice,
                           error=error, form=form or {}), status


def _servers_notice(exc, **_):
    # The add form comes back filled in, except the token: it is never sent back to a browser.
    kept = {k: v for k, v in request.form.items() if k not in ("whm_token", "csrf")}
    return _servers_page(error=str(exc), form=kept, status=exc.status)


def _number(field: str) -> int | None:
    text = request.form.get(field, "").strip()
    if not text:
        return None
    if not text.isdigit():
        raise ServerRefused(field, "must be a whole number")
    return int(text)


def _to_servers(notice: str):
    return redirect(url_for("ops.servers", notice=notice))


@bp.post("/servers")
@requires("manage_servers")
@back_to(_servers_notice)
def server_add():
    form = request.form
    text = {f: form.get(f, "").strip() or None for f in ("name", "hostname", "ip_address", "whm_url", "whm_username",
                                                         "whm_token", "ssh_address", "ssh_host_key", "home_root",
                                                         "archive_dir", "server_group", "fill_strategy")}
    given = ServerInput(**text, capacity=_number("capacity"), disk_capacity_mb=_number("disk_capacity_mb"))
    return _to_servers(console_servers.add(_settings(), g.staff, given, _address()))


@bp.post("/servers/<int:server_id>/capacity")
@requires("manage_servers")
@back_to(_servers_notice)
def server_capacity(server_id: int):
    return _to_servers(console_servers.change_capacity(_settings(), g.staff, str(server_id), _number("capacity"),
                                                       _number("disk_capacity_mb"), _address()))


@bp.post("/servers/<int:server_id>/state")
@requires("manage_servers")
@back_to(_servers_notice)
def server_state(server_id: int):
    return _to_servers(console_servers.change_state(_settings(), g.staff, str(server_id), request.form.get("do", ""),
                                                    _number("drain_moves_per_hour"), _address()))


@bp.post("/servers/move")
@requires("manage_servers")
@back_to(_servers_notice)
def server_move():
    subscription_id = _number("subscription_id")
    if subscription_id is None:
        raise ServerRefused("subscription_id", "give the subscription's number")
    return _to_servers(console_servers.move_account(_settings(), g.staff, subscription_id,
                                                    request.form.get("to", "").strip(), _address()))


# --- the needs-attention work list ----------------------------------------------------------------

@bp.get("/attention")
@requires("read")
def attention():
    return _attention_page(notice=request.args.get("notice"))


def _attention_page(notice: str | None = None, error: str | None = None, status: int = 200):
    return render_template("ops/attention.html", **console_attention.work_list(_settings()), notice=notice,
                           error=error, note_length=console_attention.NOTE_LENGTH), status


def _to_attention(notice: str):
    return redirect(url_for("ops.attention", notice=notice))


@bp.post("/attention/retry")
@requires("read")
@back_to(lambda exc, **_: _attention_page(error=exc.message, status=exc.status))
def attention_retry_all():
    return _to_attention(console_attention.retry_all(_settings(), g.staff, _address()))


@bp.post("/attention/<int:subscription_id>/retry")
@requires("read")
@back_to(lambda exc, **_: _attention_page(error=exc.message, status=exc.status))
def attention_retry(subscription_id: int):
    return _to_attention(console_attention.retry(_settings(), g.staff, subscription_id, _address()))


@bp.post("/attention/<int:subscription_id>/note")
@requires("read")
@back_to(lambda exc, **_: _attention_page(error=exc.message, status=exc.status))
def attention_note(subscription_id: int):
    return _to_attention(console_attention.note(_settings(), g.staff, subscription_id, request.form.get("note", ""),
                                                _address()))
