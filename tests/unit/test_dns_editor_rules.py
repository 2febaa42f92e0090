"""The DNS editor's own rules (app/services/domains/dns_editor.py) on top of the zone provider's: names
typed in full or relative, names outside the zone, TTL bounds, types offered, and which form
field a provider rule's refusal is about."""
from __future__ import annotations

import pytest

from app.services.domains.dns_editor import CUSTOMER_TYPES, RecordRefused, _field_of, _relative, _ttl
from providers.rules.dns_records import checked_record, record_set_problems


@pytest.mark.parametrize("typed, relative", [
    ("", "@"), ("@", "@"), ("example.com", "@"), ("Example.COM.", "@"), ("shop", "shop"),
    ("shop.example.com", "shop"), ("a.b.example.com.", "a.b"), ("_sip._tcp", "_sip._tcp"),
])
def test_names_are_taken_relative_to_the_zone(typed, relative):
    assert _relative(typed, "example.com") == relative


@pytest.mark.parametrize("typed", ["shop.other.com", "other.com", "shop.example.net.", "example.com.evil.com"])
def test_a_name_typed_in_full_outside_the_zone_is_refused(typed):
    with pytest.raises(RecordRefused) as refused:
        _relative(typed, "example.com")
    assert refused.value.field == "name" and refused.value.status == 422


@pytest.mark.parametrize("typed, ttl", [("", 3600), ("60", 60), ("86400", 86400)])
def test_ttl_defaults_and_bounds(typed, ttl):
    assert _ttl(typed) == ttl


@pytest.mark.parametrize("typed", ["59", "86401", "1e3", "-60", "soon"])
def test_a_ttl_out_of_bounds_is_refused(typed):
    with pytest.raises(RecordRefused) as refused:
        _ttl(typed)
    assert refused.value.field == "ttl"


def test_customers_get_the_issue_types_and_not_ns():
    assert set(CUSTOMER_TYPES) == {"A", "AAAA", "CNAME", "MX", "TXT", "SRV", "CAA"}


@pytest.mark.parametrize("record, field", [
    ({"name": "shop", "type": "A", "content": "not-an-address", "ttl": 300}, "content"),
    ({"name": "@", "type": "MX", "content": "10 mail.example.net", "ttl": 300}, "name"),
    ({"name": "www", "type": "A", "content": "192.0.2.1", "ttl": 300}, "name"),
    ({"name": "bad_label!", "type": "A", "content": "192.0.2.1", "ttl": 300}, "name"),
    ({"name": "shop", "type": "CAA", "content": "0 issue", "ttl": 300}, "content"),
])
def test_a_provider_refusal_names_the_form_field(record, field):
    with pytest.raises(ValueError) as refused:
        checked_record(record)
    assert _field_of(str(refused.value)) == field


def test_a_cname_beside_another_record_or_at_the_apex_is_a_set_problem():
    txt = checked_record({"name": "shop", "type": "TXT", "content": "hello", "ttl": 300})
    cname = checked_record({"name": "shop", "type": "CNAME", "content": "elsewhere.example.net", "ttl": 300})
    apex = {"name": "@", "type": "CNAME", "content": "elsewhere.example.net.", "ttl": 300}
    assert record_set_problems([txt, cname]) and record_set_problems([apex])
    assert not record_set_problems([cname])


# --- one rule, applied once (issue 23 item 3) ----------------------------------------------------

QUOTED_SPF = '"\\"v=spf1 include:evil.example -all'


@pytest.mark.parametrize("content", [QUOTED_SPF, '"v=spf1 include:evil.example -all"', "V=SPF1 -all",
                                     ' "v=spf1 -all'])
def test_spf_in_any_quoting_is_refused_at_the_apex(content):
    from providers.rules.dns_records import stored_record

    with pytest.raises(ValueError) as refused:
        stored_record({"name": "@", "type": "TXT", "content": content, "ttl": 300})
    assert "SPF" in str(refused.value) and _field_of(str(refused.value)) == "name"


@pytest.mark.parametrize("record", [
    {"name": "@", "type": "TXT", "content": 'say "hi" \\ there', "ttl": 300},
    {"name": "x", "type": "TXT", "content": '"already" "quoted"', "ttl": 300},
    {"name": "x", "type": "TXT", "content": "é" * 300, "ttl": 300},
    {"name": "shop", "type": "MX", "content": "10 MX.Example.net", "ttl": 300},
    {"name": "shop", "type": "CAA", "content": '0 issue "letsencrypt.org"', "ttl": 300},
])
def test_what_the_panel_stores_the_zone_takes_as_it_is(record):
    from providers.rules.dns_records import stored_record

    stored = stored_record(record)
    assert stored_record(stored) == stored, "stored once, the same at every later check"
    assert checked_record(stored) == checked_record(record), "the zone reads it as the panel meant it"


def test_a_stored_record_the_zone_refuses_is_split_out_with_the_reason():
    from providers.rules.dns_records import publishable_records

    good = {"name": "shop", "type": "A", "content": "192.0.2.1", "ttl": 300}
    # What the panel stored before the fix: the quoted SPF unquoted once.
    spf = {"name": "@", "type": "TXT", "content": '"v=spf1 include:evil.example -all', "ttl": 300}
    cname = {"name": "shop", "type": "CNAME", "content": "elsewhere.example.net", "ttl": 300}
    taken, refused = publishable_records([good, spf, cname])
    assert taken == [good]
    assert [(r is spf, "SPF" in why) for r, why in refused][0] == (True, True)
    assert refused[1][0] is cname and "CNAME" in refused[1][1]
