"""One JSON error shape for every API answer: {"error": code, "message": text, "field": path}."""
from __future__ import annotations

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

from app.services.orders.billing import PaymentServiceError
from app.services.orders.eligibility import RegistrarUnavailable
from app.services.orders.orders import OrderConflict, UnknownPlan
from app.services.orders.validation import MalformedBody, ValidationError

_BODY_STATUS = {"payload_too_large": 413, "unsupported_media_type": 415}


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, field: str | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field


def error_body(code: str, message: str, field: str | None = None) -> dict:
    body = {"error": code, "message": message}
    if field:
        body["field"] = field
    return body


def init_app(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def api_error(exc: ApiError):
        return jsonify(error_body(exc.code, exc.message, exc.field)), exc.status

    @app.errorhandler(MalformedBody)
    def malformed(exc: MalformedBody):
        return jsonify(error_body(exc.code, exc.message, exc.field)), _BODY_STATUS.get(exc.code, 400)

    @app.errorhandler(ValidationError)
    def invalid(exc: ValidationError):
        return jsonify(error_body("invalid_field", f"{exc.field} {exc.message}", exc.field)), 422

    @app.errorhandler(RegistrarUnavailable)
    def registrar_unavailable(exc: RegistrarUnavailable):
        # Flask picks the most specific handler: this one wins over PaymentServiceError's 502.
        return jsonify(error_body("registrar_unavailable", str(exc), "domain")), 503

    @app.errorhandler(OrderConflict)
    def conflict(exc: OrderConflict):
        return jsonify(error_body("conflict", exc.message, exc.field)), 409

    @app.errorhandler(UnknownPlan)
    def unknown_plan(exc: UnknownPlan):
        return jsonify(error_body("unknown_plan", str(exc), "planSlug")), 422

    @app.errorhandler(PaymentServiceError)
    def payment_service(exc: PaymentServiceError):
        return jsonify(error_body("payment_service_unavailable", str(exc))), 502

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        return jsonify(error_body(exc.name.lower().replace(" ", "_"), exc.description or exc.name)), exc.code
