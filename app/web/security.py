"""Security headers on every answer, the customers' pages and the operators' alike.

The Content-Security-Policy allows scripts only from this origin or carrying the request's
nonce (templates write `nonce="{{ csp_nonce() }}"` on their inline scripts), no framing
(clickjacking), no plugins; inline styles stay allowed (the pages' own small CSS). HSTS is
sent only when the app is served over https (APP_URL), where it means something.
"""
from __future__ import annotations

import secrets

from flask import Flask, g


def _nonce() -> str:
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(16)
    return g.csp_nonce


def init_app(app: Flask) -> None:
    https = app.config["MPANEL"].APP_URL.startswith("https://")

    @app.context_processor
    def nonce_for_templates():
        return {"csp_nonce": _nonce}

    @app.after_request
    def security_headers(response):
        headers = response.headers
        headers.setdefault("Content-Security-Policy",
                           f"default-src 'self'; script-src 'self' 'nonce-{_nonce()}'; "
                           "style-src 'self' 'unsafe-inline'; img-src 'self' data:; object-src 'none'; "
                           "base-uri 'self'; frame-ancestors 'none'")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "same-origin")
        if https:
            headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        return response
