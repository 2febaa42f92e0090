"""A tiny dynamic provider that proves the engine runs this project's Python providers.

It keeps a file on disk (create writes it, read observes it, delete removes it), so a
test or `mpanel doctor` can see that each engine operation really ran our code.
"""
from __future__ import annotations

import secrets
from pathlib import Path

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, Resource, ResourceProvider, UpdateResult


class ProbeFileProvider(ResourceProvider):
    def create(self, props):
        path = Path(props["path"])
        path.write_text(props["content"])
        return CreateResult(id_=str(path), outs={**props, "token": secrets.token_hex(16)})

    def diff(self, _id, olds, news):
        changes = [k for k in ("path", "content") if olds.get(k) != news.get(k)]
        return DiffResult(changes=bool(changes), replaces=["path"] if "path" in changes else [])

    def update(self, _id, olds, news):
        Path(news["path"]).write_text(news["content"])
        return UpdateResult(outs={**news, "token": olds.get("token")})

    def read(self, id_, props):
        path = Path(id_)
        if not path.exists():
            return ReadResult(id_="", outs={})
        return ReadResult(id_=id_, outs={**props, "content": path.read_text()})

    def delete(self, id_, _props):
        Path(id_).unlink(missing_ok=True)


class ProbeFile(Resource):
    token: pulumi.Output[str]
    content: pulumi.Output[str]

    def __init__(self, name: str, path: str, content: str, opts: pulumi.ResourceOptions | None = None):
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(additional_secret_outputs=["token"]))
        super().__init__(ProbeFileProvider(), name, {"path": path, "content": content, "token": None}, opts)
