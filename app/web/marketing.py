"""The marketing site's API: checkout intents, live provisioning status and domain claims (X-API-Key)."""
from __future__ import annotations

import hmac
from typing import Any

from flask import Blueprint, current_app, jsonify, request

from app.observe import metrics
from app.web.errors import ApiError
from app.services.domains import claims
from app.services.orders.checkout import provisioning_status, start_checkout
from app.services.orders.validation import MalformedBody, decode_json

bp = Blueprint("marketing", __name__, url_prefix="/api/marketing")

MAX_BODY = 16 * 1024  # a checkout intent is a few hundred bytes


@bp.before_request
def require_api_key():
    expected = current_app.config["MPANEL"].MARKETING_API_KEY
    given = request.headers.get("X-API-Key", "")
    if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        raise ApiError(401, "unauthorized", "missing or wrong X-API-Key", "X-API-Key")


def json_body(max_bytes: int = MAX_BODY) -> Any:
    """The request body as JSON: the one place this API reads a body. Media type, size,
    encoding and nesting are refused here (4xx, field named), before anything is parsed."""
    if not request.mimetype:
        raise MalformedBody("invalid_json", "the body must be a JSON object sent with Content-Type: application/json")
    charset = request.mimetype_params.get("charset", "utf-8").lower()
    if not request.is_json or charset not in ("utf-8", "utf8"):
        raise MalformedBody("unsupported_media_type",
                            f"send JSON in UTF-8 (Content-Type: application/json), not {request.content_type[:80]}",
                            "Content-Type")
    if request.content_length and request.content_length > max_bytes:
        raise MalformedBody("payload_too_large", f"the body must be under {max_bytes} bytes")
    raw = request.stream.read(max_bytes + 1)  # a chunked body has no Content-Length to trust
    if len(raw) > max_bytes:
        raise MalformedBody("payload_too_large", f"the body must be under {max_bytes} bytes")
    return decode_json(raw)


@bp.post("/checkout-intent")
def checkout_intent():
    answer = start_checkout(current_app.config["MPANEL"], json_body(), request.remote_addr)
    metrics.CHECKOUTS.inc()
    return jsonify(answer), 201


@bp.get("/subscriptions/<int:subscription_id>/status")
def status(subscription_id: int):
    found = provisioning_status(current_app.config["MPANEL"], subscription_id=subscription_id)
    if found is None:
        raise ApiError(404, "not_found", f"no subscription {subscription_id}", "subscriptionId")
    return jsonify(found)


@bp.post("/domain-claims")
def domain_claim():
    """The real owner of a domain held by an unverified order: the TXT record to publish."""
    body = json_body()
    domain = body.get("domain") if isinstance(body, dict) else None
    return jsonify(claims.start(current_app.config["MPANEL"], domain)), 201


@bp.post("/domain-claims/<int:claim_id>/check")
def domain_claim_check(claim_id: int):
    return jsonify(claims.check(current_app.config["MPANEL"], claim_id))
