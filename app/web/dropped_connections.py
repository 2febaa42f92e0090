"""A database connection that drops mid-request (a PostgreSQL restart, pg_terminate_backend,
a failover) is an outage for that request, never a 500.

`mpanel chaos` saw Stripe's webhook answer 500 while connections were dropped. The pool
replaces a dead connection when it is taken (app/db), or, for the webhook's unchecked one, every
idle connection is tested before the second try, so one more try usually succeeds:
work that is safe to repeat (recording a Stripe event: its id is unique) is tried once more
on a fresh connection; anything else, and a second drop, answers 503 with Retry-After, which
Stripe and browsers both understand as "come back shortly".
"""
from __future__ import annotations

import logging
from typing import Callable, TypeVar

import psycopg
from flask import Flask, jsonify, request

from app import db
from app.web.errors import error_body

log = logging.getLogger("mpanel.web")

RETRY_AFTER_SECONDS = 5
T = TypeVar("T")


def once_more_on_a_fresh_connection(work: Callable[..., T], *args, **kwargs) -> T:
    """`work` again if its connection dropped: only for work that is safe to repeat."""
    try:
        return work(*args, **kwargs)
    except psycopg.OperationalError as exc:
        log.warning("%s %s: database connection lost (%s); trying once more on a fresh one",
                    request.method, request.path, exc)
        # A server restart drops every pooled connection, not only the one that failed.
        db.replace_dropped_connections()
        return work(*args, **kwargs)


def init_app(app: Flask) -> None:
    # OperationalError covers a connection the server closed, one that cannot be made, and the
    # pool's timeout (psycopg_pool.PoolTimeout is one): all pass with the outage.
    @app.errorhandler(psycopg.OperationalError)
    def database_unavailable(exc: psycopg.OperationalError):
        log.warning("%s %s: database unavailable (%s); answered 503", request.method, request.path, exc)
        message = "the database is briefly unavailable; try again in a few seconds"
        if request.path.startswith("/api/") or not request.accept_mimetypes.accept_html:
            response = jsonify(error_body("database_unavailable", message))
        else:
            response = app.response_class(f"<!doctype html><title>Try again shortly</title><p>{message}.</p>",
                                          mimetype="text/html")
        response.status_code = 503
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
