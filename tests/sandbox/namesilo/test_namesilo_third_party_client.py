"""The NameSilo stand-in driven by a client the project did not write: ``python-namesilo``.

python-namesilo (PyPI ``python-namesilo``, module ``namesilo``) speaks only ``type=xml`` and
parses replies with xmltodict, as it does against NameSilo. Its host is fixed to NameSilo's
(``http://sandbox.namesilo.com/api/`` or the live one); the tests point the client's
``_base_url`` at the stand-in served on a loopback port, nothing else is changed.
"""

from __future__ import annotations

from datetime import date

import pytest
from namesilo.core import NameSilo
from namesilo.exceptions import (DomainAlreadyActiveInSystem, DomainAlreadyLocked, InvalidAPIKey,
                                 InvalidDomainNameOrExtension)

from sandbox.namesilo import create_app
from tests.sandbox.live import served

KEY = "0123456789abcdef0123"


@pytest.fixture
def base_url(tmp_path, sleeps):
    app = create_app(tmp_path / "namesilo" / "state.sqlite3", KEY, balance=500.0, sleep=sleeps,
                     today=lambda: date(2025, 1, 15))
    with served(app) as url:
        yield url


def client(base_url: str, key: str = KEY) -> NameSilo:
    registrar = NameSilo(key, sandbox=True)
    registrar._base_url = f"{base_url}/api/"  # the library's only address setting
    return registrar


def test_a_domain_is_checked_registered_read_back_and_changed(base_url):
    registrar = client(base_url)

    assert registrar.check_domain("shop.com") is True
    assert registrar.register_domain("shop.com", years=2, auto_renew=1) is True
    assert registrar.check_domain("shop.com") is False

    info = registrar.get_domain_info("shop.com")
    assert (info.created, info.expires, info.status) == ("2025-01-15", "2027-01-15", "Active")
    assert (info.locked, info.auto_renew, info.private) == ("Yes", "Yes", "No")
    assert info.name_servers == ["ns1.dnsowl.com", "ns2.dnsowl.com", "ns3.dnsowl.com"]
    assert info.contacts.registrant == "1"

    assert registrar.change_domain_nameservers("shop.com", "ns1.host.example", "ns2.host.example")
    assert registrar.get_domain_info("shop.com").name_servers == ["ns1.host.example", "ns2.host.example"]
    assert registrar.unlock_domain("shop.com") and registrar.lock_domain("shop.com")
    assert registrar.remove_auto_renew_domain("shop.com") and registrar.auto_renew_domain("shop.com")
    assert registrar.renew_domain("shop.com", years=1)


def test_list_domains_reads_the_documented_xml_list(base_url):
    registrar = client(base_url)
    registrar.register_domain("shop.com")
    registrar.register_domain("blog.net")

    listed = registrar.list_domains()

    assert [d["#text"] for d in listed] == ["blog.net", "shop.com"]
    assert listed[0]["@expires"] == "2026-01-15"


def test_failures_arrive_as_the_library_exceptions_for_their_codes(base_url):
    registrar = client(base_url)
    registrar.register_domain("shop.com")

    with pytest.raises(DomainAlreadyActiveInSystem):
        registrar.register_domain("shop.com")
    with pytest.raises(DomainAlreadyLocked):
        registrar.lock_domain("shop.com")
    with pytest.raises(InvalidDomainNameOrExtension):
        registrar.register_domain("shop.zz")
    with pytest.raises(InvalidAPIKey):
        client(base_url, key="wrong").list_domains()
