"""The CSRF token of the HTML forms: one per session, sent back in each form's `csrf` field.

Each HTML blueprint checks it once, in its `before_request`, for every unsafe method: a view
never checks it itself, and a form added tomorrow is covered without anyone remembering to.
"""
from __future__ import annotations

import secrets

from flask import abort, request, session

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def session_token() -> str:
    """The customer session's token (made on first use), for the forms a page renders."""
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(24)
    return session["csrf"]


def check(expected: str | None) -> None:
    """A 400 unless the form's `csrf` field is `expected` (no expected token: always a 400)."""
    if not expected or not secrets.compare_digest(request.form.get("csrf", ""), expected):
        abort(400, description="the form expired: reload the page and try again")
