"""Domain eligibility against the real database (app/services/orders/eligibility.py, app/db/orders/eligibility.py):
hosted names above and below, released names, the plans' extensions from migration 0010,
and the lock that keeps two orders of related names from passing together."""
from __future__ import annotations

import secrets

import idna
import psycopg
import pytest
from psycopg.rows import dict_row

from app.db.orders import eligibility as queries
from app.services.orders.eligibility import check_domain
from app.services.orders.validation import ValidationError
from tests.factories import an_order, make_subscription, unique_domain


def no_registrar(settings, name):
    raise AssertionError("the registrar must not be asked")


def priced(amount, premium=0):
    def quoter(settings, name):
        return {"code": 300, "available": [{"domain": name, "price": amount, "premium": premium, "duration": 1}]}
    return quoter


def refusal(db_conn, settings, quoter=no_registrar, **order) -> str:
    with pytest.raises(ValidationError) as caught:
        check_domain(db_conn, settings, an_order(**order), quoter=quoter)
    assert caught.value.field == "domain"
    return caught.value.message


def test_the_plans_carry_the_extensions_they_may_register(db_conn, settings):
    rows = {r["slug"]: r["allowed_tlds"] for r in db_conn.execute("SELECT slug, allowed_tlds FROM plans")}
    assert {"com", "net", "org"} <= set(rows["shared_student"])
    assert "io" not in rows["shared_student"] and "io" in rows["shared_business"]
    assert "co.uk" in rows["shared_starter"]


def test_a_name_under_a_hosted_domain_is_refused(db_conn, settings):
    hosted = unique_domain("victim")
    make_subscription(db_conn, settings, domain=hosted)
    assert "hosted here" in refusal(db_conn, settings, domain=f"shop.{hosted}")
    assert "hosted here" in refusal(db_conn, settings, domain=f"www.www.{hosted}")


def test_a_name_above_a_hosted_domain_is_refused(db_conn, settings):
    parent = unique_domain("victim")
    make_subscription(db_conn, settings, domain=f"shop.{parent}")
    assert "hosted here" in refusal(db_conn, settings, domain=parent)


def test_an_order_waiting_for_payment_counts_as_hosted(db_conn, settings):
    parent = unique_domain("victim")
    make_subscription(db_conn, settings, domain=f"shop.{parent}", status="pending_payment")
    assert "hosted here" in refusal(db_conn, settings, domain=parent)


def test_a_released_domain_does_not_stand_in_the_way(db_conn, settings):
    parent = unique_domain("former")
    sid = make_subscription(db_conn, settings, domain=f"shop.{parent}", status="pending_payment")
    db_conn.execute("UPDATE domains SET status = 'released' WHERE subscription_id = %s", (sid,))
    assert check_domain(db_conn, settings, an_order(domain=parent), quoter=no_registrar) == parent


def test_neighbouring_names_are_unrelated(db_conn, settings):
    token = secrets.token_hex(4)
    make_subscription(db_conn, settings, domain=f"victim-{token}.com")
    name = f"notvictim-{token}.com"
    assert check_domain(db_conn, settings, an_order(domain=name), quoter=no_registrar) == name


def test_the_below_search_treats_like_wildcards_as_letters(db_conn, settings):
    # LDH names carry no % or _, but the query must not depend on that.
    assert queries.hosted_near(db_conn, "%", []) == []
    assert queries.hosted_near(db_conn, "_om", []) == []


def test_a_unicode_name_is_answered_as_its_a_label(db_conn, settings):
    name = f"bücher-{secrets.token_hex(3)}.com"
    answered = check_domain(db_conn, settings, an_order(domain=name), quoter=no_registrar)
    assert answered == idna.encode(name).decode() and answered.startswith("xn--")


def test_the_operators_names_are_refused(db_conn, settings):
    assert "own domains" in refusal(db_conn, settings, domain="mail.migrahosting.com")
    assert "own domains" in refusal(db_conn, settings, domain="migrahosting.com")


def test_special_use_names_are_refused_before_the_database_is_asked(db_conn, settings):
    assert "RFC 6761" in refusal(db_conn, settings, domain="shop.test")
    assert "RFC 7686" in refusal(db_conn, settings, domain="hidden.onion")


def test_a_registration_on_a_plan_without_the_extension_is_refused(db_conn, settings):
    assert ".io" in refusal(db_conn, settings, domain=unique_domain().replace(".com", ".io"),
                            domain_mode="new_registration", plan_slug="shared_student")


def test_a_registration_above_the_ceiling_or_premium_is_refused(db_conn, settings):
    assert "34.99" in refusal(db_conn, settings, priced(34.99), domain=unique_domain(),
                              domain_mode="new_registration")
    assert "premium" in refusal(db_conn, settings, priced("9.99", premium=1), domain=unique_domain(),
                                domain_mode="new_registration")


def test_a_registration_within_the_ceiling_passes(db_conn, settings):
    name = unique_domain()
    assert check_domain(db_conn, settings, an_order(domain=name, domain_mode="new_registration"),
                        quoter=priced(13.95)) == name


def test_a_transfer_is_not_priced(db_conn, settings):
    name = unique_domain()
    assert check_domain(db_conn, settings, an_order(domain=name, domain_mode="transfer", auth_code="EPP-1"),
                        quoter=no_registrar) == name


def test_a_concurrent_order_of_a_related_name_waits_for_the_first(settings):
    parent = unique_domain("race")
    with psycopg.connect(settings.DATABASE_URL, row_factory=dict_row) as first, \
            psycopg.connect(settings.DATABASE_URL, row_factory=dict_row) as second:
        check_domain(first, settings, an_order(domain=parent), quoter=no_registrar)  # holds the family lock
        second.execute("SET lock_timeout = '300ms'")
        with pytest.raises(psycopg.errors.LockNotAvailable):
            check_domain(second, settings, an_order(domain=f"shop.{parent}"), quoter=no_registrar)
        second.rollback()
        first.rollback()
        second.execute("SET lock_timeout = '2s'")
        assert check_domain(second, settings, an_order(domain=f"shop.{parent}"), quoter=no_registrar)
        second.rollback()
