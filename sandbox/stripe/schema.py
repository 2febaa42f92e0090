"""Checks what the stand-in answers against Stripe's own OpenAPI spec of the pinned API version.

The spec is the one stripe-mock embeds (``embedded/openapi/spec3.json`` of the Go module that
`mpanel setup` builds, read from the Go module cache: nothing of it is copied here). Every
object the stand-in serialises (API answers, event payloads) is checked when
``MPANEL_STRIPE_SCHEMA`` names that file -- the test suite sets it -- for: the fields the
version requires, their types and enums, and no field the version does not have.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Any

ENV = "MPANEL_STRIPE_SCHEMA"


class SchemaViolation(Exception):
    """The stand-in answered something the pinned Stripe API version cannot answer."""


@functools.lru_cache(maxsize=2)
def _schemas(path: str) -> dict[str, Any]:
    return json.loads(Path(path).read_text())["components"]["schemas"]


def spec_version(path: str | Path) -> str:
    return json.loads(Path(path).read_text())["info"]["version"]


def configured() -> str | None:
    path = os.environ.get(ENV)
    return path if path and Path(path).is_file() else None


def check(obj: Any, where: str = "") -> None:
    """Raise SchemaViolation when checking is on and `obj` (a Stripe object, list or event)
    does not fit the spec; nothing when it is off."""
    path = configured()
    if path is None:
        return
    problems = violations(path, obj)
    if problems:
        raise SchemaViolation(f"{where or 'stand-in'} answered outside Stripe's schema: " + "; ".join(problems[:12]))


def violations(spec_path: str | Path, obj: Any) -> list[str]:
    """What is wrong with `obj` against the schema its `object` names (lists: each element)."""
    schemas = _schemas(str(spec_path))
    kind = obj.get("object") if isinstance(obj, dict) else None
    if kind == "list":
        return [p for item in obj.get("data", []) for p in violations(spec_path, item)]
    if kind == "search_result":
        return [p for item in obj.get("data", []) for p in violations(spec_path, item)]
    if kind not in schemas:
        return [f"{kind!r} is not an object of this API version"]
    return _Checker(schemas).value(obj, {"$ref": f"#/components/schemas/{kind}"}, kind)


class _Checker:
    def __init__(self, schemas: dict[str, Any]):
        self.schemas = schemas

    def resolve(self, schema: dict) -> dict:
        while "$ref" in schema:
            schema = self.schemas[schema["$ref"].rsplit("/", 1)[1]]
        return schema

    def value(self, value: Any, schema: dict, at: str) -> list[str]:
        schema = self.resolve(schema)
        if value is None:
            return [] if schema.get("nullable") else [f"{at} is null, which the version does not allow"]
        if "anyOf" in schema:
            return self.any_of(value, schema["anyOf"], at)
        kind = schema.get("type")
        if "enum" in schema and value not in schema["enum"]:
            return [f"{at} = {value!r} is not one of {schema['enum']}"]
        if kind == "string":
            return [] if isinstance(value, str) else [f"{at} should be a string, is {type(value).__name__}"]
        if kind == "integer":
            return [] if isinstance(value, int) and not isinstance(value, bool) else [
                f"{at} should be an integer, is {value!r}"]
        if kind == "number":
            return [] if isinstance(value, (int, float)) and not isinstance(value, bool) else [
                f"{at} should be a number, is {value!r}"]
        if kind == "boolean":
            return [] if isinstance(value, bool) else [f"{at} should be a boolean, is {value!r}"]
        if kind == "array":
            if not isinstance(value, list):
                return [f"{at} should be an array"]
            return [p for i, item in enumerate(value) for p in self.value(item, schema.get("items", {}), f"{at}[{i}]")]
        if kind == "object" or "properties" in schema:
            return self.object(value, schema, at)
        return []

    def any_of(self, value: Any, options: list[dict], at: str) -> list[str]:
        best: list[str] | None = None
        for option in options:
            problems = self.value(value, option, at)
            if not problems:
                return []
            # The option naming the same object type explains the failure best.
            resolved = self.resolve(option)
            named = (isinstance(value, dict) and value.get("object")
                     in (resolved.get("properties", {}).get("object", {}).get("enum") or []))
            if best is None or named:
                best = problems
        return best or []

    def object(self, value: Any, schema: dict, at: str) -> list[str]:
        if not isinstance(value, dict):
            return [f"{at} should be an object, is {value!r}"]
        properties = schema.get("properties")
        extra = schema.get("additionalProperties")
        problems: list[str] = []
        if properties is None:
            if isinstance(extra, dict):  # a map (metadata and the like)
                for key, item in value.items():
                    problems += self.value(item, extra, f"{at}.{key}")
            return problems
        for name in schema.get("required", []):
            if name not in value:
                problems.append(f"{at}.{name} is missing")
        for key, item in value.items():
            if key in properties:
                problems += self.value(item, properties[key], f"{at}.{key}")
            elif isinstance(extra, dict):
                problems += self.value(item, extra, f"{at}.{key}")
            else:
                problems.append(f"{at}.{key} is not a field of this API version")
        return problems
