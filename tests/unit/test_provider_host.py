"""The worker's dynamic-provider server (stacks.provider_host): one per provider configuration,
shared by the runs that use it, replaced when it died or the configuration changed, and gone
when a run is killed. Real server processes, no engine."""
from __future__ import annotations

import multiprocessing
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


def _call_as(uid: int, port: int, report) -> None:
    """In the child: drop to `uid`, call, report the outcome."""
    try:
        os.setgid(uid)
        os.setuid(uid)
        _plugin_info(port)
        report.send("OK")
    except grpc.RpcError as exc:
        report.send(exc.code().name)
    except BaseException as exc:  # noqa: BLE001 - reported to the parent
        report.send(f"ERROR {exc!r}")


def _plugin_info_as(uid: int, port: int) -> str:
    """_plugin_info from a child process running as another user: its status code name. The
    child comes from a fresh fork server, not from this process: a fork of a process with gRPC's
    threads running can leave the child waiting forever on a lock one of them held."""
    ctx = multiprocessing.get_context("forkserver")
    answer, report = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_call_as, args=(uid, port, report))
    child.start()
    report.close()
    try:
        return answer.recv() if answer.poll(60) else "NO ANSWER IN 60 s"
    finally:
        child.join(10)
        child.kill()


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to call as another user")
def test_another_local_user_is_refused_before_anything_it_sends_is_read():
    with provider_host.attached(_env("a")) as attach:
        port = _port(attach)
        assert _plugin_info(port)  # our own user: served
        assert _plugin_info_as(65534, port) == "PERMISSION_DENIED"


def test_the_caller_is_named_by_the_kernel_table_of_loopback_sockets(tmp_path):
    from stacks import local_peer

    table = tmp_path / "tcp"
    table.write_text(
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
        "   0: 0100007F:D431 0100007F:1F90 01 00000000:00000000 00:00000000 00000000  1000        0 1 1\n"
        "   1: 0100007F:D431 0100007F:0050 01 00000000:00000000 00:00000000 00000000    33        0 2 1\n")
    table6 = tmp_path / "tcp6"
    table6.write_text(
        "  sl  local_address                         remote_address                        st tx_queue rx_queue "
        "tr tm->when retrnsmt   uid  timeout inode\n"
        "   0: 0000000000000000FFFF00000100007F:D433 0000000000000000FFFF00000100007F:1F90 01 "
        "00000000:00000000 00:00000000 00000000   999        0 3 1\n")
    tables = (str(table), str(table6))
    assert local_peer.owner_of("127.0.0.1", 0xD431, 0x1F90, tables) == 1000
    assert local_peer.owner_of("127.0.0.1", 0xD431, 0x0050, tables) == 33
    assert local_peer.owner_of("127.0.0.1", 0xD433, 0x1F90, tables) == 999  # a dual-stack client
    assert local_peer.owner_of("127.0.0.1", 0xD432, 0x1F90, tables) is None
    assert local_peer.parse_peer("ipv6:[::1]:5000") is None
