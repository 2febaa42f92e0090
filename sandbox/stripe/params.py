"""Stripe's v1 request format and error envelope, as the official library speaks them.

Requests are form-encoded with bracketed keys: ``metadata[plan]=basic``,
``line_items[0][price]=price_x``, ``expand[]=subscription`` (the library writes
``expand[0]=...``; curl users write ``expand[]=...``: both are read). ``Params``
hands a handler typed values and remembers which keys it read, so that anything left
over is refused as Stripe refuses it ("Received unknown parameter: ..."): a typo in
the application's call fails here exactly as it would fail against Stripe.
"""

from __future__ import annotations

import json
import re
from typing import Any, Iterable

_SEGMENT = re.compile(r"\[([^\[\]]*)\]")


class StripeError(Exception):
    """An answer in Stripe's error envelope: ``{"error": {type, code, message, param, ...}}``."""

    def __init__(self, status: int, message: str, *, type: str = "invalid_request_error",
                 code: str | None = None, param: str | None = None,
                 decline_code: str | None = None, extra: dict[str, Any] | None = None):
        super().__init__(message)
        self.status, self.message, self.type = status, message, type
        self.code, self.param, self.decline_code = code, param, decline_code
        self.extra = extra or {}

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"type": self.type, "message": self.message}
        for name in ("code", "param", "decline_code"):
            value = getattr(self, name)
            if value is not None:
                error[name] = value
        if self.code:
            error["doc_url"] = f"https://stripe.com/docs/error-codes/{self.code.replace('_', '-')}"
        error.update(self.extra)
        return {"error": error}


def invalid(message: str, param: str | None = None, code: str | None = None) -> StripeError:
    return StripeError(400, message, param=param, code=code)


def no_such(label: str, object_id: str, param: str | None = "id") -> StripeError:
    """A missing object: 404 when it is the URL's object, 400 when a parameter names it."""
    status = 404 if param == "id" else 400
    return StripeError(status, f"No such {label}: '{object_id}'", code="resource_missing", param=param)


# -- form decoding ----------------------------------------------------------------


def split_key(key: str) -> list[str]:
    """``a[b][0][]`` -> ``["a", "b", "0", ""]``; a key without brackets is one segment."""
    head, bracket, rest = key.partition("[")
    if not bracket:
        return [key]
    rest = "[" + rest
    segments = _SEGMENT.findall(rest)
    if "".join(f"[{s}]" for s in segments) != rest or not head:
        raise invalid(f"Invalid parameter name: {key}", param=key)
    return [head, *segments]


