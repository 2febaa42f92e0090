"""Invoice listing and hosted invoice pages, invoice previews of a plan change, and customer
portal sessions, as Stripe answers them (issue 14: the customer panel's billing)."""

from __future__ import annotations

import pytest
import requests
import stripe


def test_invoices_list_by_customer_with_number_status_and_a_hosted_page(stand_in):
    session, sub = stand_in.subscribe(500)
    other_customer, _ = stand_in.subscribe(900)

    listed = stand_in.client.v1.invoices.list(params={"customer": sub.customer}).data

    assert [i.id for i in listed] == [sub.latest_invoice]
    invoice = listed[0]
    assert invoice.number and invoice.status == "paid" and invoice.amount_paid == 500
    page = requests.get(invoice.hosted_invoice_url, timeout=10)
    assert page.status_code == 200 and invoice.number in page.text and "$5.00" in page.text
    assert other_customer.customer != sub.customer


def test_a_preview_shows_the_proration_the_update_then_bills_exactly(stand_in):
    _, sub = stand_in.subscribe(500)
    business = stand_in.plan(1500, name="Business")
    item = sub["items"].data[0]
    invoices_before = stand_in.client.v1.invoices.list(params={"customer": sub.customer}).data

    preview = stand_in.client.v1.invoices.create_preview(params={
        "customer": sub.customer, "subscription": sub.id,
        "subscription_details": {"items": [{"id": item.id, "price": business.id}],
                                 "proration_behavior": "always_invoice"}})

    prorations = [line for line in preview.lines.data if line.parent.subscription_item_details.proration]
    assert preview.id.startswith("upcoming_in_") and preview.number is None and preview.status == "draft"
    assert len(prorations) == 2 and prorations[0].amount < 0 < prorations[1].amount
    assert 990 <= preview.amount_due <= 1000
    assert stand_in.client.v1.invoices.list(params={"customer": sub.customer}).data == invoices_before, \
        "a preview is never stored"
    changed = stand_in.client.v1.subscriptions.update(sub.id, params={
        "items": [{"id": item.id, "price": business.id}], "proration_behavior": "always_invoice",
        "proration_date": preview.parent.subscription_details.subscription_proration_date})
    billed = stand_in.client.v1.invoices.retrieve(changed.latest_invoice)
    assert billed.amount_paid == preview.amount_due and billed.billing_reason == "subscription_update"


def test_a_preview_without_changes_is_the_next_renewal_and_bad_input_names_the_param(stand_in):
    _, sub = stand_in.subscribe(500)

    renewal = stand_in.client.v1.invoices.create_preview(params={"subscription": sub.id})
    assert renewal.amount_due == 500 and renewal.billing_reason == "subscription_cycle"
    assert renewal.period_start == sub["items"].data[0].current_period_end

    with pytest.raises(stripe.InvalidRequestError) as unknown:
        stand_in.client.v1.invoices.create_preview(params={
            "subscription": sub.id, "subscription_details": {"items": [{"id": "si_nope", "price": "price_nope"}]}})
    assert unknown.value.param == "subscription_details[items][0][price]"
    with pytest.raises(stripe.InvalidRequestError) as typo:
        stand_in.client.v1.invoices.create_preview(params={"subscription": sub.id, "subscription_detail": {"items": "x"}})
    assert typo.value.code == "parameter_unknown"


def test_a_portal_session_opens_the_customers_portal_once_fresh(stand_in):
    _, sub = stand_in.subscribe(500)

    portal = stand_in.client.v1.billing_portal.sessions.create(params={
        "customer": sub.customer, "return_url": "http://127.0.0.1:9/dashboard"})

    assert portal.id.startswith("bps_") and portal.object == "billing_portal.session"
    assert portal.customer == sub.customer and portal.return_url == "http://127.0.0.1:9/dashboard"
    page = requests.get(portal.url, timeout=10)
    assert page.status_code == 200 and "http://127.0.0.1:9/dashboard" in page.text and "Cancel plan" in page.text
    assert "billing_portal.session.created" in stand_in.event_types()

    canceled = requests.post(f"{portal.url}/subscriptions/{sub.id}/cancel", timeout=10)
    assert canceled.status_code == 200  # back on the portal page
    assert stand_in.client.v1.subscriptions.retrieve(sub.id).cancel_at_period_end is True
    assert requests.get(portal.url.rsplit("/", 1)[0] + "/test_forged", timeout=10).status_code == 404


def test_a_portal_session_for_an_unknown_customer_or_a_bad_return_url_is_refused(stand_in):
    _, sub = stand_in.subscribe(500)
    with pytest.raises(stripe.InvalidRequestError) as unknown:
        stand_in.client.v1.billing_portal.sessions.create(params={"customer": "cus_nobody"})
    assert unknown.value.param == "customer" and unknown.value.code == "resource_missing"
    with pytest.raises(stripe.InvalidRequestError) as bad_url:
        stand_in.client.v1.billing_portal.sessions.create(params={"customer": sub.customer, "return_url": "nope"})
    assert bad_url.value.param == "return_url"
    with pytest.raises(stripe.InvalidRequestError) as missing:
        stand_in.client.v1.billing_portal.sessions.create(params={})
    assert missing.value.param == "customer"
