"""The zone holds back the web (apex and www A) of a domain whose control is not proven
(providers/resources/dns_zone.py, input `web_published`), and nothing else."""
from __future__ import annotations

from providers.resources.dns_zone import _inputs, observed
from providers.rules.dns_records import desired_rrsets

ZONE = {"domain": "held.example", "server_ip": "192.0.2.10", "mail_host": "mail.host.test",
        "nameservers": ["ns1.host.test", "ns2.host.test"], "records": [], "dkim_selector": "mpanel",
        "owner": "sub-1"}


def _names(wanted: dict) -> set[tuple[str, str]]:
    return set(wanted)


def test_an_unproven_domain_gets_every_record_but_the_web_addresses():
    published = desired_rrsets({**ZONE, "web_published": True}, "KEY")
    held = desired_rrsets({**ZONE, "web_published": False}, "KEY")
    assert _names(published) - _names(held) == {("held.example.", "A"), ("www.held.example.", "A")}
    assert published[("held.example.", "A")]["records"] == ["192.0.2.10"]
    assert {k: v for k, v in published.items() if k[1] != "A"} == held


def test_state_written_before_the_input_existed_publishes_the_web():
    assert _inputs({**ZONE})["web_published"] is True
    assert ("held.example.", "A") in desired_rrsets(_inputs(ZONE), "KEY")


def test_a_held_zone_read_back_keeps_its_address_so_no_drift_is_seen():
    live = {"name": "held.example.", "serial": 1, "rrsets": [], "account": "sub-1"}
    assert observed({**ZONE, "web_published": False}, live)["server_ip"] == "192.0.2.10"
    assert observed({**ZONE, "web_published": True}, live)["server_ip"] == "", "a published zone lost its A"
