"""Providers of resources a release stopped declaring, kept so the stacks that still hold them
can be read, previewed and converged without touching what they made.

The starter page was a dynamic resource until 3e3674f; it is now published once through
pulumi-command's `remote.Command` (stacks/site.py). A stack recorded before still holds the old
resource, whose provider removed `index.html` on delete. The page is the customer's now, so
this provider reports it as it was stored and lets the engine forget it without a call
upstream; `mpanel stacks migrate` moves such stacks to the current resource.
"""
from __future__ import annotations

from pulumi.dynamic import CheckResult, DiffResult, ReadResult, ResourceProvider

from providers.stored import StoredByKind


class RetiredStarterPageProvider(StoredByKind, ResourceProvider):
    KIND = "retired-starter-page"

    def check(self, _olds, news):
        return CheckResult(news, [])

    def diff(self, _id, _olds, _news):
        return DiffResult(changes=False, replaces=[], delete_before_replace=False)

    def read(self, id_, props):
        return ReadResult(id_=id_, outs=props)

    def create(self, props):
        raise RuntimeError("the dynamic starter page is retired: the page is published by remote.Command")

    def delete(self, _id, _props) -> None:
        """Forgotten, never removed: the page belongs to the customer."""
