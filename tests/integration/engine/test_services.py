"""The local-server supervisor: clear messages instead of hangs."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from tools.services import servers
from tools.services.layout import Layout
from tools.services.supervisor import ServiceError, Supervisor


@pytest.fixture
def scratch(tmp_path):
    # Ports of its own beside this run's (the next xdist worker's base is 2,000 above).
    return Layout(tmp_path / "state", int(os.environ["MPANEL_PORT_BASE"]) + 700)


def test_a_taken_port_is_named_in_the_error(scratch):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", scratch.port("smtp")))
        holder.listen()
        with pytest.raises(ServiceError, match=rf"port {scratch.port('smtp')} \(smtp smtp\) is already in use"):
            Supervisor(scratch, servers=[servers.SmtpSink(scratch)]).start(timeout=10)


def test_a_missing_program_names_its_debian_package(scratch):
    class Imaginary(servers.Server):
        name = "imaginary"

        def prepare(self):
            servers._need("no-such-daemon", "imaginary-server")

    with pytest.raises(ServiceError, match="no-such-daemon is not installed \\(Debian package imaginary-server\\)"):
        Supervisor(scratch, servers=[Imaginary(scratch)]).start(timeout=5)


def test_status_json_lists_every_server_ready_with_its_endpoints(services, layout):
    out = subprocess.run([sys.executable, "-m", "app.cli", "services", "status", "--json"],
                         capture_output=True, text=True, check=True)
    report = json.loads(out.stdout)
    assert report["running"]
    assert all(s["ready"] for s in report["servers"].values()), report["servers"]
    assert {"postgres", "powerdns", "pebble", "dovecot", "smtp"} <= set(report["servers"])
    assert report["endpoints"]["ACME_CA_BUNDLE"] == str(layout.ca_file)
    assert report["endpoints"]["POWERDNS_API_URL"].endswith(str(layout.port("powerdns_api")))
