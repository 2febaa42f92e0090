"""The checkout payload (app/services/orders/validation.py): every field, every refusal names its field."""
from __future__ import annotations

import copy

import pytest

from app.services.orders.validation import ValidationError, parse_checkout, valid_domain


def a_payload(**changes) -> dict:
    payload = {
        "planSlug": "shared_student", "billingCycle": "monthly", "domain": "example.com",
        "domainMode": "external",
        "customer": {"email": "ada@example.net", "firstName": "Ada", "lastName": "Lovelace"},
        "account": {"password": "correct-horse-battery"},
    }
    payload.update(changes)
    return payload


def with_customer(**changes) -> dict:
    payload = a_payload()
    payload["customer"] = {**payload["customer"], **changes}
    return payload


def refusal(payload) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        parse_checkout(payload)
    return caught.value


# --- the whole payload ---------------------------------------------------------------------

def test_a_complete_payload_becomes_an_order_with_every_value():
    order = parse_checkout(a_payload(promoCode="spring-10", testMode=True, utmSource="newsletter"))
    assert (order.plan_slug, order.billing_cycle, order.domain, order.domain_mode) == \
        ("shared_student", "monthly", "example.com", "external")
    assert (order.email, order.first_name, order.last_name) == ("ada@example.net", "Ada", "Lovelace")
    assert order.password == "correct-horse-battery"
    assert order.promo_code == "SPRING-10" and order.test_mode is True and order.utm == {"source": "newsletter"}


def test_parsing_does_not_change_the_payload_it_was_given():
    payload = a_payload(domain="  WWW.Example.COM. ")
    before = copy.deepcopy(payload)
    parse_checkout(payload)
    assert payload == before


def test_the_password_never_appears_in_the_orders_repr():
    assert "correct-horse-battery" not in repr(parse_checkout(a_payload()))


@pytest.mark.parametrize("body", [None, [], "text", 42, True, [a_payload()]], ids=repr)
def test_a_body_that_is_not_an_object_is_refused_as_the_body(body):
    assert refusal(body).field == "body"


def test_the_error_message_starts_with_the_field_it_names():
    error = refusal(a_payload(billingCycle="weekly"))
    assert str(error).startswith("billingCycle: ") and error.message == "must be one of monthly, yearly"


# --- required fields -----------------------------------------------------------------------

@pytest.mark.parametrize("key", ["planSlug", "billingCycle", "domain", "domainMode", "customer", "account"])
def test_each_required_top_level_field_is_named_when_missing(key):
    payload = a_payload()
    del payload[key]
    error = refusal(payload)
    assert (error.field, error.message) == (key, "is required")


@pytest.mark.parametrize("key", ["email", "firstName", "lastName"])
def test_each_required_customer_field_is_named_with_its_path_when_missing(key):
    payload = a_payload()
    del payload["customer"][key]
    assert refusal(payload).field == f"customer.{key}"


@pytest.mark.parametrize("blank", ["", "   ", "\t"], ids=repr)
def test_a_blank_required_value_counts_as_missing(blank):
    error = refusal(a_payload(planSlug=blank))
    assert (error.field, error.message) == ("planSlug", "is required")


def test_a_missing_password_is_named_as_account_password():
    error = refusal(a_payload(account={}))
    assert (error.field, error.message) == ("account.password", "is required")


# --- wrong types and nested junk ---------------------------------------------------------------

@pytest.mark.parametrize("value", [12, 1.5, True, ["shared_student"], {"slug": "x"}], ids=repr)
def test_a_text_field_of_another_type_is_refused_saying_which_type_it_got(value):
    error = refusal(a_payload(planSlug=value))
    assert error.field == "planSlug" and error.message == f"must be a string, not {type(value).__name__}"


@pytest.mark.parametrize("key", ["customer", "account"])
@pytest.mark.parametrize("value", ["ada@example.net", ["x"], 7], ids=repr)
def test_customer_and_account_must_be_objects(key, value):
    error = refusal(a_payload(**{key: value}))
    assert error.field == key and error.message.startswith("must be an object")


@pytest.mark.parametrize("value", [12345678901, ["a-long-password"], {"p": "x"}, None, ""], ids=repr)
def test_a_password_that_is_not_a_non_empty_string_is_required(value):
    assert refusal(a_payload(account={"password": value})).field == "account.password"


@pytest.mark.parametrize("value", ["true", 1, 0, None, "yes"], ids=repr)
def test_test_mode_must_be_a_real_boolean(value):
    error = refusal(a_payload(testMode=value))
    assert (error.field, error.message) == ("testMode", "must be true or false")


def test_a_nested_customer_email_of_the_wrong_type_is_named_by_its_path():
    error = refusal(with_customer(email={"address": "ada@example.net"}))
    assert error.field == "customer.email" and "dict" in error.message


