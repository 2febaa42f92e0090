"""`mpanel doctor` checks each component for real and says which one is broken."""
from __future__ import annotations

import dataclasses
import subprocess
import sys

from app.cli import doctor


def test_doctor_passes_against_the_running_local_servers(settings):
    out = subprocess.run([sys.executable, "-m", "app.cli", "doctor"], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    for name in ("Pulumi CLI", "PostgreSQL", "PowerDNS API", "pebble ACME directory", "Dovecot IMAP login",
                 "SMTP", "OpenSSH (sites)", "WHM API", "NameSilo API", "Stripe API", "Pulumi engine round trip"):
        assert any(line.startswith("ok") and name in line for line in out.stdout.splitlines()), name


def test_doctor_fails_and_names_a_component_that_is_not_there(settings, capsys, monkeypatch):
    # Without the engine's round trip (8 s, and the test above runs it): it uses no PowerDNS.
    monkeypatch.setattr(doctor, "CHECKS", [(name, check) for name, check in doctor.CHECKS
                                           if check is not doctor.check_engine])
    broken = dataclasses.replace(settings, POWERDNS_API_URL="http://127.0.0.1:9")
    checks = doctor.run(broken)
    assert doctor.report(checks) == 1
    assert "not working: PowerDNS API" in capsys.readouterr().out
