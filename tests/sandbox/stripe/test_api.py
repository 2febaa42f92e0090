"""The Stripe stand-in speaks the v1 API as the official library expects it."""

from __future__ import annotations

import logging

import pytest
import requests
import stripe

from tests.sandbox.stripe.stand_in import KEY, StripeStandIn


def raw(stand_in: StripeStandIn, method: str, path: str, key: str = KEY, **kwargs) -> requests.Response:
    headers = {"Authorization": f"Bearer {key}", **kwargs.pop("headers", {})}
    return requests.request(method, stand_in.url + path, headers=headers, timeout=10, **kwargs)


# -- catalog -----------------------------------------------------------------------------


def test_the_official_library_creates_and_reads_back_a_product_and_a_monthly_price(stand_in):
    client = stand_in.client
    product = client.v1.products.create(params={"name": "Shared Student", "metadata": {"plan": "student"}})
    price = client.v1.prices.create(params={"product": product.id, "currency": "USD", "unit_amount": 500,
                                            "recurring": {"interval": "month"}, "lookup_key": "student_monthly"})

    again = client.v1.prices.retrieve(price.id, params={"expand": ["product"]})

    assert product.id.startswith("prod_") and product.object == "product" and product.livemode is False
    assert price.id.startswith("price_") and isinstance(price.created, int)
    assert (again.unit_amount, again.currency, again.type) == (500, "usd", "recurring")
    assert (again.recurring.interval, again.recurring.interval_count) == ("month", 1)
    assert again.product.name == "Shared Student" and again.product.metadata.to_dict() == {"plan": "student"}


def test_prices_are_found_by_lookup_key_and_a_taken_lookup_key_is_refused(stand_in):
    monthly = stand_in.plan(500, "month", lookup_key="student_monthly")
    yearly = stand_in.plan(5000, "year", lookup_key="student_yearly")

    found = stand_in.client.v1.prices.list(params={"lookup_keys": ["student_monthly", "student_yearly"]})
    with pytest.raises(stripe.InvalidRequestError) as refused:
        stand_in.plan(600, "month", lookup_key="student_monthly")

    assert found.object == "list" and found.has_more is False and found.url == "/v1/prices"
    assert {p.id for p in found.data} == {monthly.id, yearly.id}
    assert refused.value.param == "lookup_key" and monthly.id in refused.value.user_message


def test_transfer_lookup_key_moves_the_key_to_the_new_price(stand_in):
    old = stand_in.plan(500, lookup_key="student_monthly")
    product = stand_in.client.v1.products.retrieve(old.product)

    new = stand_in.client.v1.prices.create(params={
        "product": product.id, "currency": "usd", "unit_amount": 700, "recurring": {"interval": "month"},
        "lookup_key": "student_monthly", "transfer_lookup_key": True})

    assert stand_in.client.v1.prices.retrieve(old.id).lookup_key is None
    assert [p.id for p in stand_in.client.v1.prices.list(params={"lookup_keys": ["student_monthly"]})] == [new.id]


def test_coupons_take_percent_off_or_amount_off_but_not_both(stand_in):
    coupons = stand_in.client.v1.coupons
    percent = coupons.create(params={"percent_off": 25, "duration": "repeating", "duration_in_months": 3})
    fixed = coupons.create(params={"id": "WELCOME5", "amount_off": 500, "currency": "usd"})

    with pytest.raises(stripe.InvalidRequestError):
        coupons.create(params={"percent_off": 10, "amount_off": 100, "currency": "usd"})
    with pytest.raises(stripe.InvalidRequestError):
        coupons.create(params={"amount_off": 100})

    assert coupons.retrieve(percent.id).percent_off == 25 and percent.duration_in_months == 3
    assert (coupons.retrieve("WELCOME5").amount_off, fixed.duration, fixed.valid) == (500, "once", True)


def test_promotion_codes_are_found_by_code_in_either_request_shape(stand_in):
    coupon = stand_in.client.v1.coupons.create(params={"percent_off": 100, "duration": "once"})
    current = stand_in.client.v1.promotion_codes.create(
        params={"code": "TESTFREE", "promotion": {"type": "coupon", "coupon": coupon.id}})
    legacy = raw(stand_in, "POST", "/v1/promotion_codes", data={"coupon": coupon.id, "code": "LAUNCH"}).json()

    found = stand_in.client.v1.promotion_codes.list(params={"code": "testfree"}).data

    assert [p.id for p in found] == [current.id] and current.id.startswith("promo_")
    assert current.promotion.coupon == coupon.id  # no top-level `coupon` since API 2025-09-30
    assert legacy["promotion"] == {"coupon": coupon.id, "type": "coupon"}


