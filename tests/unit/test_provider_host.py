"""The worker's dynamic-provider server (stacks.provider_host): one per provider configuration,
shared by the runs that use it, replaced when it died or the configuration changed, and gone
when a run is killed. Real server processes, no engine."""
from __future__ import annotations

import os
import signal

import grpc
from google.protobuf import empty_pb2
import pytest
from pulumi.runtime.proto import plugin_pb2, provider_pb2_grpc

from stacks import provider_host, supervision
from tests.polling import wait_for


@pytest.fixture(autouse=True)
def no_servers_left():
    yield
    provider_host.stop_all()


def _env(label: str) -> dict[str, str]:
    return {"PYTHONPATH": os.getcwd(), "MPANEL_PROVIDER_CONFIG": "{}", "LABEL": label}


def _plugin_info(port: int) -> str:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = provider_pb2_grpc.ResourceProviderStub(channel)
        stub.Attach(plugin_pb2.PluginAttach(address="127.0.0.1:1"), timeout=10)  # what an attaching engine sends
        return stub.GetPluginInfo(empty_pb2.Empty(), timeout=10).version


def _port(attach: dict[str, str]) -> int:
    name, port = attach[provider_host.ATTACH_VAR].split(":")
    assert name == "pulumi-python"
    return int(port)


def test_runs_with_one_configuration_share_one_server_that_answers_attach():
    with provider_host.attached(_env("a")) as first, provider_host.attached(_env("a")) as second:
        assert first == second
        assert _plugin_info(_port(first))
    assert len(provider_host.running_pids()) == 1  # still there for the next run


def test_a_new_configuration_gets_its_own_server_and_the_old_one_stops_after_its_last_run():
    with provider_host.attached(_env("old")):
        [old_pid] = provider_host.running_pids()
        with provider_host.attached(_env("new")) as new:
            assert _plugin_info(_port(new))
            os.kill(old_pid, 0)  # a run still uses the old server: it keeps serving
    [pid] = provider_host.running_pids()
    assert pid != old_pid
    with pytest.raises(ProcessLookupError):
        os.kill(old_pid, 0)


def test_a_server_that_died_is_replaced_by_the_next_run():
    with provider_host.attached(_env("a")):
        [pid] = provider_host.running_pids()
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: provider_host.running_pids() == [], deadline=10, what="the server to be gone")
    with provider_host.attached(_env("a")) as attach:
        assert _plugin_info(_port(attach))
        assert provider_host.running_pids() != [pid]


def test_a_killed_run_takes_the_servers_with_it():
    with provider_host.attached(_env("a")):
        [pid] = provider_host.running_pids()
        supervision.fence("test")
    assert provider_host.running_pids() == []
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_turned_off_the_engine_starts_its_own(monkeypatch):
    monkeypatch.setenv("MPANEL_PROVIDER_HOST", "off")
    with provider_host.attached(_env("a")) as attach:
        assert attach == {}
    assert provider_host.running_pids() == []
