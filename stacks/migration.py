"""Bring a stack recorded by an earlier release to the current one, without touching upstream.

What an earlier release left in a stack's state that the current release would not write:
- each dynamic resource's `__provider` pickled by class path (`providers.whm.WhmAccountProvider`,
  `providers.base.RetryPolicy` beside it): rewritten as the current pickle of its kind,
  `providers.stored.provider(KIND)` (providers/stored.py), so the state names only the contract;
- the dynamic starter page (`providers.site.StarterPageProvider`, retired): the current program
  declares `command:remote:Command` `starter-page` instead, a resource of another type and URN.
  Left alone, the next converge would forget the old one and run the command, which leaves an
  existing page but still counts as a delete and a create. Moved in the state instead: the old
  entry is replaced by the Command entry the current program would have recorded, under the
  stack's default command provider (added when the stack has none), so the page is never
  deleted or re-created.

`rewrite` is the pure part (a deployment in, a deployment out); `migrate` runs it for one stack
with the checks around it: a preview of the stack as it is (the only delete allowed is the retired
page, which the move replaces), then the import, then a preview of the migrated stack, which must
show no replacement and no delete; otherwise the stack's original state goes back. Previews call
no provider's create, update or delete: nothing upstream is touched or recorded.
"""
from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from pulumi.dynamic.dynamic import serialize_provider

from providers import stored
from stacks.events import StepRecorder
from stacks.program import starter_page
from stacks.site import publish_once_script
from stacks.spec import HostingSpec

# The engine's marker of a secret value in a state (`pulumi stack export --show-secrets`).
SECRET_SIG, SECRET_VALUE = "4dabf18193072939515e22adb298388d", "1b47061264138c4ac30d75fd1eb44270"
DYNAMIC_TYPE = "pulumi-python:dynamic:Resource"
COMMAND_TYPE = "command:remote:Command"
COMMAND_PROVIDER_TYPE = "pulumi:providers:command"
# What pulumi-resource-command records in its provider's state besides its version: the version of
# the go-provider framework it was built with. A default provider whose recorded inputs differ from
# what the plugin reports would be diffed (and its resources with it) on the next run.
GO_PROVIDER_VERSION = {"1.2.1": "1.2.0"}
# Steps a preview may show and still leave every upstream object as it is.
DESTRUCTIVE = {"delete", "replace", "create-replacement", "delete-replaced", "discard", "discard-replaced",
               "read-replacement", "import-replacement", "remove-pending-replace"}


class CannotMigrate(RuntimeError):
    """Why a stack is left as it was."""


@dataclass
class Rewritten:
    deployment: dict
    changes: list[str] = field(default_factory=list)   # one line per entry rewritten, for the operator


@dataclass
class Outcome:
    stack: str
    status: str                                        # current | migrated | would migrate | refused
    changes: list[str] = field(default_factory=list)
    remaining: list[str] = field(default_factory=list)  # what a converge would still change (in place)
    reason: str = ""

    def lines(self) -> list[str]:
        head = f"{self.stack}: {self.status}" + (f" ({self.reason})" if self.reason else "")
        return [head, *(f"  moved   {c}" for c in self.changes),
                *(f"  pending {r} (a converge applies it)" for r in self.remaining)]


# --- the state, rewritten -------------------------------------------------------------------

def _secret(value: Any) -> dict:
    return {SECRET_SIG: SECRET_VALUE, "plaintext": json.dumps(value)}


def _unwrap(value: Any) -> tuple[Any, bool]:
    """(the plain value, whether the state holds it as a secret)."""
    if isinstance(value, dict) and SECRET_SIG in value:
        if "plaintext" not in value:
            raise CannotMigrate("the state was exported without its secrets (export with --show-secrets)")
        return json.loads(value["plaintext"]), True
    return value, False


def _wrapped_like(old: Any, text: str) -> Any:
    return _secret(text) if _unwrap(old)[1] else text


def _name(urn: str) -> str:
    return urn.rpartition("::")[2]


def current_provider(kind: str) -> str:
    """The `__provider` text the current release stores for a dynamic resource of this kind."""
    return serialize_provider(stored.provider(kind))


