"""Pages people see: the landing page and the after-payment progress page."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify, render_template, request

from app.web.errors import ApiError
from app.services.orders.checkout import provisioning_status

bp = Blueprint("pages", __name__)


@bp.get("/")
def home():
    return render_template("pages/home.html", settings=current_app.config["MPANEL"])


@bp.get("/checkout/success")
def checkout_success():
    """Stripe sends the customer here; the page follows provisioning live."""
    session_id = request.args.get("session_id", "")
    status = provisioning_status(current_app.config["MPANEL"], session_id=session_id) if session_id else None
    return render_template("pages/progress.html", status=status, session_id=session_id,
                           settings=current_app.config["MPANEL"]), 200 if status else 404


@bp.get("/checkout/status")
def checkout_status():
    """The progress page polls this; the unguessable session id is the customer's key."""
    session_id = request.args.get("session_id", "")
    status = provisioning_status(current_app.config["MPANEL"], session_id=session_id) if session_id else None
    if status is None:
        raise ApiError(404, "not_found", "no checkout with this session id", "session_id")
    status.pop("error", None)  # operator detail; the customer sees the step that failed
    return jsonify(status)
