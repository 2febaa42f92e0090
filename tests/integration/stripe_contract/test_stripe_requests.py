"""Every Stripe request mpanel makes, through its own functions, against stripe-mock.

stripe-mock validates each request against the OpenAPI spec of the pinned API version
(tools/stripe_mock.API_VERSION, started with -strict-version-check so a client sending any
other Stripe-Version is refused): an unknown parameter, a wrong type or a bad enum value is
a 400 and fails here. CALL_SITES lists each request in app/ (file, enclosing function, the
client method) with the test that drives it; test_every_stripe_call_site_is_driven fails
when the code makes a request this table does not name.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from app.services.orders import billing, customer_billing, lifecycle
from app.services.orders.billing import CheckoutTerms
from tools import stripe_mock

CHECKOUT = Path(__file__).resolve().parents[3]

PLAN = {"id": 1, "slug": "starter", "name": "Starter", "currency": "usd", "price_monthly_cents": 999,
        "price_yearly_cents": 9990, "mailbox_count": 5, "stripe_price_monthly": None, "stripe_price_yearly": None}

# (file, function, client method) -> the test below that makes that request.
CALL_SITES = {
    ("app/services/orders/billing.py", "stripe_price", "v1.prices.list"): "test_catalogue_and_checkout",
    ("app/services/orders/billing.py", "stripe_price", "v1.products.create"): "test_catalogue_and_checkout",
    ("app/services/orders/billing.py", "stripe_price", "v1.prices.create"): "test_catalogue_and_checkout",
    ("app/services/orders/billing.py", "stripe_coupon", "v1.coupons.create"): "test_catalogue_and_checkout",
    ("app/services/orders/billing.py", "open_checkout", "v1.checkout.sessions.create"): "test_catalogue_and_checkout",
    ("app/services/orders/billing.py", "close_checkout_session", "v1.checkout.sessions.expire"):
        "test_closing_an_earlier_checkout",
    ("app/services/orders/billing.py", "retrieve_subscription", "v1.subscriptions.retrieve"):
        "test_lifecycle_reads",
    ("app/services/orders/billing.py", "retrieve_session", "v1.checkout.sessions.retrieve"):
        "test_closing_an_earlier_checkout",
    ("app/services/orders/billing.py", "invoice_of_payment", "v1.invoice_payments.list"): "test_lifecycle_reads",
    ("app/services/orders/billing.py", "payment_failure_reason", "v1.invoice_payments.list"):
        "test_a_failed_payment_s_reason",
    ("app/services/orders/billing.py", "payment_failure_reason", "v1.payment_intents.retrieve"):
        "test_a_failed_payment_s_reason",
    ("app/services/orders/billing.py", "card_on_file", "v1.subscriptions.retrieve"): "test_the_card_on_file",
    ("app/services/orders/billing.py", "cancel_subscription", "v1.subscriptions.cancel"):
        "test_destroy_cancels_billing",
    ("app/services/orders/lifecycle.py", "_retrieve_checkout", "v1.checkout.sessions.retrieve"):
        "test_lifecycle_reads",
    ("app/services/orders/customer_billing.py", "billing_overview", "v1.invoices.list"): "test_billing_page",
    ("app/services/orders/customer_billing.py", "billing_overview", "v1.subscriptions.retrieve"): "test_billing_page",
    ("app/services/orders/customer_billing.py", "portal_url", "v1.billing_portal.sessions.create"):
        "test_billing_page",
    ("app/services/orders/customer_billing.py", "_item", "v1.subscriptions.retrieve"): "test_plan_change",
    ("app/services/orders/customer_billing.py", "preview_plan_change", "v1.invoices.create_preview"):
        "test_plan_change",
    ("app/services/orders/customer_billing.py", "change_plan", "v1.subscriptions.update"): "test_plan_change",
    ("app/cli/doctor.py", "check_stripe", "v1.products.list"): "test_doctor_check",
}


def _stripe_calls(path: Path) -> set[tuple[str, str, str]]:
    """(file, enclosing function, "v1.<resource>.<method>") for each `<client>.v1....(...)` call."""
    found = set()
    tree = ast.parse(path.read_text())

    def visit(node: ast.AST, function: str) -> None:
        for child in ast.iter_child_nodes(node):
            name = child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else function
            if isinstance(child, ast.Call) and isinstance(child.func, ast.Attribute):
                parts, target = [], child.func
                while isinstance(target, ast.Attribute):
                    parts.append(target.attr)
                    target = target.value
                parts.reverse()
                if "v1" in parts:
                    found.add((str(path.relative_to(CHECKOUT)), function, ".".join(parts[parts.index("v1"):])))
            visit(child, name)

    visit(tree, "<module>")
    return found


def test_every_stripe_call_site_is_driven():
    calls = set().union(*(_stripe_calls(p) for p in (CHECKOUT / "app").rglob("*.py")))
    assert calls, "the scan found no Stripe call: it no longer recognises the client's shape"
    missing = sorted(calls - CALL_SITES.keys())
    assert not missing, f"Stripe requests no contract test drives (add them to CALL_SITES and a test): {missing}"
    gone = sorted(CALL_SITES.keys() - calls)
    assert not gone, f"CALL_SITES names requests the code no longer makes: {gone}"
    tests = {name for name in globals() if name.startswith("test_")}
    assert set(CALL_SITES.values()) <= tests


def test_the_pins_agree():
    assert billing.API_VERSION == stripe_mock.API_VERSION
    import stripe
    assert stripe._api_version._ApiVersion.CURRENT == billing.API_VERSION
    spec = stripe_mock.spec_path()
    assert spec is not None and __import__("json").loads(spec.read_text())["info"]["version"] == billing.API_VERSION


def test_catalogue_and_checkout(mock_settings):
    promo = {"id": 1, "code": "HALF", "percent_off": 50, "amount_off_cents": None, "stripe_coupon_id": None}
    opened = billing.open_checkout(mock_settings, CheckoutTerms(7, "ada@example.com", PLAN, "monthly", promo, 1))
    assert opened.session.id and opened.price_id and opened.coupon_id
    fixed = {"id": 2, "code": "FIVE", "percent_off": None, "amount_off_cents": 500, "stripe_coupon_id": None}
    assert billing.stripe_coupon(mock_settings, fixed, "usd")
    assert billing.stripe_price(mock_settings, PLAN, "yearly")


def test_closing_an_earlier_checkout(mock_settings):
    # stripe-mock answers every session as it is in its fixtures; whichever status, the request is valid.
    try:
        billing.close_checkout_session(mock_settings, "cs_test_123")
    except billing.OrderConflict:
        pass
    assert billing.retrieve_session(mock_settings, "cs_test_123").id


def test_lifecycle_reads(mock_settings):
    truth = lifecycle.StripeTruth()
    lifecycle.read_checkout_paid(mock_settings, {"id": "cs_test_123"}, truth)
    assert truth.session("cs_test_123").id
    lifecycle.read_subscription_changed(mock_settings, {"id": "sub_123"}, truth)
    assert truth.subscription("sub_123").id
    lifecycle.read_payment_invoice(mock_settings, {"id": "pi_123"}, truth)
    assert not isinstance(truth._payment_invoices["pi_123"], Exception), truth._payment_invoices["pi_123"]


def test_the_card_on_file(mock_settings):
    # The two expansions are what stripe-mock checks against the spec; its fixture may carry a card or not.
    card = billing.card_on_file(mock_settings, "sub_123")
    assert card is None or (1 <= card.exp_month <= 12 and card.exp_year > 2000)


def test_a_failed_payment_s_reason(mock_settings):
    # stripe-mock's fixture payment carries a PaymentIntent, so both requests are made.
    reason = billing.payment_failure_reason(mock_settings, "in_123")
    assert reason is None or isinstance(reason, str)


def test_destroy_cancels_billing(mock_settings):
    billing.cancel_subscription(mock_settings, "sub_123", "mpanel-destroy-7")


SITE = {"stripe_subscription_id": "sub_123", "stripe_customer_id": "cus_123", "status": "active",
        "cancel_at_period_end": False, "plan_id": 1, "billing_cycle": "monthly", "mailboxes_used": 0}
BIGGER = dict(PLAN, id=2, slug="business", name="Business", stripe_price_monthly="price_123")


@pytest.fixture
def site(monkeypatch):
    monkeypatch.setattr(customer_billing, "_site", lambda settings, user, sid: (dict(SITE), [PLAN, BIGGER]))


def test_billing_page(mock_settings, site):
    page = customer_billing.billing_overview(mock_settings, 1, 7)
    assert page["stripe_error"] is None, page["stripe_error"]
    assert customer_billing.portal_url(mock_settings, 1, 7).startswith("http")


def test_plan_change(mock_settings, site):
    # stripe-mock's fixture preview has no proration date: the request itself is what is checked.
    try:
        customer_billing.preview_plan_change(mock_settings, 1, 7, "business")
    except customer_billing.BillingRefused as exc:
        assert exc.field == "billing" and "prorated" in exc.message
    import time
    customer_billing.change_plan(mock_settings, 1, 7, "business", str(int(time.time())))


def test_doctor_check(mock_settings):
    from app.cli import doctor

    doctor.check_stripe(mock_settings)
