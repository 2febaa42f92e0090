"""A local stand-in for the NameSilo registrar API, enough for mpanel's provider.

Protocol (as in docs/api-contracts.md): ``GET /api/<operation>?version=1&type=xml|json&key=KEY&...``
(POST form is accepted too). The answer is always HTTP 200 (unless an ``http`` or
``timeout`` fault says otherwise) with
``{"request": {"operation", "ip"}, "reply": {"code", "detail", ...fields}}`` for ``type=json``
and the same content as ``<namesilo><request>..</request><reply>..</reply></namesilo>`` for
``type=xml`` (see ``sandbox.namesilo.formats``); a request whose type is missing or unknown is
refused in XML, NameSilo's original format. Success is ``reply.code`` 300, 301 or 302, anything
else is a failure.

Operations: checkRegisterAvailability, registerDomain, getDomainInfo,
changeNameServers, transferDomain, checkTransferStatus, renewDomain, domainLock,
domainUnlock, addAutoRenewal, removeAutoRenewal, listDomains, retrieveAuthCode (not in the
contract, *unconfirmed*: as upstream documents it, the code is emailed to the registrant and the
reply is the code 300 only; here the "email" is a row of ``auth_code_emails`` in the state, the
code kept as a digest).

Choices where the contract is silent:

- ``reply.code`` is always a JSON number; ``order_amount`` and contact ids are
  strings and availability prices are numbers, so clients meet both.
- Checks run in this order: version (102/103), type (104/105: xml or json), key (110,
  also when missing), operation (107), faults, then the operation's own checks.
- Domain names are lower-cased, then must be host names (114) under a TLD the
  stand-in sells (267: see ``PRICES_CENTS``) with exactly one label before it (114).
- registerDomain: ``years`` missing or outside 1-10 is 263. Fewer than two or any
  invalid nameserver means the defaults (ns1-3.dnsowl.com) and code 301. Partial
  contact fields or a non-numeric ``contact_id`` mean the account default and 302.
  ``private`` and ``auto_renew`` default to 0; new registrations are locked.
- transferDomain needs ``auth`` (108 without it); it charges one renewal year. The
  transfer stays "Pending at Registry" until the control API moves it or, by
  default, the 3rd checkTransferStatus call (``transfer_polls``; 0 = never), then
  "Transfer Completed" and the domain is Active in the account for one year.
- renewDomain beyond 10 years from today is 264. Charges use integer cents.
- listDomains answers ``domains: [{domain, created, expires}]`` (always a list) and
  ``pager: {total, pageSize, page}`` inside ``reply``.
- A domain marked unavailable (taken by someone else) can still be transferred in.

Control API (``/_sandbox/``, see sandbox.common.control): faults, state, reset, plus
``POST /_sandbox/unavailable {domain}``, ``POST /_sandbox/transfers/<domain> {status}``,
``POST /_sandbox/balance {balance}``, ``POST /_sandbox/domains/<domain>`` with any
of nameservers, locked, private, auto_renew, expires, status to create drift, and
``POST /_sandbox/prices/<domain> {price, renew, premium}`` to price one name apart from
its TLD (USD; a premium name is ``premium: true``, answered by checkRegisterAvailability as
``"premium": 1`` with its price, and charged that price by registerDomain; renewals and
transfers charge ``renew``). An empty body puts the name back on its TLD's prices.
"""

from __future__ import annotations

import hmac
import logging
import os
import time
from datetime import date
from pathlib import Path
from typing import Any, Callable

from flask import Flask, Response, jsonify, request

from ..common.control import ControlError, change_record, control_blueprint, json_object
from ..common.faults import Fault, FaultRegistry
from ..common.requestlog import RequestLog
from ..common.serving import STATE_FILE, base_parser, serve
from ..common.state import StateStore
from .formats import FORMATS, render
from .registrar import TABLES, Registrar, initial_state
from .replies import DETAILS, Reply, ReplyError

log = logging.getLogger("sandbox.namesilo")

# The API key always travels in the URL, and an EPP code may too.
SECRET_PARAMS = ("key", "auth")

OPERATIONS: dict[str, Callable[[Registrar, Any], Reply]] = {
    name: getattr(Registrar, name)
    for name in (
        "checkRegisterAvailability", "registerDomain", "getDomainInfo", "changeNameServers",
        "transferDomain", "checkTransferStatus", "renewDomain", "domainLock", "domainUnlock",
        "addAutoRenewal", "removeAutoRenewal", "listDomains", "retrieveAuthCode",
    )
}