def decode_form(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Build the nested tree; ``[]`` appends to a list, numbered keys stay dict keys
    (``metadata[0]`` is a valid metadata key), and ``Params`` reads them as lists
    where the API expects a list."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        _insert(root, split_key(key), value, key)
    return root


def _insert(root: dict[str, Any], segments: list[str], value: str, key: str) -> None:
    node: Any = root
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        following = None if last else segments[index + 1]
        if isinstance(node, list):
            # Only reached through "[]". "items[][price]=a&items[][quantity]=1" keeps
            # filling the last element until one of its keys repeats, as Rack does.
            if segment != "":
                raise invalid(f"Invalid parameter name: {key}", param=key)
            if last:
                node.append(value)
                return
            if not node or not isinstance(node[-1], dict) or following in node[-1]:
                node.append({})
            node = node[-1]
            continue
        if segment == "":
            raise invalid(f"Invalid parameter name: {key}", param=key)
        existing = node.get(segment)
        if last:
            if isinstance(existing, (dict, list)):
                if value != "":
                    raise invalid(f"Invalid parameter: {key} is both a value and a hash", param=key)
                return  # "metadata=" beside "metadata[k]=v": the hash wins
            node[segment] = value
            return
        if existing is None or existing == "":
            existing = [] if following == "" else {}
            node[segment] = existing
        elif isinstance(existing, str):
            raise invalid(f"Invalid parameter: {key} is both a value and a hash", param=key)
        elif (following == "") != isinstance(existing, list):
            if existing:
                raise invalid(f"Invalid parameter: {key} mixes [] and numbered keys", param=key)
            existing = [] if following == "" else {}
            node[segment] = existing
        node = existing


def fingerprint(method: str, path: str, tree: dict[str, Any]) -> str:
    """What an idempotency key is bound to: the same endpoint with the same parameters."""
    return json.dumps([method, path, tree], sort_keys=True)


# -- typed access -------------------------------------------------------------------

CLEAR = object()  # metadata="" : remove every key


class Params:
    def __init__(self, tree: dict[str, Any], prefix: str = "", used: set[str] | None = None):
        self.tree = tree
        self.prefix = prefix
        self.used: set[str] = set() if used is None else used

    def path(self, name: str) -> str:
        return f"{self.prefix}[{name}]" if self.prefix else name

    def has(self, name: str) -> bool:
        return name in self.tree

    def _raw(self, name: str, required: bool) -> Any:
        if name not in self.tree:
            if required:
                raise invalid(f"Missing required param: {self.path(name)}.", self.path(name), "parameter_missing")
            return None
        self.used.add(self.path(name))
        return self.tree[name]

    def _scalar(self, name: str, required: bool) -> str | None:
        value = self._raw(name, required)
        if value is None:
            return None
        if not isinstance(value, str):
            raise invalid(f"Invalid string: {self.path(name)} must be a string, not a hash or array.",
                          self.path(name))
        return value

    def text(self, name: str, required: bool = False, max_length: int | None = None,
             choices: Iterable[str] | None = None, empty_is_none: bool = False) -> str | None:
        value = self._scalar(name, required)
        if value is None:
            return None
        if value == "" and empty_is_none:
            return None
        if required and value == "":
            raise invalid(f"Missing required param: {self.path(name)}.", self.path(name), "parameter_missing")
        if max_length is not None and len(value) > max_length:
            raise invalid(f"Invalid {self.path(name)}: must be at most {max_length} characters",
                          self.path(name), "string_length_exceeds_maximum")
        if choices is not None:
            choices = list(choices)
            if value not in choices:
                raise invalid(f"Invalid {self.path(name)}: must be one of {', '.join(choices)}",
                              self.path(name))
        return value

    def integer(self, name: str, required: bool = False, minimum: int | None = None,
                maximum: int | None = None) -> int | None:
        value = self._scalar(name, required)
        if value is None:
            return None
        try:
            number = int(value, 10)
        except ValueError:
            raise invalid(f"Invalid integer: {value}", self.path(name)) from None
        if minimum is not None and number < minimum:
            raise invalid(f"This value must be greater than or equal to {minimum}.", self.path(name))
        if maximum is not None and number > maximum:
            raise invalid(f"This value must be less than or equal to {maximum}.", self.path(name))
        return number

    def decimal(self, name: str, minimum: float | None = None, maximum: float | None = None) -> float | None:
        value = self._scalar(name, False)
        if value is None:
            return None
        try:
            number = float(value)
        except ValueError:
            raise invalid(f"Invalid decimal: {value}", self.path(name)) from None
        if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
            raise invalid(f"Invalid {self.path(name)}: must be between {minimum} and {maximum}",
                          self.path(name))
        return number

    def boolean(self, name: str, required: bool = False) -> bool | None:
        value = self._scalar(name, required)
        if value is None:
            return None
        if value not in ("true", "false"):
            raise invalid(f"Invalid boolean: {value}", self.path(name))
        return value == "true"

    def metadata(self, name: str = "metadata") -> dict[str, str] | object | None:
        """The metadata hash; ``CLEAR`` for ``metadata=""``. An empty value unsets a key:
        the caller merges with ``merge_metadata``."""
        value = self._raw(name, False)
        if value is None:
            return None
        if value == "":
            return CLEAR
        if not isinstance(value, dict):
            raise invalid("Invalid hash", self.path(name))
        if len(value) > 50:
            raise invalid("Metadata can have up to 50 keys.", self.path(name))
        for key, item in value.items():
            where = f"{self.path(name)}[{key}]"
            if not isinstance(item, str):
                raise invalid(f"Invalid metadata value for {where}: must be a string", where)
            if len(key) > 40:
                raise invalid("Metadata keys can have up to 40 characters.", where)
            if len(item) > 500:
                raise invalid("Metadata values can have up to 500 characters.", where)
        return dict(value)

    def child(self, name: str, required: bool = False) -> "Params | None":
        if name not in self.tree:
            if required:
                raise invalid(f"Missing required param: {self.path(name)}.", self.path(name), "parameter_missing")
            return None
        value = self.tree[name]
        if value == "":
            self.used.add(self.path(name))
            return Params({}, self.path(name), self.used)
        if not isinstance(value, dict):
            raise invalid(f"Invalid hash: {self.path(name)}", self.path(name))
        return Params(value, self.path(name), self.used)

    def _elements(self, name: str) -> list[tuple[str, Any]]:
        if name not in self.tree:
            return []
        value = self.tree[name]
        if value == "":
            self.used.add(self.path(name))
            return []
        if isinstance(value, list):
            return [(str(i), item) for i, item in enumerate(value)]
        if isinstance(value, dict) and all(key.isdigit() for key in value):
            return [(key, value[key]) for key in sorted(value, key=int)]
        raise invalid(f"Invalid array: {self.path(name)}", self.path(name))

    def children(self, name: str) -> list["Params"]:
        result = []
        for index, item in self._elements(name):
            where = f"{self.path(name)}[{index}]"
            if not isinstance(item, dict):
                raise invalid(f"Invalid hash: {where}", where)
            result.append(Params(item, where, self.used))
        return result

    def strings(self, name: str) -> list[str]:
        result = []
        for index, item in self._elements(name):
            where = f"{self.path(name)}[{index}]"
            if not isinstance(item, str):
                raise invalid(f"Invalid string: {where}", where)
            self.used.add(where)
            result.append(item)
        self.used.add(self.path(name))
        return result

    def reject_unknown(self) -> None:
        for path in _leaves(self.tree, self.prefix):
            if not any(path == used or path.startswith(used + "[") for used in self.used):
                raise invalid(f"Received unknown parameter: {path}", path, "parameter_unknown")


def _leaves(node: Any, prefix: str) -> Iterable[str]:
    if isinstance(node, dict) and node:
        for key, value in node.items():
            yield from _leaves(value, f"{prefix}[{key}]" if prefix else key)
    elif isinstance(node, list) and node:
        for index, value in enumerate(node):
            yield from _leaves(value, f"{prefix}[{index}]")
    elif prefix:
        yield prefix


def merge_metadata(current: dict[str, str], change: dict[str, str] | object | None) -> dict[str, str]:
    if change is None:
        return dict(current)
    if change is CLEAR:
        return {}
    merged = dict(current)
    for key, value in change.items():  # type: ignore[union-attr]
        if value == "":
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged
