"""`mpanel stacks migrate`'s rewrite of a state recorded by an earlier release (stacks/migration.py).

The stored providers are real samples of release 0.1.0 (fixtures/stored_providers.json); the
engine side (export, previews, import) is proven in tests/integration/upgrade/.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pulumi
import pytest

from providers import stored
from stacks import migration
from stacks.program import HostingAccount
from tests.unit.test_program import a_spec, settle, mocks  # noqa: F401  (mocks: the fixture)

SAMPLES = json.loads((Path(__file__).parent / "fixtures" / "stored_providers.json").read_text())["releases"]
RELEASE_0_1_0 = SAMPLES["5cdc66060eb51bcdb5005d1e7ee27cb307caff3a"]
STACK = "urn:pulumi:sub-42::mpanel"
PARENT = f"{STACK}::mpanel:hosting:Account::shop.example"
PYTHON_PROVIDER = f"{STACK}::pulumi:providers:pulumi-python::default::0b7c"


def dynamic(name: str, stored_path: str, id_: str, secret: bool = True, **inputs) -> dict:
    text = RELEASE_0_1_0[stored_path]
    provider = migration._secret(text) if secret else text
    return {"urn": f"{PARENT}$pulumi-python:dynamic:Resource::{name}", "custom": True, "id": id_,
            "type": "pulumi-python:dynamic:Resource", "parent": PARENT, "provider": PYTHON_PROVIDER,
            "inputs": {"__provider": provider, **inputs}, "outputs": {"__provider": provider, **inputs}}


def recorded_by_0_1_0() -> dict:
    return {"manifest": {}, "resources": [
        {"urn": f"{STACK}::pulumi:pulumi:Stack::mpanel-sub-42", "custom": False, "type": "pulumi:pulumi:Stack"},
        {"urn": PARENT, "custom": False, "type": "mpanel:hosting:Account"},
        {"urn": PYTHON_PROVIDER.rpartition("::")[0], "custom": True, "id": "0b7c",
         "type": "pulumi:providers:pulumi-python"},
        dynamic("zone", "providers.powerdns.DnsZoneProvider", "shop.example."),
        dynamic("account", "providers.whm.WhmAccountProvider", "shopexam", secret=False),
        dynamic("tls", "providers.whm.WhmSslProvider", "shop.example"),
        dynamic("starter-page", "providers.site.StarterPageProvider", "192.0.2.10:22:/home/shopexam/public_html/index.html",
                ssh_address="192.0.2.10:22", ssh_user="shopexam", document_root="/home/shopexam/public_html"),
    ]}


def by_name(deployment: dict) -> dict[str, dict]:
    return {r["urn"].rpartition("::")[2]: r for r in deployment["resources"]}


def test_every_stored_provider_is_rewritten_as_the_current_pickle_of_its_kind_in_the_same_envelope():
    done = migration.rewrite(recorded_by_0_1_0(), a_spec(), "1.2.1")
    resources = by_name(done.deployment)
    for name, kind in (("zone", "dns-zone"), ("account", "whm-account"), ("tls", "whm-ssl")):
        for props in ("inputs", "outputs"):
            value, secret = migration._unwrap(resources[name][props]["__provider"])
            assert value == migration.current_provider(kind) and type(stored.load_stored(value)).KIND == kind
            assert secret == (name != "account")  # kept as the engine stored it
    assert "account: stored provider -> kind whm-account" in done.changes


def test_the_retired_starter_page_becomes_the_command_the_current_program_declares_under_a_new_provider():
    done = migration.rewrite(recorded_by_0_1_0(), a_spec(), "1.2.1")
    resources = done.deployment["resources"]
    names = [r["urn"].rpartition("::")[2] for r in resources]
    provider, page = resources[names.index("default_1_2_1")], resources[names.index("starter-page")]
    assert names.index("default_1_2_1") < names.index("starter-page")  # a provider precedes its users
    assert page["urn"] == f"{PARENT}$command:remote:Command::starter-page"
    assert page["type"] == "command:remote:Command" and page["provider"] == f"{provider['urn']}::{provider['id']}"
    assert page["dependencies"] == [f"{PARENT}$pulumi-python:dynamic:Resource::account"]
    assert provider["inputs"]["version"] == "1.2.1" and provider["type"] == "pulumi:providers:command"
    assert "runuser -u shopexam" in page["inputs"]["create"] and "shop.example" in page["inputs"]["stdin"]
    assert not any(r["type"] == "pulumi-python:dynamic:Resource" and r["urn"].endswith("::starter-page")
                   for r in resources)


def test_a_stack_that_already_has_a_command_provider_keeps_it():
    once = migration.rewrite(recorded_by_0_1_0(), a_spec(), "1.2.1").deployment
    provider = by_name(once)["default_1_2_1"]
    again = recorded_by_0_1_0()
    again["resources"].insert(0, copy.deepcopy(provider))
    done = by_name(migration.rewrite(again, a_spec(), "1.2.1").deployment)
    assert done["starter-page"]["provider"] == f"{provider['urn']}::{provider['id']}"
    assert [r for r in migration.rewrite(again, a_spec(), "1.2.1").deployment["resources"]
            if r["type"] == "pulumi:providers:command"] == [provider]


def test_a_migrated_state_has_nothing_left_to_rewrite():
    once = migration.rewrite(recorded_by_0_1_0(), a_spec(), "1.2.1")
    twice = migration.rewrite(once.deployment, a_spec(), "1.2.1")
    assert twice.changes == [] and twice.deployment == once.deployment


def test_a_provider_this_release_cannot_load_leaves_the_stack_as_it_was():
    state = recorded_by_0_1_0()
    state["resources"][3]["inputs"]["__provider"] = "gASVHgAAAAAAAACMCG5vd2hlcmWUjAdOb3RoaW5nlJOULg=="
    before = copy.deepcopy(state)
    with pytest.raises(migration.CannotMigrate, match="zone: its stored provider does not load"):
        migration.rewrite(state, a_spec(), "1.2.1")
    assert state == before


def test_a_stack_with_pending_operations_is_refused():
    state = {**recorded_by_0_1_0(), "pending_operations": [{"type": "creating"}]}
    with pytest.raises(migration.CannotMigrate, match="pending"):
        migration.rewrite(state, a_spec(), "1.2.1")


def plain(value):
    """A property as the program declared it, secret envelopes (mocks' or the state's) opened."""
    if isinstance(value, dict) and migration.SECRET_SIG in value:
        return plain(value["value"] if "value" in value else json.loads(value["plaintext"]))
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


@pulumi.runtime.test
def test_the_moved_command_has_exactly_the_inputs_the_current_program_declares(mocks):  # noqa: F811
    recorded, _monitor = mocks
    spec = a_spec()
    account = HostingAccount(spec)

    def check():
        declared = recorded.inputs["starter-page"]
        moved = migration.starter_page_command(spec, "account-id")  # the mocks' id of the WHM account
        assert plain(moved) == plain(declared)
        assert migration.SECRET_SIG in moved["connection"]  # the private key never lands in plain text
    return settle(account, check)
