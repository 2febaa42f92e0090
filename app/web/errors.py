"""One JSON error shape for every API answer: {"error": code, "message": text, "field": path}.

Every refusal (a service's `Refused`, or the API's own `ApiError`) is answered by one handler,
for every blueprint that does not answer refusals with its pages (app/web/refusals.py).
"""
from __future__ import annotations

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

from app.services.common.refusals import Refused
from app.services.orders.billing import PaymentServiceError
from app.services.orders.eligibility import RegistrarUnavailable


class ApiError(Refused):
    """A refusal of the API layer itself (a missing key, an unknown id), with its code and status."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None):
        super().__init__(field, message, status=status, code=code)


def error_body(code: str, message: str, field: str | None = None) -> dict:
    body = {"error": code, "message": message}
    if field:
        body["field"] = field
    return body


def init_app(app: Flask) -> None:
    @app.errorhandler(Refused)
    def refused(exc: Refused):
        response = jsonify(error_body(exc.code, exc.detail, exc.field))
        response.status_code = exc.status
        if exc.retry_after:
            response.headers["Retry-After"] = str(exc.retry_after)
        return response

    @app.errorhandler(RegistrarUnavailable)
    def registrar_unavailable(exc: RegistrarUnavailable):
        # Flask picks the most specific handler: this one wins over PaymentServiceError's 502.
        return jsonify(error_body("registrar_unavailable", str(exc), "domain")), 503

    @app.errorhandler(PaymentServiceError)
    def payment_service(exc: PaymentServiceError):
        return jsonify(error_body("payment_service_unavailable", str(exc))), 502

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        return jsonify(error_body(exc.name.lower().replace(" ", "_"), exc.description or exc.name)), exc.code
