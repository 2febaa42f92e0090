"""SSH between mpanel and the web servers: reading, writing and listing a server's files.

Moves carry WHM's archive from one server to another, backups fetch it to mpanel's own backup
directory and a restore puts the home's files back; all of them log in as the deploy login
(SITES_SSH_USER: root on a cPanel server) with the server's host key pinned.
"""
from __future__ import annotations

import shlex
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from app.settings import Settings

COPY_TIMEOUT_SECONDS = 3600


class ShellFailed(RuntimeError):
    """A command on a server failed; the message says which and why."""


@dataclass(frozen=True)
class Shell:
    """A server's SSH login, as the starter page is published (stacks/spec.py: a server with its
    own WHM endpoint is described by its row; the environment's server by SSH_ADDRESS & co)."""

    host: str
    port: str
    host_key: str
    home_root: str

    @classmethod
    def of(cls, settings: Settings, server: dict) -> "Shell":
        own = bool(server["whm_url"])
        address = server["ssh_address"] or ("" if own else settings.SSH_ADDRESS) or f"{server['ip_address']}:22"
        key_file = Path(settings.SITES_SSH_HOST_KEY_FILE) if settings.SITES_SSH_HOST_KEY_FILE else None
        host_key = server["ssh_host_key"] or ("" if own or not key_file or not key_file.is_file()
                                              else key_file.read_text().strip())
        if not host_key:
            raise ShellFailed(f"no SSH host key is known for {server['hostname']}")
        host, _, port = address.rpartition(":")
        return cls(host, port or "22", " ".join(host_key.split()[:2]),
                   (server["home_root"] or settings.SITES_HOME_ROOT).rstrip("/"))

    def argv(self, settings: Settings, known_hosts: str, command: str) -> list[str]:
        return ["ssh", "-i", settings.SITES_SSH_KEY_PATH, "-p", self.port, "-o", "BatchMode=yes",
                "-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={known_hosts}",
                "-o", "ConnectTimeout=10", f"{settings.SITES_SSH_USER or 'root'}@{self.host}", command]


def _known_hosts(*shells: Shell) -> tempfile._TemporaryFileWrapper:
    pinned = tempfile.NamedTemporaryFile("w", prefix="mpanel-move-known-", suffix=".txt")
    for s in shells:
        pinned.write(f"[{s.host}]:{s.port} {s.host_key}\n")
    pinned.flush()
    return pinned


def carry(settings: Settings, source: Shell, path: str, target: Shell, to: str) -> None:
    """Stream the archive from the source's disk to the target's (a temporary name, then renamed)."""
    with _known_hosts(source, target) as pinned:
        reading = subprocess.Popen(source.argv(settings, pinned.name, f"cat -- {shlex.quote(path)}"),
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        part = shlex.quote(to + ".part")
        writing = subprocess.run(
            target.argv(settings, pinned.name, f"umask 077 && cat > {part} && mv -f -- {part} {shlex.quote(to)}"),
            stdin=reading.stdout, capture_output=True, timeout=COPY_TIMEOUT_SECONDS)
        reading.stdout.close()
        read_error = reading.stderr.read().decode(errors="replace")
        if reading.wait(timeout=60) != 0 or writing.returncode != 0:
            raise ShellFailed(f"the archive could not be carried over SSH: "
                             f"{(read_error or writing.stderr.decode(errors='replace')).strip()[:300]}")


def files_of(settings: Settings, shell: Shell, home: str) -> list[str]:
    """Every file of the home with its size (what the copy is checked against)."""
    with _known_hosts(shell) as pinned:
        done = subprocess.run(shell.argv(settings, pinned.name, f"cd -- {shlex.quote(home)} && "
                                                                 "find . -type f -printf '%P %s\\n' | LC_ALL=C sort"),
                              capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise ShellFailed(f"the home {home} could not be listed: {done.stderr.strip()[:300]}")
    return done.stdout.splitlines()


def fetch(settings: Settings, shell: Shell, path: str, to: Path) -> None:
    """Copy the server's file `path` to the local file `to`."""
    with _known_hosts(shell) as pinned, open(to, "wb") as out:
        done = subprocess.run(shell.argv(settings, pinned.name, f"cat -- {shlex.quote(path)}"), stdout=out,
                              stderr=subprocess.PIPE, timeout=COPY_TIMEOUT_SECONDS)
    if done.returncode != 0:
        raise ShellFailed(f"{path} could not be read over SSH: {done.stderr.decode(errors='replace').strip()[:300]}")


def unpack_into(settings: Settings, shell: Shell, archive: Path, member: str, strip: int, home: str) -> None:
    """Unpack `member` of the local gzip tar `archive` into the server's directory `home` (its
    first `strip` path components dropped), every file then owned as `home` is."""
    quoted = shlex.quote(home)
    command = (f"tar -xzf - -C {quoted} --strip-components={strip} --no-same-owner -- {shlex.quote(member)} && "
               f"chown -R --reference={quoted} -- {quoted}")
    with _known_hosts(shell) as pinned, open(archive, "rb") as data:
        done = subprocess.run(shell.argv(settings, pinned.name, command), stdin=data, capture_output=True,
                              timeout=COPY_TIMEOUT_SECONDS)
    if done.returncode != 0:
        raise ShellFailed(f"the archive could not be unpacked into {home}: "
                          f"{done.stderr.decode(errors='replace').strip()[:300]}")
