"""The customer's domain in the panel: registration state, expiry and auto-renew as the registrar
(NameSilo's getDomainInfo) has them, and the auto-renew toggle.

Auto-renew is desired state like everything else: the choice is `domains.auto_renew`, the
registration resource of the stack carries it (stacks/program.py), and the converge requested
with the choice sets it at the registrar (addAutoRenewal / removeAutoRenewal). Setting it at the
registrar from here instead would be undone by the next converge, which corrects drift.
The registrar lock is the same (`domains.registrar_lock` -> domainLock / domainUnlock); never
chosen (NULL), it is left as the registrar has it.

The transfer (EPP) code is never read by us: NameSilo's retrieveAuthCode emails it to the
domain's administrative contact, so it cannot appear in a page, a log or our database.

Domains registered elsewhere (external) have no registrar state here: the page says which
nameservers to set and checks live whether the delegation already points at them.
"""
from __future__ import annotations

import datetime as dt
import time

from app import db
from app.db.domains import domain_state as rows
from app.jobs.defer import request_converge
from app.services.common.refusals import Refused
from app.services.customers import limits
from app.services.customers.sites import NotYourSite, site_of
from app.services.domains import delegation, proof
from app.services.hosting.engine import provider_config
from app.settings import Settings
from providers.core.errors import NotFound, ProviderError
from providers.clients.namesilo import NameSiloClient

REGISTERED_HERE = ("new_registration", "transfer")


class DomainRefused(Refused):
    def __init__(self, status: int, field: str, message: str):
        super().__init__(field, message, status=status)


def _yes(value) -> bool:
    return str(value).strip().lower() in ("yes", "1", "true")


def domain_view(settings: Settings, user_id: int, subscription_id: int) -> dict:
    """The domain's page: what we hold, and what the registrar says now (`registrar` None when
    it is not registered through us or not yet; `registrar_error` when it could not be asked)."""
    with db.transaction(settings.DATABASE_URL) as conn:
        domain = _site_domain(conn, user_id, subscription_id)
        control = proof.view(conn, subscription_id)
    view = {"proof": control, "domain": domain, "registrar": None, "registrar_error": None,
            "auto_renew_wanted": domain["auto_renew"] is not False,
            "nameservers": (settings.NS1, settings.NS2),
            "lock_wanted": domain["registrar_lock"], "delegation": None,
            "can_toggle": domain["mode"] in REGISTERED_HERE and domain["subscription_status"] == "active"}
    if domain["mode"] == "external":
        view["delegation"] = delegation.check(domain["name"], (settings.NS1, settings.NS2),
                                              settings.DELEGATION_RESOLVER)
        return view
    if domain["mode"] not in REGISTERED_HERE or domain["status"] in ("pending", "registering", "failed"):
        return view
    info = _recent_info(domain["name"])
    if info is not None and _change_waiting(domain, info):
        info = None  # the customer waits to see their change applied: ask the registrar now
    if info is None and not limits.allows(settings, user_id, "domain_info"):
        view["registrar_error"] = ("you have looked it up often in the last hour; the registrar's answer "
                                   "shows here again later")
        return view
    try:
        if info is None:
            info = NameSiloClient(provider_config(settings)).domain_info(domain["name"])
            _INFO_CACHE[domain["name"]] = (time.monotonic(), info)
    except NotFound:
        view["registrar_error"] = ("the transfer is still in progress" if domain["status"] == "transfer_pending"
                                   else "the registrar does not list it in our account")
        return view
    except ProviderError:
        view["registrar_error"] = "the registrar cannot be reached right now"
        return view
    expires = _date(info.get("expires"))
    nameservers = [str(n.get("nameserver", "")).lower() for n in (info.get("nameservers") or [])
                   if isinstance(n, dict)]
    view["registrar"] = {"status": info.get("status") or "unknown", "expires": expires,
                         "created": _date(info.get("created")), "auto_renew": _yes(info.get("auto_renew")),
                         "locked": _yes(info.get("locked")), "nameservers": nameservers}
    if expires is not None:
        with db.transaction(settings.DATABASE_URL) as conn:
            rows.record_registrar_state(conn, domain["domain_id"],
                                        dt.datetime.combine(expires, dt.time(), dt.timezone.utc), nameservers)
    return view


