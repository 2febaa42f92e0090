"""Installs the Debian packages the local servers need, only when some are missing."""
from __future__ import annotations

import os
import subprocess

PACKAGES = (
    "postgresql", "pdns-server", "pdns-backend-sqlite3", "pdns-backend-pgsql", "pebble",
    "dovecot-imapd", "dovecot-pgsql", "dnsutils", "sqlite3", "openssh-server", "openssh-client",
    # The browser tests drive Debian's own Chromium through Playwright (never a downloaded build).
    "chromium",
    # The production layout's test: Debian's nginx in front of the app, systemd-analyze for the units.
    "nginx", "systemd",
    # `promtool check rules` on the shipped alert rules, and the Prometheus the metrics test scrapes with.
    "prometheus",
)
# A production worker (`mpanel setup --worker`): the engine is built from Go modules and runs
# the project's venv; it reaches every server over the network, and the mail host's maildirs
# over SSH (providers/clients/maildirs.py). No database, DNS, mail or browser of its own.
WORKER_PACKAGES = ("openssh-client", "ca-certificates")


def missing(packages=PACKAGES) -> list[str]:
    out = subprocess.run(["dpkg-query", "-W", "-f=${Package} ${db:Status-Status}\n", *packages],
                         capture_output=True, text=True)
    installed = {line.split()[0] for line in out.stdout.splitlines() if line.endswith(" installed")}
    return [p for p in packages if p not in installed]


def ensure(log=print, packages=PACKAGES) -> None:
    todo = missing(packages)
    if not todo:
        return
    if os.geteuid() != 0:
        raise SystemExit(f"missing Debian packages {' '.join(todo)}: run `mpanel setup` as root")
    log(f"installing Debian packages: {' '.join(todo)}")
    # policy-rc.d 101 keeps the packages from starting system daemons on default ports.
    policy = "/usr/sbin/policy-rc.d"
    created = not os.path.exists(policy)
    if created:
        with open(policy, "w") as fh:
            fh.write("#!/bin/sh\nexit 101\n")
        os.chmod(policy, 0o755)
    try:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-q"], check=True, env=env, stdout=subprocess.DEVNULL)
        subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends", *todo], check=True, env=env,
                       stdout=subprocess.DEVNULL)
    finally:
        if created:
            os.remove(policy)
