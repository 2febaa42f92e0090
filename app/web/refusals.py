"""A service's refusal on the HTML blueprints: one handler per blueprint, no try/except in views.

A view that goes back to its page with the refusal as the notice declares that page with
`@back_to(render)`; every other refusal is the blueprint's plain error answer with the
refusal's status and message (the app's JSON error for the panel, the message page for /ops).
"""
from __future__ import annotations

from typing import Callable

from flask import Blueprint, current_app, request
from werkzeug.exceptions import default_exceptions

from app.services.common.refusals import Refused

# (the refusal, the view's URL arguments) -> the answer, or None for the plain error answer
PageOfRefusal = Callable[..., object]


def back_to(render: PageOfRefusal):
    """Declares where the view's refusals go: `render(refusal, **view_args)` answers with the
    page and its notice, or returns None for the plain error answer."""
    def declare(view):
        view.refusal_page = render
        return view
    return declare


def error_answer(status: int, description: str):
    """What `abort(status, description=...)` answers on this blueprint; usable inside an error
    handler, where raising would make a 500 of it."""
    return current_app.handle_user_exception(default_exceptions[status](description=description))


def answer_on_pages(bp: Blueprint) -> None:
    """Register the blueprint's one handler of refusals."""
    @bp.errorhandler(Refused)
    def refused(exc: Refused):
        render = getattr(current_app.view_functions.get(request.endpoint), "refusal_page", None)
        try:
            answer = render(exc, **(request.view_args or {})) if render else None
        except Refused as again:  # the page itself cannot be shown now (the site is gone meanwhile)
            exc, answer = again, None
        response = current_app.make_response(error_answer(exc.status, exc.message) if answer is None else answer)
        return with_retry_after(response, exc)


def with_retry_after(response, exc: Refused):
    """A refusal that passes with time (too many attempts) says when, as HTTP says it."""
    if exc.retry_after:
        response.headers["Retry-After"] = str(exc.retry_after)
    return response
