"""An inert dynamic resource: measures what the engine costs before any upstream is called.

`mpanel bench floor` runs a stack holding one of these next to an empty stack: the difference
is the dynamic-provider process (interpreter, Pulumi SDK, gRPC) plus one step and its
checkpoint, with none of this project's provider modules or upstream calls in it.
"""
from __future__ import annotations

import pulumi
from pulumi.dynamic import CreateResult, Resource, ResourceProvider

from providers.stored import StoredByKind


class InertProvider(StoredByKind, ResourceProvider):
    KIND = "inert"

    def create(self, props):
        return CreateResult(id_="inert", outs=dict(props))


class Inert(Resource):
    def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None):
        super().__init__(InertProvider(), name, {"note": "inert"}, opts)
