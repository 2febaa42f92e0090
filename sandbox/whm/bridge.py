"""``/json-api/cpanel``: cPanel API calls as a cPanel user, made through WHM.

The parameters ``cpanel_jsonapi_user``, ``cpanel_jsonapi_module``, ``cpanel_jsonapi_func`` and
``cpanel_jsonapi_apiversion`` (1 and 2: the legacy cPanel APIs, 3: UAPI; 1 when absent) name
the call; the rest are its arguments. UAPI answers ``{apiversion, module, func, result: {status,
data, errors, messages, warnings, metadata}}``; API 2 answers ``{"cpanelresult": {apiversion,
module, func, data, event: {result}}}`` and API 1 the older ``{apiversion, type, module, func,
data: {result}, event: {result}}``. The UAPI functions are those of ``uapi_cpanel``; no API 1 or
API 2 function is modeled, and those calls answer as cPanel does for a function it lacks.
"""

from __future__ import annotations

from typing import Any

from .api import Params, WhmFailure, find_account


def bridge_body(server, params: Params) -> dict[str, Any]:
    user = params.get("cpanel_jsonapi_user", "")
    module = params.get("cpanel_jsonapi_module", "")
    function = params.get("cpanel_jsonapi_func", "")
    version = params.get("cpanel_jsonapi_apiversion", "") or "1"
    failure = None
    try:
        with server.store.view() as state:
            find_account(state, user)
    except WhmFailure:
        failure = "User parameter is invalid or was not supplied"
    if failure is None and (not module or not function):
        failure = "You must specify cpanel_jsonapi_module and cpanel_jsonapi_func."
    names = {"module": module, "func": function}
    if version == "3":
        if failure is not None:
            result = {"status": 0, "data": None, "errors": [failure], "messages": None, "warnings": None,
                      "metadata": {}}
        else:
            result = server.uapi(user, module, function, params)
        return {"apiversion": 3, **names, "result": result}
    if failure is None:
        failure = f"Could not find function '{function}' in module '{module}'"
    if version == "2":
        return {"cpanelresult": {"apiversion": 2, **names, "error": failure,
                                 "data": {"reason": failure, "result": "0"}, "event": {"result": 0}}}
    return {"apiversion": 1, "type": "event", **names, "source": "module", "error": failure,
            "data": {"result": ""}, "event": {"result": 0, "reason": failure}}
