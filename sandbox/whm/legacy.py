"""WHM API 0: what WHM answers when a call comes without ``api.version=1``.

WHM does not refuse such a call: it runs the function and answers in the function's own
API 0 shape, older than API 1's ``{metadata, data}`` and different per function. Only the
functions WHM offered in API 0 have one; the rest (newer functions such as list_users or the
backups) answer that the app is unknown for version 0 of the API.
"""

from __future__ import annotations

from typing import Any

from .api import Done

# Functions whose API 0 answer is {"result": [{status, statusmsg, ...}]}.
RESULT_LIST = frozenset({"createacct", "removeacct", "suspendacct", "unsuspendacct", "changepackage",
                         "addpkg", "killpkg", "editquota", "modifyacct"})
API0_FUNCTIONS = RESULT_LIST | {"passwd", "accountsummary", "listaccts", "listsuspended", "listpkgs",
                                "applist", "version"}


def api0_body(function: str, done: Done | None, reason: str) -> dict[str, Any]:
    """The API 0 body of a call that succeeded (``done``) or failed (``done`` None, ``reason``)."""
    status = 1 if done is not None else 0
    data = done.data if done is not None else {}
    raw = done.raw if done is not None else ""
    outcome = {"status": status, "statusmsg": reason}
    if function in RESULT_LIST:
        item = dict(outcome)
        if function == "createacct" and done is not None:
            item["options"] = data  # ip, nameserver..4, nameservera..4, nameserverentry..4, package
        elif function == "modifyacct" and done is not None:
            item.update(data, messages=[], warnings=[])
        item["rawout"] = raw
        return {"result": [item]}
    if function == "passwd":
        return {"passwd": [{**outcome, "rawout": raw}]}
    if function in ("accountsummary", "listaccts"):
        return {**outcome, "acct": data.get("acct", [])}
    if function == "listsuspended":
        return {**outcome, "accts": data.get("account", [])}
    if function == "listpkgs":
        return {"package": data.get("pkg", [])}
    if function == "applist":
        return {"app": data.get("app", [])}
    if function == "version":
        return {"version": data.get("version", "")}
    return unknown_app(function)


def unknown_app(function: str) -> dict[str, Any]:
    return {"result": [{"status": 0,
                        "statusmsg": f"Unknown app (“{function}”) requested for this version (0) of the API."}]}
