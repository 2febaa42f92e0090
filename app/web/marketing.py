"""The marketing site's API: checkout intents and live provisioning status (X-API-Key)."""
from __future__ import annotations

import hmac

from flask import Blueprint, current_app, jsonify, request

from app.web.errors import ApiError
from app.services.checkout import provisioning_status, start_checkout

bp = Blueprint("marketing", __name__, url_prefix="/api/marketing")

MAX_BODY = 16 * 1024  # a checkout intent is a few hundred bytes


@bp.before_request
def require_api_key():
    expected = current_app.config["MPANEL"].MARKETING_API_KEY
    given = request.headers.get("X-API-Key", "")
    if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        raise ApiError(401, "unauthorized", "missing or wrong X-API-Key", "X-API-Key")


@bp.post("/checkout-intent")
def checkout_intent():
    if request.content_length and request.content_length > MAX_BODY:
        raise ApiError(413, "payload_too_large", f"the body must be under {MAX_BODY} bytes", "body")
    payload = request.get_json(silent=True)
    if payload is None:
        raise ApiError(400, "invalid_json", "the body must be a JSON object (Content-Type: application/json)", "body")
    return jsonify(start_checkout(current_app.config["MPANEL"], payload)), 201


@bp.get("/subscriptions/<int:subscription_id>/status")
def status(subscription_id: int):
    found = provisioning_status(current_app.config["MPANEL"], subscription_id=subscription_id)
    if found is None:
        raise ApiError(404, "not_found", f"no subscription {subscription_id}", "subscriptionId")
    return jsonify(found)
