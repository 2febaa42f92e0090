"""The stand-in's own customer-facing pages besides checkout: the customer portal a
``billing_portal.session`` URL opens (``/p/session/<token>``) and the hosted invoice page an
invoice's ``hosted_invoice_url`` opens (``/i/<invoice id>``).

The portal is one page: the customer, their live subscriptions, the card on file, a button
that sets ``cancel_at_period_end`` (the same update, and the same ``customer.subscription.updated``
event, as the API's) and the link back to the session's ``return_url``. A link older than the
session's lifetime answers 404, as an expired portal link does.
"""

from __future__ import annotations

from flask import Flask, Response, redirect, render_template

from .billing import Billing
from .billing.money import money
from .billing.periods import current_period, date_text
from .objects import Ledger, Transaction
from .params import Params


def register_portal_pages(app: Flask, billing: Billing, transaction: Transaction) -> None:
    @app.get("/p/session/<token>")
    def portal(token: str):
        return transaction(None, lambda led: _portal_page(billing, led, token))

    @app.post("/p/session/<token>/subscriptions/<subscription_id>/cancel")
    def cancel_at_period_end(token: str, subscription_id: str):
        def cancel(led: Ledger):
            session = billing.portal_session_by_url_token(led, token)
            sub = led.find("subscription", subscription_id)
            if session is None or sub is None or sub["customer"] != session["customer"]:
                return _gone()
            billing.update_subscription(led, Params({"cancel_at_period_end": "true"}), subscription_id)
            return redirect(f"/p/session/{token}", 303)
        return transaction(None, cancel)

    @app.get("/i/<invoice_id>")
    def hosted_invoice(invoice_id: str):
        def page(led: Ledger):
            invoice = led.find("invoice", invoice_id)
            if invoice is None:
                return Response("No such invoice.\n", 404, mimetype="text/plain")
            lines = [(line["description"], money(line["amount"], line["currency"]))
                     for line in invoice["lines"]["data"]]
            return render_template("portal.html", invoice=invoice, lines=lines, business=billing.business_name,
                                   total=money(invoice["total"], invoice["currency"]),
                                   due=money(invoice["amount_due"], invoice["currency"]),
                                   created=date_text(invoice["created"]), session=None)
        return transaction(None, page)


def _portal_page(billing: Billing, led: Ledger, token: str):
    session = billing.portal_session_by_url_token(led, token)
    if session is None:
        return _gone()
    customer = led.get("customer", session["customer"])
    subscriptions = []
    for sub in led.newest_first("subscription", customer=customer["id"]):
        if sub["status"] in ("canceled", "incomplete_expired"):
            continue
        price = sub["items"]["data"][0]["price"]
        product = led.find("product", price["product"]) or {}
        method = led.find("payment_method", sub["default_payment_method"])
        subscriptions.append({
            "id": sub["id"], "name": product.get("name") or price["id"], "status": sub["status"],
            "price": f"{money(price['unit_amount'], price['currency'])} / {price['recurring']['interval']}",
            "renews": date_text(current_period(sub)[1]), "cancel_at_period_end": sub["cancel_at_period_end"],
            "card": f"{method['card']['brand'].title()} ending {method['card']['last4']}" if method else None,
        })
    return render_template("portal.html", session=session, customer=customer, subscriptions=subscriptions,
                           token=token, business=billing.business_name, invoice=None)


def _gone() -> Response:
    return Response("This portal link has expired: go back and open the billing portal again.\n", 404,
                    mimetype="text/plain")
