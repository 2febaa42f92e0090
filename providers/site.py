"""Publishes the starter page into a hosting account's document root, over SSH.

The design card names `pulumi_command.remote.Command` for this; its plugin cannot
be built on these machines (README, "Known limits"), so this small provider does the
same exchange with the system's OpenSSH client: a real SSH login to the web server,
the file written atomically, read back for drift, removed on delete.
"""
from __future__ import annotations

import hashlib
import shlex
import subprocess
from typing import Any

import pulumi
from pulumi.dynamic import Resource

from providers.core.config import ProviderConfig, current
from providers.core.errors import NotFound, ProviderError
from providers.core.resource import Input, ProviderAdapter
from providers.core.retry import DEFAULT_RETRY, RetryPolicy

PROVIDER = "site"


class SshClient:
    """One remote command per call through the system's OpenSSH; exit 255 is OpenSSH's own failure."""

    def __init__(self, config: ProviderConfig, retry: RetryPolicy = DEFAULT_RETRY, timeout: float = 30.0):
        self.key_path = config.SITES_SSH_KEY_PATH
        self.known_hosts = config.SSH_KNOWN_HOSTS
        self.retry = retry
        self.timeout = timeout

    def run(self, address: str, user: str, command: str, stdin: str | None = None) -> subprocess.CompletedProcess:
        """The command's outcome (any exit status of its own), retried while OpenSSH cannot connect."""
        return self.retry.run(lambda: self._once(address, user, command, stdin))

    def _once(self, address: str, user: str, command: str, stdin: str | None) -> subprocess.CompletedProcess:
        host, _, port = address.rpartition(":")
        port = port or "22"
        argv = ["ssh", "-p", port, "-o", "BatchMode=yes", "-o", "ConnectTimeout=10",
                "-o", "StrictHostKeyChecking=accept-new", "-o", "LogLevel=ERROR"]
        if self.known_hosts:
            argv += ["-o", f"UserKnownHostsFile={self.known_hosts}"]
        if self.key_path:
            argv += ["-i", self.key_path, "-o", "IdentitiesOnly=yes"]
        argv += [f"{user}@{host}", command]
        try:
            done = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=self.timeout)
        except subprocess.TimeoutExpired:
            raise ProviderError(PROVIDER, f"ssh to {host}:{port} timed out", retryable=True) from None
        if done.returncode == 255:
            # 255 is OpenSSH's own failure: a network problem is worth retrying, a refused key is not.
            refused = any(m in done.stderr for m in ("Permission denied", "Host key verification failed"))
            raise ProviderError(PROVIDER, f"ssh to {user}@{host}:{port} failed: {done.stderr.strip()[:200]}",
                                code=255, retryable=not refused)
        return done


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _given(name: str):
    def rule(value: Any) -> str:
        if not isinstance(value, str) or not value:
            raise ValueError(f"{name} is required")
        return value
    return rule


def _document_root(value: Any) -> str:
    if not isinstance(value, str) or not value.startswith("/"):
        raise ValueError("document_root must be an absolute path")
    return value


class StarterPageProvider(ProviderAdapter):
    """index.html in a document root: id = "<ssh address>:<path>". Publishing overwrites, so
    a create after a crash simply writes the same file again."""

    PROVIDER = PROVIDER
    INPUTS = (
        Input("ssh_address", _given("ssh_address"), required=True),
        Input("ssh_user", _given("ssh_user"), required=True),
        Input("document_root", _document_root, required=True),
        Input("content", default=""),
    )
    REPLACES = ("ssh_address", "document_root")
    # The page is compared by its digest (what read can see upstream): more_changes.
    NOT_DIFFED = ("content",)

    def client(self) -> SshClient:
        return SshClient(current(), self.retry, self.timeout)

    def more_changes(self, olds, news):
        return (["content"] if olds.get("content_sha256") != _sha256(news.get("content", "")) else []), []

    def make(self, client, props):
        outs = self._publish(client, props)
        return f"{props['ssh_address']}:{outs['path']}", outs

    def observe(self, client, id_, props):
        done = client.run(props["ssh_address"], props["ssh_user"], f"sha256sum {shlex.quote(props['path'])}")
        if done.returncode != 0:
            raise NotFound(PROVIDER, f"{props['path']} is not on {props['ssh_address']}")
        return id_, {**props, "content_sha256": done.stdout.split()[0]}

    def change(self, client, _id, _olds, news):
        return self._publish(client, news)

    def remove(self, client, _id, props):
        client.run(props["ssh_address"], props["ssh_user"], f"rm -f {shlex.quote(props['path'])}")

    @staticmethod
    def _publish(client: SshClient, props: dict) -> dict:
        root = props["document_root"]
        path = f"{root}/index.html"
        script = (f"mkdir -p {shlex.quote(root)} && cat > {shlex.quote(path + '.mpanel-tmp')} && "
                  f"mv {shlex.quote(path + '.mpanel-tmp')} {shlex.quote(path)}")
        done = client.run(props["ssh_address"], props["ssh_user"], script, stdin=props["content"])
        if done.returncode != 0:
            raise ProviderError(PROVIDER, f"could not write {path}: {done.stderr.strip()[:200]}", code=done.returncode)
        return {**props, "path": path, "content_sha256": _sha256(props["content"])}


class StarterPage(Resource):
    path: pulumi.Output[str]
    content_sha256: pulumi.Output[str]

    def __init__(self, name: str, *, ssh_address, ssh_user, document_root, content,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__(StarterPageProvider(), name, {
            "ssh_address": ssh_address, "ssh_user": ssh_user, "document_root": document_root,
            "content": content, "path": None, "content_sha256": None}, StarterPageProvider.options(opts))