# -- customers ---------------------------------------------------------------------------


def test_customers_are_listed_by_exact_email_and_metadata_updates_merge(stand_in):
    customers = stand_in.client.v1.customers
    ada = customers.create(params={"email": "ada@shop.example", "name": "Ada", "metadata": {"a": "1", "b": "2"}})
    customers.create(params={"email": "bob@shop.example"})

    updated = customers.update(ada.id, params={"name": "Ada L.", "metadata": {"a": "", "c": "3"}})
    found = customers.list(params={"email": "ada@shop.example"}).data

    assert ada.id.startswith("cus_") and [c.id for c in found] == [ada.id]
    assert customers.list(params={"email": "ADA@shop.example"}).data == []
    assert updated.name == "Ada L." and updated.metadata.to_dict() == {"b": "2", "c": "3"}
    assert stand_in.event_types()[-1] == "customer.updated"


def test_lists_are_newest_first_and_page_through_with_starting_after(stand_in):
    made = [stand_in.client.v1.customers.create(params={"email": f"c{i}@shop.example"}).id for i in range(5)]

    first = stand_in.client.v1.customers.list(params={"limit": 2})
    second = stand_in.client.v1.customers.list(params={"limit": 2, "starting_after": first.data[-1].id})
    every = [c.id for c in stand_in.client.v1.customers.list(params={"limit": 2}).auto_paging_iter()]

    assert [c.id for c in first.data] == made[::-1][:2] and first.has_more is True
    assert [c.id for c in second.data] == made[::-1][2:4]
    assert every == made[::-1]


# -- wire format and errors ----------------------------------------------------------------


def test_a_wrong_api_key_is_a_401_that_names_only_the_end_of_the_key(stand_in):
    client = stripe.StripeClient("sk_test_wrongwrongwrong1234", base_addresses={"api": stand_in.url},
                                 max_network_retries=0)

    with pytest.raises(stripe.AuthenticationError) as refused:
        client.v1.customers.list()

    assert refused.value.http_status == 401
    assert refused.value.error.type == "invalid_request_error"
    assert "1234" in refused.value.user_message and "wrongwrong" not in refused.value.user_message


def test_a_request_without_a_key_is_a_401_and_basic_auth_with_the_key_works(stand_in):
    missing = requests.get(stand_in.url + "/v1/customers", timeout=10)
    basic = requests.get(stand_in.url + "/v1/customers", auth=(KEY, ""), timeout=10)

    assert missing.status_code == 401 and "did not provide an API key" in missing.json()["error"]["message"]
    assert basic.status_code == 200 and basic.json()["object"] == "list"


def test_the_same_idempotency_key_and_parameters_replay_the_first_answer(stand_in):
    price = stand_in.plan()

    first = stand_in.checkout(price.id, idempotency_key=None)
    replay_params = {"mode": "subscription", "line_items": [{"price": price.id, "quantity": 1}],
                     "success_url": "https://shop.example/ok?cs={CHECKOUT_SESSION_ID}"}
    one = stand_in.client.v1.checkout.sessions.create(params=replay_params, options={"idempotency_key": "order-7"})
    two = stand_in.client.v1.checkout.sessions.create(params=replay_params, options={"idempotency_key": "order-7"})
    listed = stand_in.client.v1.checkout.sessions.list(params={"limit": 100}).data

    assert one.id == two.id != first.id
    assert sorted(s.id for s in listed) == sorted([first.id, one.id])


def test_a_replayed_answer_says_so_in_its_headers(stand_in):
    body = {"email": "ada@shop.example"}
    headers = {"Idempotency-Key": "create-ada"}

    first = raw(stand_in, "POST", "/v1/customers", data=body, headers=headers)
    second = raw(stand_in, "POST", "/v1/customers", data=body, headers=headers)

    assert first.json()["id"] == second.json()["id"]
    assert "Idempotent-Replayed" not in first.headers and second.headers["Idempotent-Replayed"] == "true"
    assert first.headers["Request-Id"].startswith("req_")


