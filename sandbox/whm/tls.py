"""TLS on an account's domain: installssl, fetchsslinfo and the HTTPS redirect (UAPI)."""

from __future__ import annotations

from typing import Any, Callable

from ..common.state import StateStore, Transaction
from .api import Done, Params, WhmFailure, find_account, required
from .certificates import CertificateRejected, covers, inspect_pair


class Tls:
    store: StateStore
    now: Callable[[], float]

    def installssl(self, params: Params) -> Done:
        domain = required(params, "domain").lower()
        crt, key = required(params, "crt"), required(params, "key")
        with self.store.change() as state:
            account = _account_for_domain(state, domain)
            try:
                record = inspect_pair(domain, crt, key, params.get("cab", ""))
            except CertificateRejected as exc:
                raise WhmFailure(str(exc)) from None
            previous = state["ssl"].get(domain, {})
            record.update(domain=domain, user=account["user"], installed=int(self.now()),
                          redirect=previous.get("redirect", False))
            state["ssl"][domain] = record
        message = (f"The SSL certificate is now installed onto the domain “{domain}” "
                   f"using the IP address “{account['ip']}”.")
        return Done({
            "status": 1, "statusmsg": message, "message": message, "domain": domain,
            "user": account["user"], "ip": account["ip"], "servername": domain,
            "cert_id": record["cert_id"], "key_id": record["key_id"],
            "working_domains": [d for d in (domain, f"www.{domain}") if covers(record["subject_names"], d)],
            "warning_domains": [],
        })

    def fetchsslinfo(self, params: Params) -> Done:
        domain = required(params, "domain").lower()
        with self.store.view() as state:
            record = state["ssl"].get(domain)
        if record is None:
            raise WhmFailure(f"No SSL certificate is installed for “{domain}”.")
        return Done({
            "domain": domain, "user": record["user"], "crt": record["crt"], "key": record["key"],
            "cab": record["cab"], "cert_id": record["cert_id"], "key_id": record["key_id"],
            "not_after": record["not_after"], "subject_names": record["subject_names"],
            "ssl_redirect": int(record["redirect"]),
        })

    def uapi_cpanel(self, params: Params) -> Done:
        username = required(params, "cpanel.user")
        module = required(params, "cpanel.module")
        function = required(params, "cpanel.function")
        with self.store.view() as state:
            find_account(state, username)
        # A failed UAPI call inside a WHM call that succeeded: real WHM reports that as
        # result 1 with uapi.status 0.
        return Done({"uapi": self.uapi(username, module, function, params)})

    def uapi(self, username: str, module: str, function: str, params: Params) -> dict[str, Any]:
        """One UAPI call as the cPanel user (the account must exist): UAPI's own result."""
        if module == "Mysql":
            try:
                return _uapi(data=self.mysql_uapi(username, function, params))
            except WhmFailure as exc:
                return _uapi(errors=[exc.reason])
        if (module, function) != ("SSL", "toggle_ssl_redirect_for_domains"):
            return _uapi(errors=[f"The sandbox does not implement UAPI {module}::{function}."])
        try:
            return _uapi(data=self._toggle_ssl_redirect(username, params))
        except WhmFailure as exc:
            return _uapi(errors=[exc.reason])

    def _toggle_ssl_redirect(self, username: str, params: Params) -> list[dict[str, Any]]:
        domains = [d.strip().lower() for d in params.get("domains", "").split(",") if d.strip()]
        state_param = params.get("state", "")
        if not domains or state_param not in ("0", "1"):
            raise WhmFailure("You must specify “domains” and a “state” of 0 or 1.")
        enable = state_param == "1"
        with self.store.change() as state:
            owned = {find_account(state, username)["domain"]}
            for domain in domains:
                if domain not in owned:
                    raise WhmFailure(f"You do not own the domain “{domain}”.")
                record = state["ssl"].get(domain)
                if enable and (record is None or record["not_after"] <= self.now()):
                    raise WhmFailure(f"The domain “{domain}” does not have a valid SSL certificate installed.")
                if record is not None:
                    record["redirect"] = enable
        return [{"domain": d, "state": int(enable)} for d in domains]


def _account_for_domain(state: Transaction, domain: str) -> dict[str, Any]:
    account = state["accounts"].first(domain=domain)
    if account is not None:
        return account
    raise WhmFailure(f"No account owns the domain “{domain}”.")


def _uapi(data: Any = None, errors: list[str] | None = None) -> dict[str, Any]:
    # Real UAPI sends null, not [], when there are no errors or messages.
    return {"status": 0 if errors else 1, "data": data, "errors": errors or None,
            "messages": None, "warnings": None, "metadata": {}}
