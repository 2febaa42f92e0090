"""A local stand-in for Stripe, enough for mpanel's checkout, billing and webhooks.

Protocol (as in docs/api-contracts.md and as the official ``stripe`` library speaks
it): ``/v1/...`` with ``Authorization: Bearer sk_...`` (HTTP Basic with the key as
user name works too), form-encoded parameters with bracketed keys, an optional
``Stripe-Version`` header, and ``Idempotency-Key`` on POST: the same key with the
same parameters replays the stored answer (``Idempotent-Replayed: true``), with
other parameters it is a 400 ``idempotency_error``; keys are kept 24 hours. Answers
are Stripe's objects (``livemode: false``) and lists; errors are Stripe's envelope
``{"error": {type, code, message, param, decline_code}}`` with 400/401/402/404.

Endpoints: products, prices (``lookup_keys[]``), coupons, promotion_codes,
customers, checkout/sessions (create, retrieve, list, line_items, expire),
subscriptions (retrieve, list, update, DELETE to cancel), invoices (retrieve, list,
lines, ``create_preview``), invoice_payments, payment_intents, charges, payment_methods,
refunds, billing_portal/sessions (create), events.
The hosted payment page is ``/c/pay/<session id>`` (the session's ``url``); an invoice's
``hosted_invoice_url`` is ``/i/<invoice id>`` and a portal session's ``url`` is
``/p/session/<token>`` (sandbox/stripe/portal.py: the customer, their subscriptions, the card,
cancel at period end, the return link; the link works for 5 minutes).

Choices where the contract is silent:

- Checkout supports ``mode=subscription`` with recurring prices only. On the page
  a decline keeps the session open; every attempt of one session shares one
  PaymentIntent, and each decline emits ``payment_intent.payment_failed``. Input
  the real page refuses in the browser (a number failing the Luhn check, a past
  expiry, a short CVC) is refused without a PaymentIntent or event. A
  Luhn-valid number that is not a test card declines with ``test_mode_live_card``.
- A completed checkout emits exactly ``customer.created`` (new customers only),
  ``customer.subscription.created`` (``incomplete``), ``payment_intent.succeeded`` (not for 0),
  ``invoice.paid``, ``invoice.payment_succeeded``, ``customer.subscription.updated`` (to
  ``active``), ``checkout.session.completed``; each snapshot is taken when it is emitted.
  Customers are never matched by e-mail: without ``customer`` a new one is made.
- A plan change must name the item it replaces (``items[0][id]=si_...`` with
  ``items[0][price]``): an item without ``id`` is added, as Stripe does, and the
  same price twice is refused. ``proration_behavior``: ``create_prorations``
  (default) adds credit/debit lines to the next renewal invoice,
  ``always_invoice`` bills them at once, ``none`` bills nothing. A new billing
  interval restarts the cycle and bills at once. Credits beyond the invoice go to
  the customer's balance. DELETE accepts ``invoice_now``/``prorate`` but issues no
  final invoice and no credit.
- Objects are those of API 2026-08-26.dahlia only (the version mpanel pins): an invoice's
  subscription is at ``parent.subscription_details``, its payments are InvoicePayments
  (``invoice_payments``, ``payments`` through expand), a subscription's period is on its
  items, new subscriptions have flexible ``billing_mode``. With ``MPANEL_STRIPE_SCHEMA``
  naming stripe-mock's spec every answer and event is checked against it (schema.py).
- Test clock (``POST /_sandbox/subscriptions/<id>/advance`` or ``python -m
  sandbox.stripe advance``): ``renewal_paid`` starts the next period with a paid
  invoice (``payment_intent.succeeded``, ``invoice.paid``,
  ``invoice.payment_succeeded``, ``customer.subscription.updated``), or pays the
  open invoice of a past_due subscription; ``renewal_failed`` starts the next
  period with an open invoice (``payment_intent.payment_failed``,
  ``invoice.payment_failed``, ``customer.subscription.updated`` to past_due), or
  retries the open invoice; once a failed invoice has been attempted more than
  ``--payment-retries`` times the subscription is canceled
  (``customer.subscription.deleted``) or, with ``--after-failed-retries unpaid``,
  marked unpaid. ``period_end`` renews like ``renewal_paid`` unless the
  subscription is past_due or unpaid (then it ends for non-payment). Any outcome
  on a subscription with ``cancel_at_period_end`` ends it.
- Invoice previews (``POST /v1/invoices/create_preview``, sandbox/stripe/billing/previews.py)
  are computed and never stored: ``upcoming_in_...`` ids, no number, answered with
  ``parent.subscription_details.subscription_proration_date`` so that the update can bill the previewed amount exactly;
  a change of billing interval is not previewed.
- Unknown parameters are refused ("Received unknown parameter"), as Stripe does.
- Events are kept 30 days, at most the newest 5000; idempotency keys 24 hours,
  at most the newest 2000. ``POST /_sandbox/reset`` empties everything.
- Events use ``api_version`` 2026-08-26.dahlia whatever the request's
  ``Stripe-Version``; non-checkout writes emit Stripe's usual events too
  (``product.created``, ``price.created``, ``customer.updated``, ``refund.created``,
  ``charge.refunded``, ...): restrict what the endpoint gets with ``--webhook-events``.
- A ``code`` fault answers a Stripe error whose HTTP status is the fault's
  ``code`` (402 is a card_error, 429 rate_limit, 409 lock_timeout, 5xx api_error
  with ``Stripe-Should-Retry: true``; default 500) and ``reason`` as message.

Control API (``/_sandbox/``, see sandbox.common.control): faults (operations such as
``checkout.sessions.create``, ``subscriptions.update``), state, reset, and
``POST /checkout/<id>/pay`` {card, exp_month?, exp_year?, cvc?, email?, name?,
promotion_code?}, ``POST /subscriptions/<id>/advance`` {outcome: renewal_paid |
renewal_failed | period_end, decline_code?}, ``GET /deliveries``
(?event=&type=&status=), ``GET|POST /webhooks`` {paused?, url?, discard_pending?},
``POST /events/<id>/resend`` (one synchronous attempt, even when paused) and
``GET /events/<id>/signed`` (the exact body and headers a delivery would send).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Callable

from flask import Flask, has_request_context, request

from ..common.faults import FaultRegistry
from ..common.requestlog import RequestLog
from ..common.state import StateStore
from .api import register_api
from .billing import Billing
from .control import control_routes
from .objects import TABLES, Ledger, RequestInfo, initial_state
from .page import register_payment_page
from .portal import register_portal_pages
from .webhooks import WebhookSender, WebhookSettings

log = logging.getLogger("sandbox.stripe")


def create_app(
    state_path: str | Path,
    api_key: str,
    *,
    webhook_url: str | None = None,
    webhook_secret: str | None = None,
    webhook_attempts: int = 6,
    webhook_retry_base: float = 0.5,
    webhook_timeout: float = 10.0,
    webhook_events: tuple[str, ...] = ("*",),
    webhook_workers: int = 8,
    public_url: str | None = None,
    business_name: str = "mpanel sandbox",
    payment_retries: int = 3,
    after_failed_retries: str = "cancel",
    now: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> Flask:
    store = StateStore(state_path, TABLES, initial_state)
    billing = Billing(business_name, payment_retries, after_failed_retries)
    faults = FaultRegistry(sleep)
    sender = WebhookSender(store, WebhookSettings(webhook_url or None, webhook_secret, webhook_attempts,
                                                  webhook_retry_base, webhook_timeout, tuple(webhook_events)),
                           now, workers=webhook_workers)

    app = Flask(__name__, template_folder="templates")
    app.config["STRIPE_PUBLIC_URL"] = public_url
    app.extensions["sandbox.stripe"] = billing
    app.extensions["sandbox.stripe.webhooks"] = sender
    app.extensions["sandbox.state"] = store
    app.extensions["sandbox.faults"] = faults
    # Nothing secret travels in a Stripe URL: the key is in a header and card
    # numbers only in the payment page's form body, and neither is logged.
    app.wsgi_app = RequestLog(app.wsgi_app, log, ())

    def transaction(request_info: RequestInfo | None, work: Callable[[Ledger], Any]) -> Any:
        """Run ``work`` in one state transaction, then wake the webhook sender."""
        with store.change() as state:
            ledger = Ledger(state, now, request_info, sender.endpoint_for)
            ledger.public_url = app.config["STRIPE_PUBLIC_URL"] or (request.host_url if has_request_context() else "")
            result = work(ledger)
        if ledger.new_events:
            sender.wake()
        return result

    register_api(app, api_key, billing, faults, transaction)
    register_payment_page(app, billing, transaction)
    register_portal_pages(app, billing, transaction)
    app.register_blueprint(control_routes(faults, store, billing, sender, transaction, now))
    sender.start()
    return app
