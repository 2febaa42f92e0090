"""A local stand-in for cPanel WHM (API 1 and API 0), enough for mpanel's WHM provider and
third-party clients.

Protocol (as in docs/api-contracts.md): ``/json-api/<function>`` (or
``/cpsessNNNNNNNNNN/json-api/<function>``) by GET query or POST form, header
``Authorization: whm <user>:<token>`` or HTTP Basic ``<user>:<password>`` (here the token is
also the password). Bad auth is HTTP 403 with the legacy ``cpanelresult`` body; every other
answer is HTTP 200. With ``api.version=1`` it is
``{"metadata": {command, version, result, reason, output: {raw}}, "data": ...}``; without it
WHM runs the call as API 0 and answers in that function's own older shape
(``sandbox.whm.legacy``). ``/json-api/cpanel`` runs cPanel API calls as an account's user
(``sandbox.whm.bridge``).
A failed function has ``result: 0`` and a human ``reason`` and, as in WHM, no
``data`` key at all: clients must not rely on ``data`` when result is 0.

Functions: applist, version, createacct, removeacct (``username`` or ``user``), suspendacct,
unsuspendacct, listsuspended, modifyacct, editquota, list_users, changepackage,
accountsummary, listaccts, passwd, listpkgs, addpkg, killpkg,
installssl, fetchsslinfo, create_user_session, uapi_cpanel (only
``SSL::toggle_ssl_redirect_for_domains`` and the ``Mysql`` functions of ``sandbox.whm.mysql``;
other UAPI calls answer ``uapi.status 0``), list_mysql_databases_and_users,
and the account backups of ``sandbox.whm.backups``: start_background_pkgacct,
get_pkgacct_session_state, list_cparchive_files, start_local_cpmove_restore,
delete_account_archives (a real cpmove tar.gz of the home and of the domain's mail).

Choices where the contract is silent:

- Reading back TLS and the HTTPS redirect: ``fetchsslinfo`` (a real WHM function)
  with ``domain`` answers ``crt``, ``key``, ``cab``, ``cert_id``, ``key_id`` and, as
  sandbox extras, ``not_after`` (epoch), ``subject_names`` and ``ssl_redirect``
  (0/1). With no certificate installed it fails (result 0).
- ``installssl`` must be a POST (result 0 otherwise) so a client can never leak a key
  through a URL; it checks PEM syntax, that the key is the certificate's, and that
  the certificate names the domain (exactly or by a one-label wildcard).
- Turning the redirect on needs a certificate for the domain that has not expired,
  otherwise ``uapi.status`` 0 with an error; turning it off always works.
- ``createacct`` requires only ``username`` (lower-cased), as WHM documents: no ``domain``
  means a temporary domain, no ``password``/``pass`` a generated one (a given one needs 8
  characters), no ``plan`` the ``default`` package; ``savepkg=1``/``pkgname`` save the
  settings as a new package. ``quota``/``bwlimit``/``maxpop`` override the package's; 0
  or "unlimited" means unlimited. ``output.raw`` holds WHM's "New Account Info" block
  (with the password unless ``showpass=n``). The home ``<state dir>/home/<user>/public_html``
  is created, and removed again by removeacct and by the control API's reset.
- What the stand-in leaves out of WHM is listed in docs/stand-ins.md.
- ``create_user_session`` links point back at this stand-in
  (``/cpsessNNNNNNNNNN/login/?session=...``) and work once, for 5 minutes.
- Sizes are strings with units as in WHM (``diskused: "12M"``, ``disklimit: "5120M"``
  or ``"unlimited"``); listpkgs uses WHM's upper-case keys (``QUOTA``, ``BWLIMIT``).

Control API (``/_sandbox/``, see sandbox.common.control): faults, state, reset, and
``POST /_sandbox/accounts/<user>`` with any of plan, suspended, suspendreason,
domain, email, owner, ip, quota, bwlimit, maxpop to create drift; ``POST
/_sandbox/mysql/<database>`` with ``sql`` for what a site wrote into a database.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
import os
import time
from pathlib import Path
from typing import Any, Callable

from flask import Flask, Response, jsonify, request

from ..common.control import change_record, control_blueprint
from ..common.faults import Fault, FaultRegistry
from ..common.requestlog import RequestLog
from ..common.serving import STATE_FILE, base_parser, serve
from ..common.state import StateStore
from .api import Done, Params, WhmFailure
from .bridge import bridge_body
from .legacy import API0_FUNCTIONS, api0_body, unknown_app
from .mysql import RESTORE_FAULT
from .server import TABLES, WhmServer, initial_state

log = logging.getLogger("sandbox.whm")

# Query parameters that carry secrets when a client sends them by GET; `session` is the
# one-time login link's token, followed by the customer's browser.
SECRET_PARAMS = ("password", "key", "session")
POST_ONLY = frozenset({"installssl"})
# The cPanel & WHM release the stand-in answers as (``version``).
WHM_VERSION = "11.126.0.9"

Handler = Callable[[WhmServer, Params], Done]
FUNCTIONS: dict[str, Handler] = {
    "createacct": WhmServer.createacct,
    "removeacct": WhmServer.removeacct,
    "suspendacct": WhmServer.suspendacct,
    "unsuspendacct": WhmServer.unsuspendacct,
    "changepackage": WhmServer.changepackage,
    "accountsummary": WhmServer.accountsummary,
    "listaccts": WhmServer.listaccts,
    "passwd": WhmServer.passwd,
    "listpkgs": WhmServer.listpkgs,
    "addpkg": WhmServer.addpkg,
    "installssl": WhmServer.installssl,
    "fetchsslinfo": WhmServer.fetchsslinfo,
    # The link it returns must point at whatever address the client used.
    "create_user_session": lambda server, params: server.create_user_session(params, request.host_url),
    "uapi_cpanel": WhmServer.uapi_cpanel,
    "listsuspended": WhmServer.listsuspended,
    "modifyacct": WhmServer.modifyacct,
    "editquota": WhmServer.editquota,
    "list_users": WhmServer.list_users,
    "killpkg": WhmServer.killpkg,
    "version": lambda server, params: Done({"version": WHM_VERSION}),
    "applist": lambda server, params: Done({"app": sorted(FUNCTIONS)}),
    "start_background_pkgacct": WhmServer.start_background_pkgacct,
    "get_pkgacct_session_state": WhmServer.get_pkgacct_session_state,
    "list_cparchive_files": WhmServer.list_cparchive_files,
    "start_local_cpmove_restore": WhmServer.start_local_cpmove_restore,
    "delete_account_archives": WhmServer.delete_account_archives,
    "list_mysql_databases_and_users": WhmServer.list_mysql_databases_and_users,
}


def create_app(
    state_path: str | Path,
    api_token: str,
    username: str = "root",
    *,
    sleep: Callable[[float], None] = time.sleep,
    now: Callable[[], float] = time.time,
    server_ip: str = "192.0.2.10",
    nameservers: tuple[str, ...] = ("ns1.mpanel.test", "ns2.mpanel.test"),
    mail_root: str | Path | None = None,
) -> Flask:
    state_path = Path(state_path)
    store = StateStore(state_path, TABLES, initial_state)
    server = WhmServer(store, state_path.parent / "home", username, server_ip, nameservers, now,
                       backup_root=state_path.parent / "backups", mail_root=Path(mail_root) if mail_root else None)
    faults = FaultRegistry(sleep)
    server.faults = faults

    app = Flask(__name__)
    app.extensions["sandbox.whm"] = server
    app.extensions["sandbox.faults"] = faults
    app.wsgi_app = RequestLog(app.wsgi_app, log, SECRET_PARAMS)

    @app.route("/json-api/<function>", methods=["GET", "POST"])
    @app.route("/<security_token>/json-api/<function>", methods=["GET", "POST"])
    def json_api(function: str, security_token: str = "cpsess"):
        # WHM's documented URLs carry a session's security token; with token or password
        # auth any cpsess prefix is accepted, as the header decides.
        if not security_token.startswith("cpsess"):
            return Response("Not Found\n", 404, mimetype="text/plain")
        if not _authorized(request.headers.get("Authorization", ""), username, api_token):
            return _access_denied()
        if function == "cpanel":
            return jsonify(bridge_body(server, request.values))
        api_version = request.values.get("api.version", "0") or "0"
        if api_version not in ("0", "1"):
            return _envelope(function, 0, f"Unknown API version “{api_version}”: use 1 (or 0).")
        legacy = api_version == "0"
        handler = FUNCTIONS.get(function)
        if handler is None or (legacy and function not in API0_FUNCTIONS):
            if legacy:
                return jsonify(unknown_app(function))
            return _envelope(function, 0, f"Unknown app (“{function}”) requested for this version (1) of the API.")

        def answer(done: Done | None, reason: str) -> Response:
            if legacy:
                return jsonify(api0_body(function, done, reason))
            if done is None:
                return _envelope(function, 0, reason)
            return _envelope(function, 1, reason, done.data, done.raw)

        def run() -> Response:
            if function in POST_ONLY and request.method != "POST":
                return answer(None, f"{function} must be sent by POST: its parameters include a private key.")
            try:
                done = handler(server, request.values)
            except WhmFailure as exc:
                return answer(None, exc.reason)
            return answer(done, done.reason)

        def refuse(fault: Fault) -> Response:
            return answer(None, fault.reason or f"The server could not complete {function} (injected failure {fault.code}).")

        return faults.answer(function, run, refuse)

    @app.get("/<security_token>/login/")
    def one_time_login(security_token: str):
        user = None
        if security_token.startswith("cpsess"):
            user = server.consume_session(request.args.get("session", ""))
        if user is None:
            return Response("The login link is invalid, expired or already used.\n", 401, mimetype="text/plain")
        return Response(f"Logged in to cPanel as {user}.\n", 200, mimetype="text/plain")

    def forget_files() -> None:
        server.remove_all_homes()
        server.remove_all_archives()

    control = control_blueprint(faults, store, frozenset(FUNCTIONS) | {RESTORE_FAULT}, on_reset=forget_files)

    @control.post("/mysql/<database>")
    def write_database(database: str):
        return change_record(lambda change: server.write_database(database, change.get("sql")), WhmFailure,
                             "no_such_database", lambda exc: exc.reason)

    @control.post("/accounts/<user>")
    def change_account(user: str):
        return change_record(lambda change: server.update_account(user, change), WhmFailure, "no_such_account",
                             lambda exc: exc.reason)

    app.register_blueprint(control)
    return app


def _authorized(header: str, username: str, api_token: str) -> bool:
    """``whm USER:TOKEN`` (any case) or HTTP Basic ``USER:PASSWORD``, as WHM documents; the
    stand-in's one secret is both the API token and the user's password."""
    scheme, _, credentials = header.partition(" ")
    scheme, credentials = scheme.lower(), credentials.strip()
    if scheme == "basic":
        try:
            credentials = base64.b64decode(credentials, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return False
    elif scheme != "whm":
        return False
    user, _, token = credentials.partition(":")
    # Compare both halves every time: no early exit that would time the user name.
    user_ok = hmac.compare_digest(user.encode(), username.encode())
    token_ok = hmac.compare_digest(token.strip().encode(), api_token.encode())
    return user_ok and token_ok


def _envelope(command: str, result: int, reason: str, data: dict[str, Any] | None = None,
              raw: str = "") -> Response:
    body: dict[str, Any] = {
        "metadata": {"command": command, "version": 1, "result": result, "reason": reason,
                     "output": {"raw": raw}},
    }
    if result:
        body["data"] = data if data is not None else {}
    return jsonify(body)


def _access_denied() -> Response:
    body = {"cpanelresult": {"error": "Access denied",
                             "data": {"reason": "Access denied", "result": "0"}}}
    response = jsonify(body)
    response.status_code = 403
    return response


def main(argv: list[str] | None = None) -> None:
    parser = base_parser("python -m sandbox.whm", "Local stand-in for cPanel WHM API 1.")
    parser.add_argument("--token", default=os.environ.get("MPANEL_SANDBOX_SECRET"),
                        required="MPANEL_SANDBOX_SECRET" not in os.environ,
                        help="API token clients send as 'whm USER:TOKEN' (or MPANEL_SANDBOX_SECRET, which keeps it out of `ps`)")
    parser.add_argument("--username", default="root", help="WHM user the token belongs to (default root)")
    parser.add_argument("--mail-root", type=Path, default=os.environ.get("MPANEL_SANDBOX_MAIL_ROOT") or None,
                        help="the mail-core server's maildirs (<root>/<domain>/<local part>), archived and restored "
                             "with an account (default: MPANEL_SANDBOX_MAIL_ROOT, else the local services' "
                             "mailcore directory beside the state dir when there is one)")
    args = parser.parse_args(argv)
    mail_root = args.mail_root
    beside = args.state_dir.resolve().parent / "mailcore"
    if mail_root is None and beside.is_dir():
        mail_root = beside  # `mpanel services up` lays the servers out side by side
    serve(create_app(args.state_dir / STATE_FILE, args.token, args.username, mail_root=mail_root), args)
