"""The domain page's live check of an external domain's delegation (app/services/domains/delegation.py).

The parent zone's server is a small UDP responder in this process: there is no internet here,
so no real TLD server to ask. It answers the way a TLD server does (a referral: no answer, the
domain's NS in the authority section) or the way a recursive resolver does (an answer)."""
from __future__ import annotations

import socket

import dns.rcode
import dns.rrset
import pytest

from app.services.domains.delegation import check, verdict
from tests.dns_stand_in import UdpDns

OURS = ("ns1.migrahosting.com", "ns2.migrahosting.com")


@pytest.mark.parametrize("found, expected", [
    (["ns1.migrahosting.com.", "NS2.migrahosting.com"], "points at us"),
    (["ns2.migrahosting.com", "ns1.migrahosting.com"], "points at us"),
    (["ns1.migrahosting.com", "ns1.dnsowl.com"], "partly"),
    (["ns1.dnsowl.com", "ns2.dnsowl.com"], "not yet"),
    ([], "not yet"),
])
def test_verdict(found, expected):
    assert verdict(found, OURS) == expected


class Parent(UdpDns):
    """Answers NS queries for the domains in `zones` ({name: [ns]}); others NXDOMAIN."""

    def __init__(self, zones: dict[str, list[str]], referral: bool):
        self.zones, self.referral = zones, referral
        super().__init__()

    def answer(self, question, reply):
        name = question.name.to_text().rstrip(".")
        if name not in self.zones:
            reply.set_rcode(dns.rcode.NXDOMAIN)
        else:
            rrset = dns.rrset.from_text_list(name + ".", 3600, "IN", "NS", [n + "." for n in self.zones[name]])
            (reply.authority if self.referral else reply.answer).append(rrset)


@pytest.mark.parametrize("referral", [True, False], ids=["parent-referral", "resolver-answer"])
def test_check_reads_the_delegation_from_the_server_asked(referral):
    parent = Parent({"moved.com": list(OURS), "elsewhere.com": ["ns1.dnsowl.com", "ns2.dnsowl.com"]}, referral)
    try:
        moved = check("moved.com", OURS, parent.address)
        assert moved == {"state": "points at us", "found": sorted(OURS), "asked": parent.address, "error": None}
        elsewhere = check("elsewhere.com", OURS, parent.address)
        assert elsewhere["state"] == "not yet" and elsewhere["found"] == ["ns1.dnsowl.com", "ns2.dnsowl.com"]
        assert check("unknown.com", OURS, parent.address)["state"] == "not yet"
    finally:
        parent.close()


def test_a_server_that_does_not_answer_is_said_so_not_guessed(monkeypatch):
    monkeypatch.setattr("app.services.domains.delegation.TIMEOUT", 0.3)
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    address = f"127.0.0.1:{silent.getsockname()[1]}"
    try:
        result = check("moved.com", OURS, address)
    finally:
        silent.close()
    assert result["state"] is None and result["found"] == [] and address in result["error"]