def test_the_same_idempotency_key_with_other_parameters_is_an_idempotency_error(stand_in):
    customers = stand_in.client.v1.customers
    customers.create(params={"email": "ada@shop.example"}, options={"idempotency_key": "k-1"})

    with pytest.raises(stripe.IdempotencyError) as refused:
        customers.create(params={"email": "bob@shop.example"}, options={"idempotency_key": "k-1"})

    assert refused.value.http_status == 400 and "k-1" in refused.value.user_message
    assert len(customers.list().data) == 1


def test_unknown_parameters_are_refused_as_stripe_refuses_them(stand_in):
    price = stand_in.plan()

    with pytest.raises(stripe.InvalidRequestError) as refused:
        stand_in.checkout(price.id, line_items=[{"price": price.id, "quantity": 1, "qty": 2}])

    assert refused.value.code == "parameter_unknown" and refused.value.param == "line_items[0][qty]"
    assert stand_in.client.v1.checkout.sessions.list().data == []


def test_a_missing_object_is_a_404_resource_missing(stand_in):
    with pytest.raises(stripe.InvalidRequestError) as refused:
        stand_in.client.v1.subscriptions.retrieve("sub_nothere")

    assert refused.value.http_status == 404 and refused.value.code == "resource_missing"
    assert refused.value.user_message == "No such subscription: 'sub_nothere'"


def test_an_unknown_url_is_a_404_in_the_stripe_envelope(stand_in):
    response = raw(stand_in, "GET", "/v1/teleporters")

    assert response.status_code == 404
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert "Unrecognized request URL (GET: /v1/teleporters)" in response.json()["error"]["message"]


def test_bracketed_keys_written_by_hand_are_read_like_the_librarys(stand_in):
    price = stand_in.plan(lookup_key="student_monthly")
    product = price.product

    found = raw(stand_in, "GET", "/v1/prices?lookup_keys[]=student_monthly&expand[]=data.product").json()

    assert [p["id"] for p in found["data"]] == [price.id]
    assert found["data"][0]["product"]["id"] == product


def test_an_invalid_stripe_version_header_is_refused_and_a_valid_one_accepted(stand_in):
    bad = raw(stand_in, "GET", "/v1/customers", headers={"Stripe-Version": "yesterday"})
    good = raw(stand_in, "GET", "/v1/customers", headers={"Stripe-Version": "2025-03-31.basil"})

    assert bad.status_code == 400 and "Invalid Stripe API version" in bad.json()["error"]["message"]
    assert good.status_code == 200 and good.headers["Stripe-Version"] == "2025-03-31.basil"


def test_checkout_refuses_discounts_together_with_allow_promotion_codes(stand_in):
    price = stand_in.plan()
    coupon = stand_in.client.v1.coupons.create(params={"percent_off": 50})

    with pytest.raises(stripe.InvalidRequestError) as refused:
        stand_in.checkout(price.id, allow_promotion_codes=True, discounts=[{"coupon": coupon.id}])

    assert refused.value.http_status == 400
    assert "allow_promotion_codes, discounts" in refused.value.user_message


@pytest.mark.parametrize("change, param", [
    ({"customer": "cus_nothere", "customer_email": None}, "customer"),
    ({"customer_email": "a@shop.example", "customer": "cus_x"}, None),
    ({"line_items": [{"price": "price_nothere", "quantity": 1}]}, "line_items[0][price]"),
    ({"line_items": [{"price": "ONE_TIME", "quantity": 1}]}, "line_items[0][price]"),
    ({"line_items": [{"price": "RECURRING"}]}, "line_items[0][quantity]"),
    ({"discounts": [{"coupon": "NOPE"}]}, "discounts[0][coupon]"),
    ({"success_url": None}, "success_url"),
], ids=["unknown customer", "customer and email", "unknown price", "one-time price", "no quantity",
        "unknown coupon", "no success_url"])
def test_checkout_refuses_what_stripe_refuses(stand_in, change, param):
    recurring = stand_in.plan()
    one_time = stand_in.client.v1.prices.create(params={"product": recurring.product, "currency": "usd",
                                                        "unit_amount": 100})
    for item in change.get("line_items", []):
        item["price"] = {"ONE_TIME": one_time.id, "RECURRING": recurring.id}.get(item["price"], item["price"])

    with pytest.raises(stripe.InvalidRequestError) as refused:
        stand_in.checkout(recurring.id, **change)

    assert refused.value.http_status == 400 and refused.value.param == param


