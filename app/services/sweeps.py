"""The periodic sweeps: each finds the subscriptions that need a look and asks for it."""
from __future__ import annotations

import logging

from app import db
from app.db import sweeps as rows
from app.jobs.defer import request_converge, request_drift_check, request_stripe_event
from app.services.orders import billing
from app.services.orders.lifecycle import abandon_expired_checkout
from app.services.orders.lifecycle_rules import event_lane
from app.settings import Settings

log = logging.getLogger("mpanel.sweeps")

CERTIFICATE_RENEWAL_DAYS = 30
# An event still unprocessed this long after it arrived lost its job, or its job gave up after
# a few quick tries (billing jobs share a lock, so one must not wait long holding it): ask
# again; a job already waiting for it makes this a no-op (queueing lock).
UNPROCESSED_EVENT_MINUTES = 10
# An unpaid checkout holds its domain for an hour at most (issue 23): after that the sweep closes
# the Stripe session (Stripe decides the race with a payment) and abandons the order.
UNPAID_CHECKOUT_MINUTES = 60


def _ask_each(settings: Settings, which, request) -> int:
    """`request(conn, id)` for each subscription `which(conn)` finds, in one transaction."""
    with db.transaction(settings.DATABASE_URL) as conn:
        ids = which(conn)
        for sid in ids:
            request(conn, sid)
    return len(ids)


def check_drift_everywhere(settings: Settings) -> int:
    """Queue a drift check (refresh + preview) of every provisioned stack."""
    return _ask_each(settings, rows.provisioned, request_drift_check)


def renew_due_certificates(settings: Settings) -> int:
    """Converge every subscription whose certificate is inside its renewal window: the
    certificate provider's diff replaces a certificate within 30 days of expiry, so an
    ordinary `up` renews it and installs the new one on the account."""
    # forced: the spec has not changed, the clock has (the shortcut would see nothing to do)
    return _ask_each(settings, lambda conn: rows.provisioned(conn, certificate_due_within_days=CERTIFICATE_RENEWAL_DAYS),
                     lambda conn, sid: request_converge(conn, sid, force=True))


def converge_stragglers(settings: Settings) -> int:
    """A safety net: desired state that no run has acted on is asked for again (harmless when
    a run is already waiting: queueing lock)."""
    return _ask_each(settings, rows.stragglers, request_converge)


def abandon_expired_checkouts(settings: Settings) -> int:
    """An order unpaid for an hour is closed at Stripe and abandoned, so a checkout nobody pays
    holds its domain for an hour at most (and an order whose checkout.session.expired never
    arrived is found here too)."""
    with db.transaction(settings.DATABASE_URL) as conn:
        sessions = rows.unpaid_checkout_sessions(conn, UNPAID_CHECKOUT_MINUTES)
    abandoned = 0
    for session_id in sessions:
        try:
            try:
                billing.close_checkout_session(settings, session_id)
            except billing.OrderConflict:
                continue  # paid (or being paid) meanwhile: the order stays
            session = billing.retrieve_session(settings, session_id)  # Stripe first, no transaction open
            with db.transaction(settings.DATABASE_URL) as conn:
                abandoned += abandon_expired_checkout(conn, session)
        except Exception:  # one unreadable session must not stop the sweep
            log.exception("could not check checkout session %s", session_id)
    return abandoned


def process_unprocessed_stripe_events(settings: Settings) -> int:
    """Stripe already got its 200 for these: they are processed however long it takes."""
    with db.transaction(settings.DATABASE_URL) as conn:
        events = rows.unprocessed_stripe_events(conn, UNPROCESSED_EVENT_MINUTES)
        for event in events:
            request_stripe_event(conn, event["id"], event_lane(event["payload"]))
    return len(events)
