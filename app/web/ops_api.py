"""/ops/api/: the console's reads and actions as JSON, for the operators' own automation.

Authenticated by `Authorization: Bearer <token>` (`mpanel staff token`), never by the console's
cookie, so no CSRF applies. A token's scopes ('read', 'actions') narrow what its account's role
allows; every action goes through the same service as the console's buttons, audited alike.
"""
from __future__ import annotations

import datetime as dt
import json

from flask import Blueprint, Response, current_app, g, jsonify, request

from app.services.operators import console, console_actions, staff
from app.services.operators.staff_roles import NotAllowed, allowed
from app.web.errors import ApiError, error_body

bp = Blueprint("ops_api", __name__, url_prefix="/ops/api")


def _settings():
    return current_app.config["MPANEL"]


@bp.before_request
def authenticate():
    header = request.headers.get("Authorization", "")
    found = staff.token_session(_settings(), header[7:].strip() if header.startswith("Bearer ") else None)
    if found is None:
        raise ApiError(401, "unauthorized", "an API token is needed: Authorization: Bearer <token>")
    g.api_staff, g.api_scopes = found


@bp.errorhandler(NotAllowed)
def not_allowed(exc: NotAllowed):
    return jsonify(error_body("forbidden", str(exc))), 403


def _json(data, status: int = 200) -> Response:
    """Rows as JSON: times in ISO 8601, addresses and decimals as text."""
    def plain(value):
        return value.isoformat() if isinstance(value, (dt.datetime, dt.date)) else str(value)
    return Response(json.dumps(data, default=plain), status, mimetype="application/json")


def _need(scope: str, action: str) -> None:
    if scope not in g.api_scopes:
        raise ApiError(403, "forbidden", f"this token lacks the '{scope}' scope")
    if not allowed(g.api_staff.role, action):
        raise NotAllowed(g.api_staff.role, action)


@bp.get("/subscriptions")
def subscriptions():
    _need("read", "read")
    before = request.args.get("before", "")
    found = console.subscriptions(_settings(), query=request.args.get("q", "")[:200],
                                  status=request.args.get("status", ""), stack=request.args.get("stack", ""),
                                  attention=request.args.get("attention") == "1",
                                  before_id=int(before) if before.isdigit() else None)
    return _json({"subscriptions": found["rows"], "nextBefore": found["next_before"]})


@bp.get("/subscriptions/<int:subscription_id>")
def subscription(subscription_id: int):
    _need("read", "read")
    page = console.subscription(_settings(), subscription_id)
    if page is None:
        raise ApiError(404, "not_found", f"no subscription {subscription_id}")
    for run in page["runs"]:
        run.pop("summary", None)
    return _json(page)


@bp.get("/runs/<int:run_id>")
def run(run_id: int):
    _need("read", "read")
    after = request.args.get("after", "0")
    progress = console.run_progress(_settings(), run_id, int(after) if after.isdigit() else 0)
    if progress is None:
        raise ApiError(404, "not_found", f"no run {run_id}")
    return _json(progress)


@bp.post("/subscriptions/<int:subscription_id>/actions/<action>")
def act(subscription_id: int, action: str):
    if action not in console_actions.HANDLERS:  # the subscription actions, not read or managing staff/servers
        raise ApiError(404, "not_found", f"no action {action}", "action")
    if "actions" not in g.api_scopes:
        raise ApiError(403, "forbidden", "this token lacks the 'actions' scope")
    body = request.get_json(silent=True) or {}
    # The role is checked (and a refusal audited) by the service, as for the console's buttons;
    # its refusal is the JSON error of app/web/errors.py.
    notice = console_actions.perform(_settings(), g.api_staff, action, subscription_id, address=request.remote_addr,
                                     typed_domain=str(body.get("confirmDomain", "")),
                                     cancel_billing=body.get("cancelBilling") is True,
                                     reason=str(body.get("reason", "")))
    return jsonify(status="queued", message=notice), 202
