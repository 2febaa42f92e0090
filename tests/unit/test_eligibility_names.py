"""The name rules eligibility stands on (providers.rules.names): IDNA 2008 conversion, bogus
A-labels, registrable domains, above and below."""
from __future__ import annotations

import pytest

from providers.rules.names import (ancestors, domain_problem, is_under, public_suffix, registrable_domain,
                                  to_ascii, to_unicode)


@pytest.mark.parametrize("typed,stored", [
    ("bücher.com", "xn--bcher-kva.com"),
    ("Bücher.COM", "xn--bcher-kva.com"),           # UTS 46 case folding, as a browser does
    ("  bücher.com. ", "xn--bcher-kva.com"),
    ("bücher.com\u3002", "xn--bcher-kva.com"),     # an ideographic full stop ends the name too
    ("ＥＸＡＭＰＬＥ.com", "example.com"),           # full-width letters map to ASCII
    ("例え.テスト", "xn--r8jz45g.xn--zckzah"),
    ("faß.de", "xn--fa-hia.de"),                    # IDNA 2008 keeps ß (2003 mapped it to ss)
    ("shop.bücher.co.uk", "shop.xn--bcher-kva.co.uk"),
    ("xn--bcher-kva.com", "xn--bcher-kva.com"),
    ("XN--BCHER-KVA.com", "xn--bcher-kva.com"),
    ("Example.COM", "example.com"),
])
def test_a_name_is_stored_as_its_a_label(typed, stored):
    assert to_ascii(typed) == stored


@pytest.mark.parametrize("stored,shown", [
    ("xn--bcher-kva.com", "bücher.com"), ("xn--r8jz45g.xn--zckzah", "例え.テスト"), ("example.com", "example.com"),
])
def test_an_a_label_is_shown_as_its_u_label(stored, shown):
    assert to_unicode(stored) == shown


def test_a_name_that_cannot_be_decoded_is_shown_as_it_is():
    assert to_unicode("xn--zz.com") == "xn--zz.com"


@pytest.mark.parametrize("bogus", [
    "xn--abc.com",          # decodes to control characters
    "xn--zz.com",           # not Punycode at all
    "xn--a.com",
    "xn--ls8h.la",          # an emoji: valid Punycode, not a valid IDNA 2008 label
    "shop.xn--zz.com",
])
def test_a_bogus_a_label_is_refused_with_the_label_named(bogus):
    with pytest.raises(ValueError, match="not a valid IDNA A-label"):
        to_ascii(bogus)
    assert "A-label" in domain_problem(bogus)


def test_the_reason_for_a_bogus_label_carries_no_control_characters():
    with pytest.raises(ValueError) as caught:
        to_ascii("xn--abc.com")
    assert all(c.isprintable() for c in str(caught.value))


@pytest.mark.parametrize("bad", ["xn--.com", "💩.la", "exa mple.com", "bü_cher.com", "", "   ", "bücher", "a" * 64 + ".com"])
def test_what_is_not_a_domain_name_is_refused_with_a_reason(bad):
    with pytest.raises(ValueError) as caught:
        to_ascii(bad)
    assert str(caught.value)


def test_a_non_string_is_refused():
    with pytest.raises(ValueError):
        to_ascii(None)


def test_the_provider_rule_still_takes_only_ascii():
    assert domain_problem("bücher.com") is not None
    assert domain_problem("xn--bcher-kva.com") is None


@pytest.mark.parametrize("name,suffix,registrable", [
    ("example.com", "com", "example.com"),
    ("shop.example.com", "com", "example.com"),
    ("a.b.example.co.uk", "co.uk", "example.co.uk"),
    ("example.co.uk", "co.uk", "example.co.uk"),
    ("example.uk", "uk", "example.uk"),
    ("co.uk", "co.uk", None),
    ("panel.migrahosting.com", "com", "migrahosting.com"),
])
def test_the_registrable_domain_is_one_label_under_the_public_suffix(name, suffix, registrable):
    assert public_suffix(name) == suffix
    assert registrable_domain(name) == registrable


def test_above_and_below_are_about_whole_labels():
    assert is_under("shop.victim.com", "victim.com")
    assert is_under("www.www.victim.com", "victim.com")
    assert not is_under("victim.com", "victim.com")
    assert not is_under("notvictim.com", "victim.com")
    assert not is_under("victim.com", "shop.victim.com")


def test_the_names_above_a_name_stop_before_the_top_level():
    assert ancestors("a.b.example.com") == ["b.example.com", "example.com"]
    assert ancestors("example.com") == []
