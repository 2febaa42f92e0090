"""Rules of placing an order that need no database (app/services/orders/orders.py, app/services/hosting/mailboxes.py)."""
from __future__ import annotations

import pytest

from app.services.hosting.mailboxes import MailboxRefused, check_password, checked_local_part
from app.services.orders.orders import domain_conflict, price_after_promo


def test_without_a_promotion_the_price_is_the_plans():
    assert price_after_promo(1299, None) == 1299


# Stripe rounds the discount (649.5 -> 650, half up), not the discounted total: 50% off 1299 is 649.
@pytest.mark.parametrize("percent,price", [(10, 1169), (50, 649), (100, 0), (33, 870)])
def test_a_percentage_promotion_takes_its_share_off_rounded_to_the_cent(percent, price):
    assert price_after_promo(1299, {"percent_off": percent, "amount_off_cents": None}) == price


@pytest.mark.parametrize("off,price", [(300, 999), (1299, 0), (5000, 0)])
def test_a_fixed_promotion_never_makes_the_price_negative(off, price):
    assert price_after_promo(1299, {"percent_off": None, "amount_off_cents": off}) == price


def test_a_free_domain_has_no_conflict():
    assert domain_conflict("example.com", None) is None


def test_a_domain_held_by_an_unpaid_order_says_it_waits_for_payment():
    conflict = domain_conflict("example.com", "pending_payment")
    assert conflict.field == "domain" and conflict.message == "example.com has an order waiting for payment"


@pytest.mark.parametrize("status", ["active", "past_due", "suspended", "canceled", "terminated"])
def test_a_domain_held_by_any_other_order_is_already_hosted(status):
    assert domain_conflict("example.com", status).message == "example.com is already hosted here"


@pytest.mark.parametrize("given,kept", [("Sales", "sales"), (" info ", "info"), ("a", "a"),
                                        ("first.last", "first.last"), ("x_y-z9", "x_y-z9")])
def test_a_mailbox_name_is_kept_trimmed_and_lower_case(given, kept):
    assert checked_local_part(given) == kept


@pytest.mark.parametrize("name", ["", None, ".sales", "sales.", "-x", "sa les", "ümlaut", "a@b", "x" * 65],
                         ids=repr)
def test_a_mailbox_name_a_person_would_not_type_is_refused(name):
    with pytest.raises(MailboxRefused) as caught:
        checked_local_part(name)
    assert caught.value.field == "local_part"


@pytest.mark.parametrize("name", ["admin", "Postmaster", "abuse", "hostmaster", "webmaster", "mailer-daemon"])
def test_reserved_mailbox_names_are_refused(name):
    with pytest.raises(MailboxRefused, match="reserved"):
        checked_local_part(name)


@pytest.mark.parametrize("password", ["", None, "short", "x" * 11, "twelve-chars\x07", "line\nbreak-12345"],
                         ids=repr)
def test_a_mailbox_password_too_short_or_with_control_characters_is_refused(password):
    with pytest.raises(MailboxRefused) as caught:
        check_password(password)
    assert caught.value.field == "password"


def test_a_twelve_character_mailbox_password_is_enough():
    check_password("x" * 12)
