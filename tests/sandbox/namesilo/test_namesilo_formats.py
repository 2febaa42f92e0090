"""Every operation answers in XML (NameSilo's original format) what it answers in JSON."""

from __future__ import annotations

from datetime import date
from xml.etree import ElementTree

import pytest

from sandbox.namesilo import create_app

KEY = "0123456789abcdef0123"


@pytest.fixture
def app(tmp_path, sleeps):
    return create_app(tmp_path / "namesilo" / "state.sqlite3", KEY, balance=500.0, sleep=sleeps,
                      today=lambda: date(2025, 1, 15))


def xml_reply(http, operation, **params):
    response = http.get(f"/api/{operation}", query_string={"version": "1", "type": "xml", "key": KEY, **params})
    assert response.status_code == 200 and response.mimetype == "text/xml"
    root = ElementTree.fromstring(response.get_data())
    assert root.tag == "namesilo" and root.find("request/operation").text == operation
    return root.find("reply")


def json_reply(http, operation, **params):
    query = {"version": "1", "type": "json", "key": KEY, **params}
    return http.get(f"/api/{operation}", query_string=query).get_json()["reply"]


def as_json(element):
    """Read XML back the way NameSilo documents the mapping (see sandbox.namesilo.formats)."""
    children = list(element)
    if not children:
        return element.text or ""
    names = {child.tag for child in children}
    if element.tag in ("available", "unavailable", "invalid", "domains", "nameservers"):
        return [{child.tag: child.text, **child.attrib} if child.attrib else child.text for child in children]
    assert len(names) == len(children), f"repeated children outside a list in <{element.tag}>"
    return {child.tag: as_json(child) for child in children}


def flat(value):
    """JSON values as XML text carries them."""
    if isinstance(value, dict):
        return {k: flat(v) for k, v in value.items()}
    if isinstance(value, list):
        return [flat(v) for v in value]
    return "" if value is None else str(value)


def test_every_operation_answers_the_same_content_in_xml_and_json(app):
    http = app.test_client()
    http.post("/_sandbox/unavailable", json={"domain": "taken.com"})
    calls = [
        ("checkRegisterAvailability", {"domains": "free.com,taken.com,bad_name.com"}),
        ("registerDomain", {"domain": "shop.com", "years": "1", "ns1": "ns1.host.example", "ns2": "ns2.host.example"}),
        ("getDomainInfo", {"domain": "shop.com"}),
        ("changeNameServers", {"domain": "shop.com", "ns1": "a.host.example", "ns2": "b.host.example"}),
        ("listDomains", {}),
        ("domainUnlock", {"domain": "shop.com"}),
        ("domainLock", {"domain": "shop.com"}),
        ("addAutoRenewal", {"domain": "shop.com"}),
        ("removeAutoRenewal", {"domain": "shop.com"}),
        ("retrieveAuthCode", {"domain": "shop.com"}),
        ("transferDomain", {"domain": "moving.com", "auth": "EPP-secret"}),
        ("checkTransferStatus", {"domain": "moving.com"}),
        ("renewDomain", {"domain": "shop.com", "years": "1"}),
        ("getDomainInfo", {"domain": "nothere.com"}),
    ]
    for operation, params in calls:
        # Read-only calls first in XML then JSON; a change is made once, in XML, and its
        # JSON twin is a repeat that must fail the same way or succeed alike.
        xml = as_json(xml_reply(http, operation, **params))
        if operation in ("getDomainInfo", "listDomains", "checkRegisterAvailability"):
            assert xml == flat(json_reply(http, operation, **params)), operation
        else:
            assert xml["code"] in ("300", "301", "302"), (operation, xml)
            assert set(xml) >= {"code", "detail"}


@pytest.mark.parametrize("kind, code", [("", 104), ("yaml", 105)])
def test_a_missing_or_unknown_type_is_refused_in_xml(app, kind, code):
    response = app.test_client().get("/api/listDomains", query_string={"version": "1", "type": kind, "key": KEY})

    reply = ElementTree.fromstring(response.get_data()).find("reply")
    assert (reply.find("code").text, bool(reply.find("detail").text)) == (str(code), True)


def test_xml_refusals_and_injected_failures_keep_the_xml_envelope(app):
    http = app.test_client()
    assert xml_reply(http, "listDomains", key="wrong").find("code").text == "110"
    assert xml_reply(http, "setAutoRenewal").find("code").text == "107"
    http.post("/_sandbox/faults", json={"operation": "listDomains", "kind": "code", "code": 115, "count": 1})
    assert xml_reply(http, "listDomains").find("code").text == "115"


def test_xml_escapes_what_it_carries(app):
    http = app.test_client()
    http.post("/_sandbox/faults", json={"operation": "listDomains", "kind": "code", "code": 210, "reason": "a <b> & c", "count": 1})

    assert xml_reply(http, "listDomains").find("detail").text == "a <b> & c"