# The registrar's answer about a domain, kept a minute: a page reloaded is not another call.
INFO_TTL_SECONDS = 60.0
_INFO_CACHE: dict[str, tuple[float, dict]] = {}


def _recent_info(name: str) -> dict | None:
    found = _INFO_CACHE.get(name)
    if found is None or time.monotonic() - found[0] > INFO_TTL_SECONDS:
        _INFO_CACHE.pop(name, None)
        return None
    return found[1]


def _change_waiting(domain: dict, info: dict) -> bool:
    wanted_lock, wanted_renew = domain["registrar_lock"], domain["auto_renew"]
    return ((wanted_lock is not None and _yes(info.get("locked")) != wanted_lock)
            or (wanted_renew is not None and _yes(info.get("auto_renew")) != wanted_renew))


def _date(value) -> dt.date | None:
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def set_auto_renew(settings: Settings, user_id: int, subscription_id: int, value: str | None) -> bool:
    """Record the customer's auto-renew choice and request the converge that applies it."""
    if value not in ("on", "off"):
        raise DomainRefused(422, "auto_renew", "choose on or off")
    limits.spend(settings, user_id, "registrar_change", "auto_renew")
    with db.transaction(settings.DATABASE_URL) as conn:
        domain = _site_domain(conn, user_id, subscription_id)
        if domain["mode"] not in REGISTERED_HERE or domain["subscription_status"] != "active":
            raise DomainRefused(409, "auto_renew", "auto-renew is set here only for an active domain "
                                                   "registered through us")
        rows.set_auto_renew(conn, domain["domain_id"], value == "on")
        request_converge(conn, subscription_id)
    return value == "on"


def set_lock(settings: Settings, user_id: int, subscription_id: int, value: str | None) -> bool:
    """Record the customer's registrar-lock choice and request the converge that applies it."""
    if value not in ("on", "off"):
        raise DomainRefused(422, "lock", "choose on or off")
    limits.spend(settings, user_id, "registrar_change", "lock")
    with db.transaction(settings.DATABASE_URL) as conn:
        domain = _changeable(conn, user_id, subscription_id, "lock")
        rows.set_registrar_lock(conn, domain["domain_id"], value == "on")
        request_converge(conn, subscription_id)
    return value == "on"


def send_transfer_code(settings: Settings, user_id: int, subscription_id: int) -> str:
    """Have the registrar email the domain's transfer code to its administrative contact; the
    domain's name. The code never passes through us."""
    with db.transaction(settings.DATABASE_URL) as conn:
        domain = _changeable(conn, user_id, subscription_id, "transfer_code")
    limits.spend(settings, user_id, "transfer_code", "transfer_code")
    try:
        NameSiloClient(provider_config(settings)).send_auth_code(domain["name"])
    except NotFound:
        raise DomainRefused(409, "transfer_code", "the registrar does not list the domain in our account "
                                                  "(a transfer still in progress?)") from None
    except ProviderError:
        raise DomainRefused(502, "transfer_code", "the registrar cannot be reached right now; "
                                                  "try again in a few minutes") from None
    return domain["name"]


def _site_domain(conn, user_id: int, subscription_id: int) -> dict:
    """The live domain of the customer's site, or NotYourSite."""
    site_of(conn, user_id, subscription_id)
    domain = rows.site_domain(conn, subscription_id)
    if domain is None:  # theirs, but without a live domain: the same answer
        raise NotYourSite()
    return domain


def _changeable(conn, user_id: int, subscription_id: int, field: str) -> dict:
    domain = _site_domain(conn, user_id, subscription_id)
    if domain["mode"] not in REGISTERED_HERE or domain["subscription_status"] != "active" \
            or domain["status"] != "active":
        raise DomainRefused(409, field, "this is done here only for an active domain registered through us")
    return domain
