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

import pulumi
from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, DiffResult, ReadResult, Resource, \
    ResourceProvider, UpdateResult

from providers.base import DEFAULT_RETRY, ProviderError, runtime_settings

NAME = "site"


class SshSession:
    """One remote command per call; exit 255 is OpenSSH's own failure (retryable)."""

    def __init__(self, address: str, user: str):
        self.host, _, port = address.rpartition(":")
        self.port = port or "22"
        self.user = user

    def run(self, command: str, stdin: str | None = None, timeout: float = 30.0) -> subprocess.CompletedProcess:
        settings = runtime_settings()
        from app.settings import state_dir

        argv = ["ssh", "-p", self.port, "-o", "BatchMode=yes", "-o", "ConnectTimeout=10",
                "-o", "StrictHostKeyChecking=accept-new",
                "-o", f"UserKnownHostsFile={state_dir() / 'ssh_known_hosts'}", "-o", "LogLevel=ERROR"]
        if settings.SITES_SSH_KEY_PATH:
            argv += ["-i", settings.SITES_SSH_KEY_PATH, "-o", "IdentitiesOnly=yes"]
        argv += [f"{self.user}@{self.host}", command]
        try:
            done = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise ProviderError(NAME, f"ssh to {self.host}:{self.port} timed out", retryable=True) from None
        if done.returncode == 255:
            # 255 is OpenSSH's own failure: a network problem is worth retrying, a refused key is not.
            refused = any(m in done.stderr for m in ("Permission denied", "Host key verification failed"))
            raise ProviderError(NAME, f"ssh to {self.user}@{self.host}:{self.port} failed: "
                                f"{done.stderr.strip()[:200]}", code=255, retryable=not refused)
        return done


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class StarterPageProvider(ResourceProvider):
    retry = DEFAULT_RETRY

    def check(self, olds, news):
        failures = [CheckFailure(k, f"{k} is required") for k in ("ssh_address", "ssh_user", "document_root")
                    if not news.get(k)]
        root = news.get("document_root")
        # During preview a value computed from another resource is still unknown (not a str).
        if isinstance(root, str) and not root.startswith("/"):
            failures.append(CheckFailure("document_root", "document_root must be an absolute path"))
        return CheckResult(news, failures)

    def _publish(self, props) -> dict:
        root = props["document_root"]
        path = f"{root}/index.html"
        script = (f"mkdir -p {shlex.quote(root)} && cat > {shlex.quote(path + '.mpanel-tmp')} && "
                  f"mv {shlex.quote(path + '.mpanel-tmp')} {shlex.quote(path)}")
        session = SshSession(props["ssh_address"], props["ssh_user"])
        done = self.retry.run(lambda: session.run(script, stdin=props["content"]))
        if done.returncode != 0:
            raise ProviderError(NAME, f"could not write {path}: {done.stderr.strip()[:200]}", code=done.returncode)
        return {**props, "path": path, "content_sha256": _sha256(props["content"])}

    def create(self, props):
        outs = self._publish(props)
        return CreateResult(id_=f"{props['ssh_address']}:{outs['path']}", outs=outs)

    def diff(self, _id, olds, news):
        replaces = [k for k in ("ssh_address", "document_root") if olds.get(k) != news.get(k)]
        changed = replaces + [k for k in ("ssh_user",) if olds.get(k) != news.get(k)]
        changed += ["content"] if olds.get("content_sha256") != _sha256(news.get("content", "")) else []
        return DiffResult(changes=bool(changed), replaces=replaces, delete_before_replace=False)

    def update(self, _id, _olds, news):
        return UpdateResult(outs=self._publish(news))

    def read(self, id_, props):
        session = SshSession(props["ssh_address"], props["ssh_user"])
        done = self.retry.run(lambda: session.run(f"sha256sum {shlex.quote(props['path'])}"))
        if done.returncode != 0:
            return ReadResult(id_="", outs={})
        return ReadResult(id_=id_, outs={**props, "content_sha256": done.stdout.split()[0]})

    def delete(self, _id, props):
        session = SshSession(props["ssh_address"], props["ssh_user"])
        self.retry.run(lambda: session.run(f"rm -f {shlex.quote(props['path'])}"))


class StarterPage(Resource):
    path: pulumi.Output[str]
    content_sha256: pulumi.Output[str]

    def __init__(self, name: str, *, ssh_address, ssh_user, document_root, content,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__(StarterPageProvider(), name, {
            "ssh_address": ssh_address, "ssh_user": ssh_user, "document_root": document_root,
            "content": content, "path": None, "content_sha256": None}, opts)