def create_app(
    state_path: str | Path,
    api_key: str,
    balance: float = 1000.0,
    *,
    sleep: Callable[[float], None] = time.sleep,
    today: Callable[[], date] = date.today,
    transfer_polls: int = 3,
) -> Flask:
    store = StateStore(state_path, TABLES, initial_state(round(balance * 100)))
    registrar = Registrar(store, today, transfer_polls)
    faults = FaultRegistry(sleep)

    app = Flask(__name__)
    app.extensions["sandbox.namesilo"] = registrar
    app.extensions["sandbox.faults"] = faults
    app.wsgi_app = RequestLog(app.wsgi_app, log, SECRET_PARAMS)

    @app.route("/api/<operation>", methods=["GET", "POST"])
    def api(operation: str):
        params = request.values
        # Every answer, refusals included, comes in the format asked for; XML when none is.
        kind = "json" if params.get("type") == "json" else "xml"
        try:
            _check_preamble(params, api_key)
            handler = OPERATIONS.get(operation)
            if handler is None:
                raise ReplyError(107)
        except ReplyError as exc:
            return _envelope(kind, operation, exc.code, exc.detail)

        def run() -> Response:
            try:
                reply = handler(registrar, params)
            except ReplyError as exc:
                return _envelope(kind, operation, exc.code, exc.detail)
            return _envelope(kind, operation, reply.code, DETAILS[reply.code], reply.fields)

        def refuse(fault: Fault) -> Response:
            code = fault.code if fault.code is not None else 210
            return _envelope(kind, operation, code, fault.reason or DETAILS.get(code, "error"))

        return faults.answer(operation, run, refuse)

    control = control_blueprint(faults, store, frozenset(OPERATIONS))

    @control.post("/unavailable")
    def mark_unavailable():
        try:
            taken = registrar.mark_unavailable(str(json_object().get("domain", "")))
        except ReplyError as exc:
            raise ControlError(400, "bad_domain", exc.detail) from exc
        return jsonify({"unavailable": taken})

    @control.post("/transfers/<domain>")
    def move_transfer(domain: str):
        status = json_object().get("status")
        if not isinstance(status, str) or not status:
            raise ControlError(400, "bad_status", "status must be a non-empty string")
        try:
            transfer = registrar.set_transfer_status(domain.lower(), status)
        except ReplyError as exc:
            raise ControlError(404, "no_such_transfer", exc.detail) from exc
        return jsonify(transfer)

    @control.post("/balance")
    def set_balance():
        balance = json_object().get("balance")
        if isinstance(balance, bool) or not isinstance(balance, (int, float)) or balance < 0:
            raise ControlError(400, "bad_balance", "balance must be a number >= 0")
        registrar.set_balance(balance)
        return jsonify({"balance": balance})

    @control.post("/prices/<domain>")
    def set_price(domain: str):
        try:
            return jsonify(registrar.set_price(domain, json_object()))
        except ReplyError as exc:
            raise ControlError(400, "bad_domain", exc.detail) from exc
        except ValueError as exc:
            raise ControlError(400, "bad_price", str(exc)) from exc

    @control.post("/domains/<domain>")
    def change_domain(domain: str):
        return change_record(lambda change: registrar.update_domain(domain, change), ReplyError, "no_such_domain",
                             lambda exc: exc.detail)

    app.register_blueprint(control)
    return app


def _check_preamble(params, api_key: str) -> None:
    """The checks NameSilo makes before it looks at the operation."""
    version, kind = params.get("version"), params.get("type")
    if not version:
        raise ReplyError(102)
    if version != "1":
        raise ReplyError(103)
    if not kind:
        raise ReplyError(104)
    if kind not in FORMATS:
        raise ReplyError(105)
    if not hmac.compare_digest(params.get("key", "").encode(), api_key.encode()):
        raise ReplyError(110)


def _envelope(kind: str, operation: str, code: int, detail: str,
              fields: dict[str, Any] | None = None) -> Response:
    body, mimetype = render(kind, {
        "request": {"operation": operation, "ip": request.remote_addr},
        "reply": {"code": code, "detail": detail, **(fields or {})},
    })
    return Response(body, 200, mimetype=mimetype)


def main(argv: list[str] | None = None) -> None:
    parser = base_parser("python -m sandbox.namesilo", "Local stand-in for the NameSilo API.")
    parser.add_argument("--key", default=os.environ.get("MPANEL_SANDBOX_SECRET"),
                        required="MPANEL_SANDBOX_SECRET" not in os.environ,
                        help="API key clients send as key=... (or MPANEL_SANDBOX_SECRET, which keeps it out of `ps`)")
    parser.add_argument("--balance", type=float, default=1000.0,
                        help="starting account balance in USD for a new state (default 1000)")
    parser.add_argument("--transfer-polls", type=int, default=3,
                        help="checkTransferStatus calls before a transfer completes (0 = never)")
    args = parser.parse_args(argv)
    app = create_app(args.state_dir / STATE_FILE, args.key, args.balance,
                     transfer_polls=args.transfer_polls)
    serve(app, args)