# -- faults ----------------------------------------------------------------------------


def test_an_injected_fault_answers_a_stripe_error_with_the_faults_status(stand_in):
    price = stand_in.plan()
    stand_in.control("POST", "/faults", {"operation": "checkout.sessions.create", "kind": "code", "code": 500},
                     expect=201)
    stand_in.control("POST", "/faults", {"operation": "customers.create", "kind": "code", "code": 429},
                     expect=201)
    stand_in.control("POST", "/faults", {"operation": "subscriptions.update", "kind": "http", "status": 502},
                     expect=201)

    with pytest.raises(stripe.APIError) as server_error:
        stand_in.checkout(price.id)
    with pytest.raises(stripe.RateLimitError):
        stand_in.client.v1.customers.create(params={"email": "a@shop.example"})
    with pytest.raises(stripe.APIError) as bad_gateway:
        stand_in.client.v1.subscriptions.update("sub_x", params={"metadata": {"a": "b"}})

    assert server_error.value.http_status == 500 and server_error.value.headers["Stripe-Should-Retry"] == "true"
    assert bad_gateway.value.http_status == 502
    assert stand_in.checkout(price.id).id.startswith("cs_test_")  # a fault fires once by default


def test_the_library_retries_an_injected_503_with_the_same_idempotency_key(stand_in, monkeypatch):
    monkeypatch.setattr(stripe._http_client.HTTPClient, "_sleep_time_seconds", lambda *args: 0)
    client = stripe.StripeClient(KEY, base_addresses={"api": stand_in.url}, max_network_retries=2)
    stand_in.control("POST", "/faults", {"operation": "customers.create", "kind": "code", "code": 503},
                     expect=201)

    customer = client.v1.customers.create(params={"email": "ada@shop.example"})

    assert customer.email == "ada@shop.example"
    assert len(stand_in.client.v1.customers.list().data) == 1


def test_an_unknown_fault_operation_is_refused(stand_in):
    answer = stand_in.control("POST", "/faults", {"operation": "checkout.session.create", "kind": "http"},
                              expect=400)

    assert answer["error"] == "bad_fault"


def test_the_api_key_never_reaches_the_log(stand_in, caplog):
    caplog.set_level(logging.INFO)
    price = stand_in.plan()
    stand_in.checkout(price.id)

    assert "/v1/checkout/sessions" in caplog.text
    assert KEY not in caplog.text


def test_objects_survive_a_restart_of_the_stand_in(stand_in_factory):
    first = stand_in_factory()
    price = first.plan(lookup_key="student_monthly")
    first.stop()

    second = stand_in_factory()

    assert second.client.v1.prices.retrieve(price.id).lookup_key == "student_monthly"
    assert second.event_types() == ["product.created", "price.created"]


def test_lists_filter_on_created_ranges(stand_in):
    ada = stand_in.client.v1.customers.create(params={"email": "ada@shop.example"})

    after = stand_in.client.v1.customers.list(params={"created": {"gt": ada.created}}).data
    since = stand_in.client.v1.customers.list(params={"created": {"gte": ada.created}}).data
    nothing_yet = stand_in.client.v1.events.list(params={"created": {"gt": ada.created + 3600}}).data

    assert after == [] and [c.id for c in since] == [ada.id] and nothing_yet == []


def test_expand_follows_ids_through_objects_lists_and_arrays(stand_in):
    coupon = stand_in.client.v1.coupons.create(params={"percent_off": 10, "duration": "forever"})
    stand_in.subscribe(discounts=[{"coupon": coupon.id}])

    subs = stand_in.client.v1.subscriptions.list(
        params={"expand": ["data.customer", "data.discounts", "data.latest_invoice"]}).data
    with pytest.raises(stripe.InvalidRequestError) as refused:
        stand_in.client.v1.subscriptions.list(params={"expand": ["data.status"]})

    assert subs[0].customer.object == "customer"
    assert subs[0].discounts[0].source.coupon == coupon.id
    assert subs[0].latest_invoice.status == "paid"
    assert refused.value.param == "expand"