def test_unknown_extra_fields_are_ignored():
    order = parse_checkout(a_payload(extra={"deep": [1, {"x": None}]}, __proto__={"admin": True}))
    assert order.domain == "example.com"


# --- plan and billing cycle ----------------------------------------------------------------------

@pytest.mark.parametrize("slug", ["Shared", "shared-student", "shared student", "x" * 65, "plan!"])
def test_a_plan_slug_with_other_characters_is_refused(slug):
    assert refusal(a_payload(planSlug=slug)).field == "planSlug"


@pytest.mark.parametrize("cycle", ["monthly", "yearly"])
def test_both_billing_cycles_are_accepted(cycle):
    assert parse_checkout(a_payload(billingCycle=cycle)).billing_cycle == cycle


@pytest.mark.parametrize("cycle", ["Monthly", "weekly", "annual"])
def test_any_other_billing_cycle_is_refused_listing_the_choices(cycle):
    error = refusal(a_payload(billingCycle=cycle))
    assert error.field == "billingCycle" and "monthly, yearly" in error.message


# --- domain -----------------------------------------------------------------------------------

@pytest.mark.parametrize("given,kept", [
    ("Example.COM", "example.com"), ("www.example.com", "example.com"), ("example.com.", "example.com"),
    ("  shop.example.co.uk ", "shop.example.co.uk"), ("xn--bcher-kva.example", "xn--bcher-kva.example"),
    ("xn--80ak6aa92e.xn--p1ai", "xn--80ak6aa92e.xn--p1ai"), ("bücher.de", "xn--bcher-kva.de"),
    ("Bücher.DE", "xn--bcher-kva.de"),
])
def test_a_domain_is_kept_in_its_plain_lower_case_form(given, kept):
    assert parse_checkout(a_payload(domain=given)).domain == kept


@pytest.mark.parametrize("domain", [
    "localhost", "example", "-example.com", "example-.com", "exa_mple.com", "example.c", "example.123",
    "exa mple.com", "example..com", "xn--zz.com", ".example.com", "a" * 64 + ".com",
], ids=lambda d: d[:30])
def test_anything_that_is_not_a_domain_name_is_refused_as_the_domain(domain):
    error = refusal(a_payload(domain=domain))
    assert (error.field, error.message) == ("domain", "must be a domain name like example.com")


def test_a_domain_longer_than_253_characters_is_refused_with_the_limit():
    error = refusal(a_payload(domain=".".join(["a" * 60] * 5) + ".com"))
    assert (error.field, error.message) == ("domain", "must be at most 253 characters")


def test_the_same_domain_rule_answers_for_the_validation_and_the_providers():
    from providers.rules.names import is_hostname

    for name in ("example.com", "a.b.c.example.org", "bad_name.com", "example", "xn--p1ai.xn--p1ai"):
        assert valid_domain(name) == is_hostname(name)


@pytest.mark.parametrize("mode", ["new_registration", "external"])
def test_registration_and_external_domains_need_no_auth_code(mode):
    order = parse_checkout(a_payload(domainMode=mode))
    assert order.domain_mode == mode and order.auth_code is None


def test_a_transfer_needs_the_auth_code():
    error = refusal(a_payload(domainMode="transfer"))
    assert (error.field, error.message) == ("authCode", "is required")


def test_a_transfer_keeps_its_auth_code_exactly():
    order = parse_checkout(a_payload(domainMode="transfer", authCode="Ab#9$xY!"))
    assert order.auth_code == "Ab#9$xY!"


@pytest.mark.parametrize("code", ["abc", "with space", "é-code-1", "x" * 65], ids=lambda c: c[:12])
def test_an_auth_code_outside_the_epp_shape_is_refused(code):
    assert refusal(a_payload(domainMode="transfer", authCode=code)).field == "authCode"


def test_an_unknown_domain_mode_is_refused():
    assert refusal(a_payload(domainMode="parked")).field == "domainMode"


# --- customer ---------------------------------------------------------------------------------

@pytest.mark.parametrize("email", ["ada", "ada@", "@example.net", "ada@example", "ada @example.net",
                                   "ada@exa mple.net", "a" * 65 + "@example.net"], ids=lambda e: e[:20])
def test_an_email_that_is_not_an_address_is_refused(email):
    assert refusal(with_customer(email=email)).field == "customer.email"


@pytest.mark.parametrize("email", ["ada.lovelace+hosting@example.net", "o'brien@mail.example.ie",
                                   "X_Y@sub.example.travel"])
def test_ordinary_addresses_are_accepted(email):
    assert parse_checkout(with_customer(email=email)).email == email


