"""What a preview or a refresh found, property by property, as operators read it.

One renderer for the CLI (`mpanel stacks preview/refresh`) and the console: the recorder
(stacks/events.py) stores each step's changes as {property: {"old", "new"}}; this module
turns values into words (secrets masked, the engine's unknown placeholder as "known after
apply", PEM blocks and long values shortened) and lists the changes of each step.
"""
from __future__ import annotations

import json
from typing import Any, Iterable

# The engine's stand-in for a value it will only know after apply (a computed output feeding
# an input during preview): never a value to show.
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
KNOWN_AFTER_APPLY = "(known after apply)"
SECRET = "[secret]"

SYMBOLS = {"create": "+", "update": "~", "replace": "+-", "create-replacement": "+-", "delete-replaced": "-",
           "delete": "-", "same": " ", "read": ">", "refresh": "~", "drift": "!"}
# What a step of each kind does to the thing upstream, for the words beside it.
DESTRUCTIVE = {"delete", "replace", "delete-replaced", "create-replacement"}


def known(value: Any) -> Any:
    """`value` with every unknown placeholder replaced by the words for it."""
    if value == UNKNOWN:
        return KNOWN_AFTER_APPLY
    if isinstance(value, dict):
        return {k: known(v) for k, v in value.items()}
    if isinstance(value, list):
        return [known(v) for v in value]
    return value


def shown(value: Any, limit: int = 72) -> str:
    """One value in words: secrets and unknowns as such, PEM as its kind and size, long text cut."""
    value = known(value)
    if value in (KNOWN_AFTER_APPLY, SECRET):
        return value
    if isinstance(value, str) and value.startswith("-----BEGIN"):
        return f"<{value.split(chr(10))[0].strip('-').strip().lower()}, {len(value)} bytes>"
    text = json.dumps(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} chars)"


def changed(old: dict, new: dict, keys: Iterable[str] | None = None) -> dict[str, dict]:
    """old -> new for each property that differs (among `keys` when given)."""
    keys = sorted(set(old) | set(new)) if keys is None else keys
    return {k: {"old": old.get(k), "new": new.get(k)} for k in keys
            if k != "__provider" and old.get(k) != new.get(k)}


def record_changes(old_rrsets: list[dict] | None, new_rrsets: list[dict] | None) -> dict[str, dict]:
    """DNS records by (name, type): what the zone holds -> what it will hold (missing: None)."""
    def keyed(rrsets):
        return {f"{r['type']} {r['name']}": sorted(r.get("records") or []) for r in rrsets or []}
    old, new = keyed(old_rrsets), keyed(new_rrsets)
    return {f"record {key}": {"old": " | ".join(old[key]) if key in old else None,
                              "new": " | ".join(new[key]) if key in new else None}
            for key in sorted(set(old) | set(new)) if old.get(key) != new.get(key)}


def step_lines(step: dict) -> list[dict]:
    """The property lines of one step: {"property", "old", "new", "replaces"} in words."""
    replaces = {k for k, v in (step.get("detailed_diff") or {}).items() if str(v).endswith("-replace")}
    lines = []
    for prop, change in (step.get("changes") or {}).items():
        old, new = change.get("old"), change.get("new")
        lines.append({"property": prop, "old": None if old is None else shown(old),
                      "new": None if new is None else shown(new), "replaces": prop in replaces})
    return lines


def changes_of(steps: list[dict]) -> list[dict]:
    """Each step that changes something (a planned change, or drift a refresh found), in order,
    with its lines and, for deletions and replacements, what it would destroy."""
    out = []
    for step in steps:
        op = step.get("op")
        is_drift = op == "refresh" and step.get("status") == "done" and step.get("changes")
        if not is_drift and (step.get("status") != "started" or op in ("same", "read", "refresh")):
            continue
        kind = "drift" if is_drift else op
        item = {"op": kind, "symbol": SYMBOLS.get(kind, "?"), "resource_name": step.get("resource_name"),
                "resource_type": step.get("resource_type"), "lines": [], "destroys": None}
        if op in DESTRUCTIVE:
            what = step.get("resource_type") or "resource"
            ident = step.get("id")
            item["destroys"] = f"{what} {ident}" if ident else what
        if op not in ("delete", "delete-replaced"):
            item["lines"] = step_lines(step)
        out.append(item)
    return out


def render_text(steps: list[dict]) -> str:
    """The CLI's rendering of changes_of(steps)."""
    lines = []
    for item in changes_of(steps):
        label = "drifted" if item["op"] == "drift" else item["op"]
        lines.append(f"{item['symbol']:2} {label:18} {item['resource_name']}")
        if item["destroys"]:
            lines.append(f"       destroys {item['destroys']}")
        for line in item["lines"]:
            mark = "  (forces replacement)" if line["replaces"] else ""
            before = "" if item["op"] == "create" else f"{line['old'] or '(absent)'} -> "
            after = "(removed)" if line["new"] is None else line["new"]
            lines.append(f"       {line['property']}: {before}{after}{mark}")
    return "\n".join(lines) if lines else "no changes"


def numbered(history: list[Any]) -> list[tuple[int, Any]]:
    """The engine's version for each update summary (newest first, as `stack history` lists
    them). Backends that record no version (this one says 0 for all) are numbered by position:
    the oldest update is version 1, as the engine numbers a stack's updates."""
    if history and all(getattr(h, "version", None) for h in history):
        return [(h.version, h) for h in history]
    return [(len(history) - i, h) for i, h in enumerate(history)]
