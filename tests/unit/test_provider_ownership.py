"""The base lifecycle's guards, without servers: an owner is recorded once, and customer data
is never replaced by a diff (providers/core/resource.py)."""
from __future__ import annotations

import pytest

from providers.core.errors import NeedsOperator, errors_in
from providers.core.resource import OWNER, Input, ProviderAdapter
from providers.core.values import UNKNOWN


class Mailboxish(ProviderAdapter):
    PROVIDER = "test"
    WHAT = "the test object"
    INPUTS = (Input("address", required=True), Input("quota"), Input("generation"), OWNER)
    REPLACES = ("address",)
    CUSTOMER_DATA = True
    CUSTOMER_REPLACES = ("generation",)

    def more_changes(self, olds, news):
        return [], (["generation"] if olds.get("generation") != news.get("generation") else [])


class Zoneish(Mailboxish):
    CUSTOMER_DATA = False


OLDS = {"address": "a@shop.example", "quota": 1, "generation": 1, "owner": "sub-1"}


def test_the_owner_is_required_and_must_be_a_stack_name():
    provider = Mailboxish()
    assert [f.property for f in provider.check({}, {"address": "a@shop.example"}).failures] == ["owner"]
    assert [f.property for f in provider.check({}, {**OLDS, "owner": "sub 1; drop"}).failures] == ["owner"]
    assert provider.check({}, OLDS).failures == []


def test_a_replacement_of_customer_data_stops_the_diff_naming_the_property():
    with pytest.raises(NeedsOperator) as caught:
        Mailboxish().diff("id", OLDS, {**OLDS, "address": "b@shop.example"})
    error = caught.value
    assert (error.kind, error.code, error.retryable) == ("needs_operator", "needs_operator", False)
    assert "address changed from 'a@shop.example' to 'b@shop.example'" in error.message
    assert "operator must decide" in error.message


def test_a_replacement_whose_new_value_is_not_known_is_refused_too():
    with pytest.raises(NeedsOperator):
        Mailboxish().diff("id", OLDS, {**OLDS, "address": UNKNOWN})


def test_a_replacement_the_customer_asked_for_goes_ahead_and_other_objects_replace_as_before():
    assert Mailboxish().diff("id", OLDS, {**OLDS, "generation": 2}).replaces == ["generation"]
    assert Zoneish().diff("id", OLDS, {**OLDS, "address": "b@shop.example"}).replaces == ["address"]


def test_in_place_changes_and_deletes_are_never_refused():
    provider = Mailboxish()
    diff = provider.diff("id", OLDS, {**OLDS, "quota": 2})
    assert diff.changes is True and diff.replaces == []
    provider.remove = lambda client, id_, props: None
    provider.client = lambda: None
    provider.delete("id", OLDS)


def test_an_owner_first_recorded_is_an_in_place_change_and_another_owner_is_refused():
    legacy = {k: v for k, v in OLDS.items() if k != "owner"}
    diff = Zoneish().diff("id", legacy, OLDS)
    assert diff.changes is True and diff.replaces == []
    with pytest.raises(NeedsOperator) as caught:
        Zoneish().diff("id", OLDS, {**OLDS, "owner": "sub-2"})
    assert caught.value.code == "owner_changed"
    assert "sub-1" in caught.value.message and "sub-2" in caught.value.message


def test_the_refusal_crosses_the_engine_boundary_as_structured_data():
    with pytest.raises(NeedsOperator) as caught:
        Mailboxish().diff("id", OLDS, {**OLDS, "address": "b@shop.example"})
    [decoded] = errors_in(f"error: diffing urn:...: Exception: {caught.value}\n")
    assert isinstance(decoded, NeedsOperator) and decoded.reason == caught.value.reason