@pytest.mark.parametrize("name", ["José", "Zoë", "Nguyễn", "Søren", "Łukasz", "O'Brien", "Mary-Jane",
                                  "Jean Paul", "Renée\u2019s", "St.", "Иван", "محمد", "李"])
def test_names_in_any_script_with_the_punctuation_names_use_are_accepted(name):
    assert parse_checkout(with_customer(firstName=name)).first_name == name


@pytest.mark.parametrize("name", ["R2D2", "<script>", "Ada_", "Ada  Lovelace", "-Ada", "Ada!", "😀"])
def test_names_with_digits_symbols_or_emoji_are_refused(name):
    error = refusal(with_customer(lastName=name))
    assert error.field == "customer.lastName" and "letters" in error.message


def test_a_name_longer_than_80_characters_is_refused_with_the_limit():
    error = refusal(with_customer(firstName="A" * 81))
    assert (error.field, error.message) == ("customer.firstName", "must be at most 80 characters")


def test_names_are_trimmed():
    assert parse_checkout(with_customer(firstName="  Ada ")).first_name == "Ada"


@pytest.mark.parametrize("key", ["firstName", "company"])
def test_control_characters_are_refused_wherever_text_is_taken(key):
    error = refusal(with_customer(**{key: "Ada\x00Love"}))
    assert error.field == f"customer.{key}" and "control characters" in error.message


def test_optional_customer_details_are_kept_and_the_country_upper_cased():
    order = parse_checkout(with_customer(company="Analytical Engines Ltd", phone="+44 20 7946 0000", country="gb"))
    assert (order.company, order.phone, order.country) == ("Analytical Engines Ltd", "+44 20 7946 0000", "GB")


def test_blank_optional_customer_details_are_none():
    order = parse_checkout(with_customer(company="", phone="  ", country=None))
    assert (order.company, order.phone, order.country) == (None, None, None)


@pytest.mark.parametrize("phone", ["call me", "12", "+44 (0) 20-7946 ext. 5"])
def test_a_phone_that_is_not_a_number_is_refused(phone):
    assert refusal(with_customer(phone=phone)).field == "customer.phone"


@pytest.mark.parametrize("country", ["G", "GBR", "1A", "ü"])
def test_a_country_that_is_not_two_letters_is_refused(country):
    assert refusal(with_customer(country=country)).field == "customer.country"


# --- account password ---------------------------------------------------------------------------

@pytest.mark.parametrize("length,ok", [(9, False), (10, True), (128, True), (129, False)])
def test_the_password_length_limits_are_10_and_128(length, ok):
    payload = a_payload(account={"password": "p" * length})
    if ok:
        assert parse_checkout(payload).password == "p" * length
    else:
        assert refusal(payload).message == "must be 10 to 128 characters"


def test_a_password_is_kept_untrimmed_and_may_be_unicode():
    assert parse_checkout(a_payload(account={"password": "  pässwörd ✓ 🔑  "})).password == "  pässwörd ✓ 🔑  "


# --- promo code and tracking tags ---------------------------------------------------------------------

@pytest.mark.parametrize("code", ["save 10", "10%OFF", "ünï", "x" * 41], ids=lambda c: c[:12])
def test_a_promo_code_with_other_characters_is_refused(code):
    assert refusal(a_payload(promoCode=code)).field == "promoCode"


def test_no_promo_code_means_none():
    assert parse_checkout(a_payload(promoCode="")).promo_code is None


@pytest.mark.parametrize("key,name", [("utmSource", "source"), ("utmMedium", "medium"), ("utmCampaign", "campaign"),
                                      ("utmTerm", "term"), ("utmContent", "content")])
def test_each_flat_tracking_tag_is_kept_under_its_short_name(key, name):
    assert parse_checkout(a_payload(**{key: "spring sale/2025"})).utm == {name: "spring sale/2025"}


def test_a_tracking_tag_with_markup_is_refused_by_its_key():
    assert refusal(a_payload(utmCampaign="<b>sale</b>")).field == "utmCampaign"


def test_nested_tracking_tags_are_kept_and_the_flat_ones_win():
    order = parse_checkout(a_payload(utmSource="flat", utm={"source": "nested", "medium": "email"}))
    assert order.utm == {"source": "flat", "medium": "email"}


def test_a_nested_tracking_tag_with_markup_is_refused_by_its_path():
    assert refusal(a_payload(utm={"term": "<script>"})).field == "utm.term"


def test_a_nested_tracking_tag_of_the_wrong_type_is_refused_by_its_path():
    assert refusal(a_payload(utm={"medium": ["email"]})).field == "utm.medium"


@pytest.mark.parametrize("utm", ["source=x", ["x"], 3], ids=repr)
def test_a_utm_value_that_is_not_an_object_is_ignored(utm):
    assert parse_checkout(a_payload(utm=utm)).utm == {}