def _kind_of(resource: dict) -> str | None:
    text = resource.get("inputs", {}).get("__provider") or resource.get("outputs", {}).get("__provider")
    if text is None:
        return None
    try:
        return type(stored.load_stored(_unwrap(text)[0])).KIND
    except Exception as exc:  # an unknown name, a broken pickle: the stack stays as it is
        raise CannotMigrate(f"{_name(resource['urn'])}: its stored provider does not load in this release "
                            f"({type(exc).__name__}: {exc})") from exc


def starter_page_command(spec: HostingSpec, cpanel_user: str) -> dict:
    """The inputs the current program declares for `starter-page` (stacks/program.py), as the
    engine records them: the connection (with its key) a secret, names as the plugin spells them."""
    host, _, port = spec.ssh_address.rpartition(":")
    connection: dict[str, Any] = {"dialErrorLimit": 3, "host": host, "perDialTimeout": 10,
                                  "port": float(port or 22), "user": spec.site_ssh_user or cpanel_user}
    if spec.ssh_host_key:
        connection["hostKey"] = spec.ssh_host_key
    if spec.ssh_private_key:
        connection["privateKey"] = _secret(spec.ssh_private_key)
    return {"connection": _secret(connection),
            "create": publish_once_script(f"{spec.site_home_root.rstrip('/')}/{cpanel_user}/public_html",
                                          cpanel_user),
            "stdin": starter_page(spec)}


def _command_provider(resources: list[dict], stack_prefix: str, version: str) -> tuple[dict, bool]:
    """The stack's default command provider entry, and whether it had to be made."""
    urn = f"{stack_prefix}::pulumi:providers:command::default_{version.replace('.', '_')}"
    for r in resources:
        if r.get("urn") == urn:
            return r, False
    recorded = {"__pulumi-go-provider-version": GO_PROVIDER_VERSION.get(version, "1.2.0"), "version": version}
    return {"urn": urn, "custom": True, "id": str(uuid.uuid4()), "type": COMMAND_PROVIDER_TYPE,
            "inputs": {"__internal": {}, **recorded}, "outputs": dict(recorded)}, True


def _moved_starter_page(old: dict, resources: list[dict], spec: HostingSpec, provider: dict) -> dict:
    parent = old.get("parent")
    account = next((r for r in resources if r.get("parent") == parent and _name(r["urn"]) == "account"
                    and r.get("id")), None)
    if account is None:
        raise CannotMigrate("starter-page: the stack records no WHM account to publish the page for")
    head, _, name = old["urn"].rpartition("::")
    if not head.endswith(DYNAMIC_TYPE):
        raise CannotMigrate(f"starter-page: unexpected URN {old['urn']}")
    inputs = starter_page_command(spec, account["id"])
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return {
        "urn": f"{head[:-len(DYNAMIC_TYPE)]}{COMMAND_TYPE}::{name}",
        "custom": True,
        # Stable for the same old entry: a dry run and the real one say the same.
        "id": f"{name}{hashlib.sha256(str(old.get('id')).encode()).hexdigest()[:8]}",
        "type": COMMAND_TYPE,
        "inputs": inputs,
        # The page was published by the old resource; the command never ran, so it said nothing.
        "outputs": {**inputs, "stdout": "", "stderr": ""},
        "parent": parent,
        "dependencies": [account["urn"]],
        "provider": f"{provider['urn']}::{provider['id']}",
        "propertyDependencies": {"connection": [], "create": [account["urn"]], "stdin": []},
        "additionalSecretOutputs": ["connection"],
        "ignoreChanges": ["create", "stdin", "connection"],
        "replaceOnChanges": ["triggers[*]"],
        "created": old.get("created", now),
        "modified": now,
    }


