"""Many web servers without servers: the placement rule, each server's WHM credentials by id,
what a spec takes from a server row, and the operators' input checks."""
from __future__ import annotations

import dataclasses

import pytest

from app.services.hosting.placement import choose, has_room
from app.services.hosting.servers import ServerInput, ServerRefused, _checked
from app.settings import Settings
from providers.core.config import ProviderConfig
from providers.core.errors import ProviderError
from stacks.spec import SpecDefaults, spec_from_rows
from tests.unit.test_spec_from_rows import DEFAULTS, a_subscription, opened


def a_server(id_, accounts, capacity=10, status="active", disk_used=0, disk=None, fill="least_loaded"):
    return {"id": id_, "accounts": accounts, "capacity": capacity, "status": status, "disk_used_mb": disk_used,
            "disk_capacity_mb": disk, "fill_strategy": fill}


def test_least_loaded_takes_the_smallest_share_of_capacity_in_use():
    servers = [a_server(1, 5, 10), a_server(2, 3, 4), a_server(3, 4, 20)]
    assert choose(servers, 100)["id"] == 3  # 20 % used, against 50 % and 75 %


def test_fill_first_fills_the_first_server_with_room_before_the_next():
    servers = [a_server(1, 10, 10, fill="fill_first"), a_server(2, 7, 10, fill="fill_first"),
               a_server(3, 0, 10, fill="fill_first")]
    assert choose(servers, 100)["id"] == 2


def test_draining_retired_full_and_disk_full_servers_take_nothing():
    assert not has_room(a_server(1, 0, status="draining"), 1)
    assert not has_room(a_server(1, 0, status="retired"), 1)
    assert not has_room(a_server(1, 10, 10), 1)
    assert not has_room(a_server(1, 0, disk_used=9000, disk=10000), 5120)
    assert has_room(a_server(1, 0, disk_used=4880, disk=10000), 5120)
    assert choose([a_server(1, 0, status="draining"), a_server(2, 1, 1)], 1) is None


CONFIG = ProviderConfig(CPANEL_WHM_URL="http://whm-default:2087", CPANEL_WHM_API_TOKEN="DEFAULT",
                        WHM_SERVERS={"7": {"url": "http://web7:2087", "username": "reseller", "token": "SEVEN"}})


def test_a_server_id_resolves_to_that_servers_whm_and_none_to_the_environments():
    seven = CONFIG.for_whm_server("7")
    assert (seven.CPANEL_WHM_URL, seven.CPANEL_WHM_API_TOKEN, seven.CPANEL_WHM_USERNAME) == \
        ("http://web7:2087", "SEVEN", "reseller")
    assert CONFIG.for_whm_server(7).CPANEL_WHM_URL == "http://web7:2087"
    assert CONFIG.for_whm_server(None) is CONFIG


def test_an_unknown_server_is_an_error_never_the_default_whm():
    from providers.clients.whm import whm_client_for
    from providers.core import config

    with pytest.raises(KeyError):
        CONFIG.for_whm_server("8")
    config.use(CONFIG)
    try:
        with pytest.raises(ProviderError) as refused:
            whm_client_for({"server": "8"})
        assert "web server 8" in refused.value.message and refused.value.retryable
        assert whm_client_for({"server": "7"}).base_url == "http://web7:2087"
        assert whm_client_for({}).base_url == "http://whm-default:2087"
    finally:
        config.use(ProviderConfig())


def test_the_token_never_travels_in_a_resources_inputs():
    from providers.resources.whm_account import WhmAccountProvider

    checked = WhmAccountProvider().check({}, {"domain": "shop.example", "plan": "p", "owner": "sub-1",
                                              "server": "7"})
    assert checked.inputs["server"] == "7" and "SEVEN" not in repr(checked.inputs)


OWN = {"id": 7, "hostname": "web7.example.net", "ip_address": "192.0.2.70", "whm_endpoint": "own",
       "whm_url": "http://web7:2087", "ssh_host_key": "ssh-ed25519 AAAAC3seven", "ssh_address": "192.0.2.70:2222",
       "home_root": "/home2"}
ENVIRONMENTS = {"id": 1, "hostname": "web1.example.net", "ip_address": "192.0.2.10", "whm_endpoint": "default",
                "whm_url": None, "ssh_host_key": None, "ssh_address": None, "home_root": None}
WITH_ENV = dataclasses.replace(DEFAULTS, ssh_address="127.0.0.1:22022", ssh_host_key="ssh-ed25519 AAAAC3env")


def test_a_server_with_its_own_endpoint_is_described_by_its_row_alone():
    s = spec_from_rows(a_subscription(server_id=7), OWN, [], [], WITH_ENV, opened)
    assert (s.whm_server, s.ssh_address, s.ssh_host_key, s.site_home_root) == \
        ("7", "192.0.2.70:2222", "ssh-ed25519 AAAAC3seven", "/home2")
    # Without an address of its own: its IP, port 22; never the environment's SSH_ADDRESS.
    bare = spec_from_rows(a_subscription(server_id=7), {**OWN, "ssh_address": None}, [], [], WITH_ENV, opened)
    assert bare.ssh_address == "192.0.2.70:22"


def test_the_environments_server_keeps_the_environments_settings():
    s = spec_from_rows(a_subscription(server_id=1), ENVIRONMENTS, [], [], WITH_ENV, opened)
    assert (s.whm_server, s.ssh_address, s.ssh_host_key, s.site_home_root) == \
        (None, "127.0.0.1:22022", "ssh-ed25519 AAAAC3env", "/home")


def test_a_server_of_its_own_needs_its_own_host_key():
    from stacks.spec import SpecError

    with pytest.raises(SpecError, match="host key"):
        spec_from_rows(a_subscription(server_id=7), {**OWN, "ssh_host_key": None}, [], [], WITH_ENV, opened)


SETTINGS = Settings(MPANEL_ENCRYPTION_KEY="b0SNNi2TfCOGx3OTIEBpKhFuZj9dUmG_HeYrl7WSAxs=")


@pytest.mark.parametrize("field,value", [
    ("hostname", "bad..host"), ("ip_address", "300.1.1.1"), ("whm_url", "ftp://web2"),
    ("whm_url", "https://root:pw@web2:2087"), ("ssh_address", "web2"), ("ssh_host_key", "AAAA"),
    ("home_root", "home"), ("capacity", -1), ("disk_capacity_mb", 0), ("server_group", "no spaces"),
    ("fill_strategy", "random"), ("whm_token", " "), ("drain_moves_per_hour", 0), ("archive_dir", "backups")])
def test_bad_server_input_is_refused_naming_the_field(field, value):
    with pytest.raises(ServerRefused) as refused:
        _checked(SETTINGS, ServerInput(**{field: value}))
    assert refused.value.field == field


def test_the_token_is_kept_encrypted():
    values = _checked(SETTINGS, ServerInput(whm_token="TOKEN-123"))
    assert b"TOKEN-123" not in values["whm_token_encrypted"] and "whm_token" not in values
