"""The hosted payment page (``/c/pay/<session id>``), the session's ``url``.

A decline or a refused form renders the page again with the problem and the values the
customer typed; a payment redirects (303) to the session's ``success_url``.
"""

from __future__ import annotations

from flask import Flask, Response, redirect, render_template, request

from .billing import Billing, CheckoutClosed, FormProblem, PaymentEntry
from .cards import parse_expiry
from .objects import Ledger, Transaction


def register_payment_page(app: Flask, billing: Billing, transaction: Transaction) -> None:
    @app.get("/c/pay/<session_id>")
    def payment_page(session_id: str):
        try:
            return transaction(None, lambda led: _page(billing, led, session_id))
        except LookupError:
            return _closed_page(None, 404)

    @app.post("/c/pay/<session_id>")
    def submit_payment(session_id: str):
        form = request.form
        entry = PaymentEntry(
            email=form.get("email"), name=form.get("name") or None, number=form.get("cardnumber", ""),
            expiry=parse_expiry(form.get("exp", "")), cvc=form.get("cvc", "").strip(),
            promotion_code=form.get("promotion_code") or None)
        values = {"email": entry.email or "", "name": entry.name or "", "promotion_code": entry.promotion_code or ""}
        try:
            if form.get("action") == "apply_promotion_code":
                def apply(led: Ledger):
                    session = billing.open_session(led, session_id)
                    billing.apply_promotion_code(led, session, entry.promotion_code or "")
                    return _page(billing, led, session_id, values=values)
                return transaction(None, apply)
            result = transaction(None, lambda led: billing.pay(led, session_id, entry, led.state["card_salt"]))
        except LookupError:
            return _closed_page(None, 404)
        except CheckoutClosed as exc:
            return _closed_page(exc.session, 409)
        except FormProblem as exc:
            problem = exc
            return transaction(None, lambda led: _page(billing, led, session_id, problem=problem, values=values,
                                                        status=400))
        if result.outcome == "paid":
            return redirect(result.redirect_url, code=303)
        problem = FormProblem(result.error.get("param") or "number", result.error["code"], result.error["message"])
        return transaction(None, lambda led: _page(billing, led, session_id, problem=problem, values=values,
                                                    status=402))


def _page(billing: Billing, led: Ledger, session_id: str, problem: FormProblem | None = None,
          values: dict[str, str] | None = None, status: int = 200):
    try:
        session = billing.open_session(led, session_id)
    except CheckoutClosed as exc:
        return _closed_page(exc.session, 200)
    summary = billing.session_summary(led, session)
    values = values or {}
    html = render_template("checkout.html", session=session, summary=summary, problem=problem,
                           values={"email": summary["email"] or values.get("email", ""),
                                   "name": values.get("name", ""),
                                   "promotion_code": values.get("promotion_code", "")},
                           test_cards=_TEST_CARD_HINTS)
    return Response(html, status=status, mimetype="text/html")


def _closed_page(session: dict | None, status: int):
    html = render_template("checkout.html", session=session, summary=None, problem=None, values={},
                           test_cards=_TEST_CARD_HINTS)
    return Response(html, status=status, mimetype="text/html")


_TEST_CARD_HINTS = [
    ("4242 4242 4242 4242", "pays"),
    ("4000 0000 0000 0002", "generic_decline"),
    ("4000 0000 0000 9995", "insufficient_funds"),
    ("4000 0000 0000 0069", "expired_card"),
    ("4000 0000 0000 0127", "incorrect_cvc"),
    ("4000 0000 0000 0119", "processing_error"),
]