def rewrite(deployment: dict, spec: HostingSpec, command_version: str) -> Rewritten:
    """The deployment as the current release would have recorded it (nothing else changes)."""
    if deployment.get("pending_operations"):
        raise CannotMigrate("a run died with operations pending: converge it (recovery clears them) first")
    new = copy.deepcopy(deployment)
    resources: list[dict] = new.get("resources") or []
    changes: list[str] = []
    moved: list[dict] = []
    for r in list(resources):
        kind = _kind_of(r)
        if kind is None:
            continue
        if kind == "retired-starter-page":
            moved.append(r)
            continue
        text = current_provider(kind)
        rewrote = False
        for props in (r.get("inputs"), r.get("outputs")):
            if props and "__provider" in props and _unwrap(props["__provider"])[0] != text:
                props["__provider"] = _wrapped_like(props["__provider"], text)
                rewrote = True
        if rewrote:
            changes.append(f"{_name(r['urn'])}: stored provider -> kind {kind}")
    for old in moved:
        stack_prefix = old["urn"].split("::", 2)
        provider, made = _command_provider(resources, "::".join(stack_prefix[:2]), command_version)
        page = _moved_starter_page(old, resources, spec, provider)
        at = resources.index(old)
        resources[at:at + 1] = [provider, page] if made else [page]
        if not made and resources.index(provider) > at:  # a provider must precede what uses it
            resources.remove(provider)
            resources.insert(at, provider)
        changes.append(f"{_name(old['urn'])}: {DYNAMIC_TYPE} (retired) -> {COMMAND_TYPE} by a state move"
                       + (", default command provider added" if made else ""))
    return Rewritten(new, changes)


# --- one stack, with its checks -------------------------------------------------------------

def _steps(recorder: StepRecorder) -> list[tuple[str, str]]:
    return list(_diffs(recorder))


def _diffs(recorder: StepRecorder) -> dict[tuple[str, str], list[str]]:
    """(urn, op) -> the properties it changes, for every step that is not 'same'."""
    seen: dict[tuple[str, str], list[str]] = {}
    for s in recorder.steps:
        if s.get("urn") and s.get("op") and s["op"] != "same":
            seen.setdefault((s["urn"], s["op"]), [])
            changed = [*(s.get("diffs") or []), *(s.get("changes") or {})]
            seen[(s["urn"], s["op"])] += [d for d in changed if d not in seen[(s["urn"], s["op"])]]
    return seen


def _describe(steps, recorder: StepRecorder | None = None) -> list[str]:
    diffs = _diffs(recorder) if recorder else {}
    return [f"{_name(urn)}: {op}" + (f" ({', '.join(diffs[(urn, op)])})" if diffs.get((urn, op)) else "")
            for urn, op in steps]


def migrate(ops, spec: HostingSpec, command_version: str, dry_run: bool = False) -> Outcome:
    """Migrate one stack (`ops`: stacks.operations.StackOperations). Never raises for a stack that
    cannot be migrated: the outcome says why, and the stack is as it was."""
    name = spec.stack_name
    try:
        original = ops.export(spec.subscription_id)
        result = rewrite(original, spec, command_version)
    except CannotMigrate as exc:
        return Outcome(name, "refused", reason=str(exc))
    if not result.changes:
        return Outcome(name, "current")

    # Before: the stack as it is, under the current program. The retired page shows as a delete
    # (the engine would forget it) and its Command as a create: exactly what the move replaces.
    retired = {r["urn"] for r in original.get("resources", []) if _kind_of(r) == "retired-starter-page"}
    before = StepRecorder()
    try:
        ops.preview(spec, before)
    except Exception as exc:
        return Outcome(name, "refused", result.changes, reason=f"preview before migrating failed: {_first_line(exc)}")
    unsafe = [(urn, op) for urn, op in _steps(before) if op in DESTRUCTIVE and urn not in retired]
    if unsafe:
        return Outcome(name, "refused", result.changes, _describe(_steps(before)),
                       reason="the current program would replace or delete " + ", ".join(_describe(unsafe)))
    if dry_run:
        return Outcome(name, "would migrate", result.changes,
                       _describe([(u, op) for u, op in _steps(before) if u not in retired
                                  and not (op == "create" and (_name(u) == "starter-page"
                                                               or "::pulumi:providers:command::" in u))], before))

    ops.import_state(spec.subscription_id, result.deployment)
    after = StepRecorder()
    try:
        ops.preview(spec, after)
        problem = [(u, op) for u, op in _steps(after)
                   if op in DESTRUCTIVE or (op == "create" and _name(u) == "starter-page")]
        reason = "after the move a preview would " + ", ".join(_describe(problem)) if problem else ""
    except Exception as exc:
        reason = f"preview after migrating failed: {_first_line(exc)}"
    if reason:
        ops.import_state(spec.subscription_id, original)
        return Outcome(name, "refused", result.changes, reason=reason + "; the original state is back")
    return Outcome(name, "migrated", result.changes, _describe(_steps(after), after))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    lines = [line for line in text.splitlines() if "error" in line.lower()] or text.splitlines() or [type(exc).__name__]
    return lines[0][:300]
