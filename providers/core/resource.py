"""The one lifecycle every provider shares (octodns style: the base owns the workflow).

A provider module declares its resource and fills in a small core; this class turns it
into Pulumi's check/diff/create/read/update/delete:

- `PROVIDER`: the name errors carry ("whm"); `INPUTS`: the declared inputs, each with its
  default and the rule a known value must pass; `REPLACES`: inputs whose change replaces the
  object; `NOT_DIFFED`: inputs the generic diff leaves alone (applied at creation only, or
  judged by `more_changes`); `GENERATED`: inputs the provider makes up when none is given,
  so leaving one out keeps the generated value; `SECRETS`: outputs Pulumi must keep secret;
  `STABLE_ON_UPDATE`: outputs an in-place update never changes, kept known while a preview
  shows the update (stacks/provider_server.py), so what follows them shows no false change.
- `OWNER` among the inputs: the stack an object belongs to ("sub-42"), the mark written
  upstream at creation and the only ground for adopting an existing object. Recorded once:
  an object without a recorded owner (made before marks existed) gets it by an in-place
  update; a different owner is never an update, it stops the run (`NeedsOperator`).
- `CUSTOMER_DATA`: the object holds customer data (files, mail, a registration), so a diff
  that would replace it stops the run (`NeedsOperator`) instead; `CUSTOMER_REPLACES` names
  the replacements the customer asked for themselves (a mailbox removed and added again).
  Deletes are never refused: a resource leaving the program is removed on purpose.
- `client()`: the upstream client, built per operation from the injected configuration
  and the policy knobs (`retry`, `timeout`): nothing per call and no credential is kept on
  the provider object, which Pulumi pickles into the state.
- the upstream calls, always in this order and under these names:
  `existing`/`owns`/`adopt` (create adopts only what is provably ours, `NotOurs` otherwise),
  `make` (a fresh create), `observe` (read; `NotFound` means gone), `change` (update),
  `remove` (delete; `NotFound` means already gone, which is success).

- `TAKEOVER` among the inputs: the one explicit exception to "adopt only what carries our mark",
  set only for an account an operator imported (app/services/operators/imports.py records the
  command as the proof of ownership). A create with `takeover` true that finds the object
  upstream without any mark (or already with ours: an import interrupted after marking) reads
  it and marks it (`take_over`) instead of creating or adopting it: nothing in it is rewritten.
  An object marked for another stack is still refused; without `takeover` nothing changes.
  Applied at creation only (never diffed).

Values a preview does not know yet pass check unjudged and count as changed in diff.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, ClassVar

import pulumi
from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, DiffResult, ReadResult, ResourceProvider, \
    UpdateResult

from providers.core.config import ProviderConfig, current
from providers.core.errors import NeedsOperator, NotFound, NotOurs
from providers.core.retry import DEFAULT_RETRY, RetryPolicy
from providers.core.values import is_unknown, plain
from providers.stored import StoredByKind


@dataclass(frozen=True)
class Input:
    """One declared input."""

    name: str
    # The normalised value, or ValueError(reason); called for known values other than None.
    rule: Callable[[Any], Any] | None = None
    # Used when the value is missing (None): a value, or a function of the ProviderConfig.
    default: Any = None
    required: bool = False
    # How diff compares an old and a new value (default: equality).
    same: Callable[[Any, Any], bool] | None = None

    def default_value(self, config: ProviderConfig) -> Any:
        return self.default(config) if callable(self.default) else self.default


# Pulumi's own rule for stack names: letters, digits, '-', '_' and '.'.
_STACK_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def _stack_name(value: Any) -> str:
    if not isinstance(value, str) or not _STACK_NAME.match(value):
        raise ValueError(f"{value!r} is not a stack name (the owner every upstream object is marked with)")
    return value


OWNER = Input("owner", _stack_name, required=True)
TAKEOVER = Input("takeover", lambda value: True if value is True else None)


class ProviderAdapter(StoredByKind, ResourceProvider):
    PROVIDER: ClassVar[str]
    # How people call one of these objects in a message ("the WHM account").
    WHAT: ClassVar[str] = "the object"
    INPUTS: ClassVar[tuple[Input, ...]] = ()
    REPLACES: ClassVar[tuple[str, ...]] = ()
    NOT_DIFFED: ClassVar[tuple[str, ...]] = ()
    GENERATED: ClassVar[tuple[str, ...]] = ()
    SECRETS: ClassVar[tuple[str, ...]] = ()
    STABLE_ON_UPDATE: ClassVar[tuple[str, ...]] = ()
    DELETE_BEFORE_REPLACE: ClassVar[bool] = False
    CUSTOMER_DATA: ClassVar[bool] = False
    CUSTOMER_REPLACES: ClassVar[tuple[str, ...]] = ()
    # A takeover that finds nothing upstream stops (the import checked the object was there:
    # making one now would build, not take over); False: it is made like any other.
    TAKEOVER_NEEDS_OBJECT: ClassVar[bool] = False

    # Policy knobs: class defaults, overridden per object only when given (tests shorten them).
    retry: RetryPolicy = DEFAULT_RETRY
    timeout: float = 30.0

    def __init__(self, **knobs):
        for name, value in knobs.items():
            if name.startswith("_") or not hasattr(type(self), name) or callable(getattr(type(self), name)):
                raise TypeError(f"{type(self).__name__} has no knob {name!r}")
            setattr(self, name, value)

    @classmethod
    def options(cls, opts: pulumi.ResourceOptions | None) -> pulumi.ResourceOptions | None:
        """The resource's options with the declared secret outputs added."""
        if not cls.SECRETS:
            return opts
        return pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(additional_secret_outputs=list(cls.SECRETS)))

    # --- what a provider module fills in --------------------------------------------------
    def client(self) -> Any:
        raise NotImplementedError

    def client_for(self, props: dict) -> Any:
        """The client for this object: `client()` unless where it lives depends on its inputs
        (a WHM account's server)."""
        return self.client()

    def check_more(self, inputs: dict) -> list[CheckFailure]:
        """Rules across inputs (may normalise `inputs` in place); unknown values may be present."""
        return []

    def more_changes(self, olds: dict, news: dict) -> tuple[list[str], list[str]]:
        """(changed, replacing) properties the declarations cannot see; only called with known inputs."""
        return [], []

    def delete_first(self, replaces: list[str]) -> bool:
        return self.DELETE_BEFORE_REPLACE

    def named(self, props: dict) -> str:
        """The object in a message ("the WHM account shop1"), from its inputs or stored outputs."""
        return self.WHAT

    def replacement_refused(self, prop: str, olds: dict, news: dict) -> str:
        """Why replacing this customer-data object because `prop` changed is left to a person."""
        old, new = olds.get(prop), news.get(prop)
        new_text = "a value not known yet" if is_unknown(new) else repr(new)
        return (f"{self.named(olds)} would have to be replaced because its {prop} changed from {old!r} to "
                f"{new_text}, which would destroy the customer's data in it: an operator must decide")

    def existing(self, client: Any, props: dict) -> Any | None:
        """The object upstream under the wanted natural key, or None."""
        return None

    def owns(self, found: Any, props: dict) -> bool:
        """Whether `found` carries our mark for this stack (a create that crashed after its upstream call)."""
        return False

    def not_ours(self, found: Any, props: dict) -> NotOurs:
        return NotOurs(self.PROVIDER, f"{props} already exists upstream and is not ours; refusing to adopt it")

    def adopt(self, client: Any, found: Any, props: dict) -> tuple[str, dict]:
        raise NotImplementedError

    def marked(self, found: Any) -> bool:
        """Whether `found` carries any stack's mark (a takeover refuses another stack's)."""
        return True

    def take_over(self, client: Any, found: Any, props: dict) -> tuple[str, dict]:
        """Mark `found` as this stack's and read it as it is (an import: see TAKEOVER)."""
        raise NotImplementedError

    def make(self, client: Any, props: dict) -> tuple[str, dict]:
        raise NotImplementedError

    def observe(self, client: Any, id_: str, props: dict) -> tuple[str, dict]:
        raise NotImplementedError

    def change(self, client: Any, id_: str, olds: dict, news: dict) -> dict:
        raise NotImplementedError

    def remove(self, client: Any, id_: str, props: dict) -> None:
        raise NotImplementedError

    # --- the lifecycle ---------------------------------------------------------------------
    def check(self, _olds, news):
        config: ProviderConfig | None = None
        inputs: dict[str, Any] = {}
        failures: list[CheckFailure] = []
        for declared in self.INPUTS:
            value = plain(news.get(declared.name))
            if value is None and declared.default is not None:
                config = config or current()
                value = declared.default_value(config)
            if value is None:
                if declared.required:
                    failures.append(CheckFailure(declared.name, f"{declared.name} is required"))
                continue
            if declared.rule is not None and not is_unknown(value):
                try:
                    value = declared.rule(value)
                except ValueError as exc:
                    failures.append(CheckFailure(declared.name, str(exc)))
            if value is not None:
                inputs[declared.name] = value
        failures += self.check_more(inputs)
        return CheckResult(inputs, failures)

    def diff(self, _id, olds, news):
        names = [d.name for d in self.INPUTS]
        unknown = [k for k in names if is_unknown(news.get(k))]
        sameness = {d.name: d.same for d in self.INPUTS if d.same is not None}

        def differs(key: str) -> bool:
            if key in unknown:
                return True
            if key in self.GENERATED and news.get(key) is None:
                return False
            old, new = olds.get(key), news.get(key)
            return not sameness[key](old, new) if key in sameness else old != new

        self._refuse_a_new_owner(olds, news)
        replaces = [k for k in self.REPLACES if differs(k)]
        changes = [k for k in names if k not in self.REPLACES and k not in self.NOT_DIFFED and differs(k)]
        if not unknown:
            more, more_replaces = self.more_changes(olds, news)
            changes += more
            replaces += [k for k in more_replaces if k not in replaces]
        refused = [k for k in replaces if k not in self.CUSTOMER_REPLACES]
        if self.CUSTOMER_DATA and refused:
            raise NeedsOperator(self.PROVIDER, self.replacement_refused(refused[0], olds, news))
        return DiffResult(changes=bool(changes or replaces), replaces=replaces,
                          delete_before_replace=self.delete_first(replaces))

    def _refuse_a_new_owner(self, olds: dict, news: dict) -> None:
        if not any(d.name == "owner" for d in self.INPUTS):
            return
        old, new = olds.get("owner"), news.get("owner")
        if old and old != new:
            new_text = "an owner not known yet" if is_unknown(new) else f"the stack {new}"
            raise NeedsOperator(self.PROVIDER, f"{self.named(olds)} belongs to the stack {old}, and this run is "
                                f"for {new_text}: mpanel never moves an object between stacks; an operator "
                                "must decide", code="owner_changed")

    def create(self, props):
        client = self.client_for(props)
        found = self.existing(client, props)
        takeover = props.get("takeover") is True
        if found is None and takeover and self.TAKEOVER_NEEDS_OBJECT:
            raise NeedsOperator(self.PROVIDER, f"{self.named(props)} was to be taken over as it is, and it is no "
                                "longer there: mpanel will not build a new one in its place; an operator must "
                                "decide", code="takeover_gone")
        if found is None:
            id_, outs = self.make(client, props)
        elif takeover and (self.owns(found, props) or not self.marked(found)):
            id_, outs = self.take_over(client, found, props)
        elif self.owns(found, props):
            id_, outs = self.adopt(client, found, props)
        else:
            raise self.not_ours(found, props)
        return CreateResult(id_=id_, outs=outs)

    def read(self, id_, props):
        try:
            found_id, outs = self.observe(self.client_for(props), id_, props)
        except NotFound:
            return ReadResult(id_="", outs={})
        return ReadResult(id_=found_id, outs=outs)

    def update(self, id_, olds, news):
        return UpdateResult(outs=self.change(self.client_for(news), id_, olds, news))

    def delete(self, id_, props):
        try:
            self.remove(self.client_for(props), id_, props)
        except NotFound:
            pass

