"""The mail host's maildirs, reached the way MAILCORE_MAIL_ACCESS says: `Maildirs`.

Dovecot keeps each mailbox's mail in <mail root>/<domain>/<local part> on the mail host. The
worker that removes a mailbox (providers/resources/mailbox.py, mail_domain.py) is not
necessarily that host, so its mail is removed through one interface with two ways in:

- `local`: this machine is the mail host (the sandbox, a single-machine install);
- `ssh://user@host[:port]`: the mail host over SSH (key MAILCORE_SSH_KEY_PATH, host key pinned
  in the engine's known-hosts file once first seen), one `rm -rf` of the checked path.

Dovecot 2.3's doveadm HTTP API (`doveadm mailbox delete`) removes mail *folders* of a user
it can still resolve, not the maildir of a user whose row is already gone, so it is not used.
A maildir that is already gone is reported back ("gone") and logged by the caller, never an
error: a deletion retried after a crash finds nothing to remove.
"""
from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from providers.core.errors import ProviderError

PROVIDER = "mailbox"
REMOVED, GONE = "removed", "gone"


class LocalMaildirs:
    """This machine is the mail host."""

    where = "this machine"

    def remove(self, path: PurePosixPath) -> str:
        try:
            shutil.rmtree(Path(path))
        except FileNotFoundError:
            return GONE
        except OSError as exc:
            raise ProviderError(PROVIDER, f"cannot remove the maildir {path}: {exc.strerror}") from exc
        return REMOVED


class SshMaildirs:
    """The mail host over SSH: `ssh://user@host[:port]`."""

    def __init__(self, url: str, key_path: str, known_hosts: str, timeout: float = 30.0):
        parts = urlsplit(url)
        if parts.scheme != "ssh" or not parts.hostname:
            raise ProviderError(PROVIDER, f"MAILCORE_MAIL_ACCESS {url!r} is neither 'local' nor ssh://user@host[:port]",
                                code="not-configured")
        self.user, self.host, self.port = parts.username or "root", parts.hostname, parts.port or 22
        self.key_path, self.known_hosts, self.timeout = key_path, known_hosts, timeout
        self.where = f"{self.user}@{self.host}:{self.port}"

    def command(self, remote: str) -> list[str]:
        cmd = ["ssh", "-p", str(self.port), "-o", "BatchMode=yes", "-o", "ConnectTimeout=10",
               "-o", "StrictHostKeyChecking=accept-new"]
        if self.known_hosts:
            cmd += ["-o", f"UserKnownHostsFile={self.known_hosts}"]
        if self.key_path:
            cmd += ["-i", self.key_path, "-o", "IdentitiesOnly=yes"]
        return [*cmd, f"{self.user}@{self.host}", remote]

    def remove(self, path: PurePosixPath) -> str:
        quoted = shlex.quote(str(path))
        remote = f"if [ -e {quoted} ]; then rm -rf -- {quoted} && echo {REMOVED}; else echo {GONE}; fi"
        try:
            done = subprocess.run(self.command(remote), capture_output=True, text=True, timeout=self.timeout)
        except subprocess.TimeoutExpired as exc:
            raise ProviderError(PROVIDER, f"the mail host {self.where} did not answer within {self.timeout:.0f}s "
                                          f"removing {path}", retryable=True) from exc
        said = done.stdout.strip().splitlines()[-1:] or [""]
        if done.returncode != 0 or said[0] not in (REMOVED, GONE):
            reason = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
            raise ProviderError(PROVIDER, f"cannot remove the maildir {path} on {self.where}: {reason}",
                                retryable=done.returncode == 255)  # 255: ssh itself (connection) failed
        return said[0]


def maildirs_for(access: str, key_path: str = "", known_hosts: str = "") -> LocalMaildirs | SshMaildirs:
    if not access or access == "local":
        return LocalMaildirs()
    return SshMaildirs(access, key_path, known_hosts)
