"""Which domains may be ordered at all, decided once, before anything is written
(docs/architecture.md, decision 5).

`check_domain` runs inside the checkout's transaction, before the order is placed, and
answers the name to store (its A-label) or raises `ValidationError("domain", reason)`:

- the name must be a domain name; Unicode is converted to its A-label (IDNA 2008), and
  a bogus `xn--` label is refused (providers.rules.names);
- special-use and reserved names are never sold (RFC 6761, 6762, 7686, 8375, 9476,
  `.internal`, `.arpa`), nor a public suffix itself (`co.uk`);
- the operator's own domains: the registrable domain of every host in the settings
  (APP_URL, MARKETING_SITE_URL, NS1, NS2, the mail host) and of each name in
  MPANEL_RESERVED_DOMAINS, with every name under them;
- a name under a domain hosted here, or above one (`shop.victim.com` while `victim.com`
  is hosted, and the other way round): the second order would shadow or take over the
  first one's names;
- new registrations and transfers only: the plan's extensions (`plans.allowed_tlds`), a
  registrable domain (one label under its suffix), and, for registrations, the
  registrar's price: a premium name, a taken name or a first year above
  MPANEL_REGISTRATION_PRICE_CEILING is refused. A registrar that cannot be asked is a
  `RegistrarUnavailable`, never a silent pass.

The pure rules are functions of their inputs (tested without servers); `check_domain`
puts them in order, cheapest first, and reads the database and the registrar last.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Callable, Iterable
from urllib.parse import urlsplit

import psycopg

from app.db.orders import eligibility as queries
from app.db.orders import plans
from app.services.orders.billing import PaymentServiceError
from app.services.orders.orders import Order
from app.services.orders.validation import ValidationError
from app.settings import Settings
from providers.core.errors import ProviderError
from providers.rules.names import ancestors, bare, is_under, public_suffix, registrable_domain, to_ascii

FIELD = "domain"
REGISTERED_MODES = ("new_registration", "transfer")

# Top-level names that are never delegated on the public Internet.
SPECIAL_USE_TLDS = {
    "test": "RFC 6761", "localhost": "RFC 6761", "invalid": "RFC 6761", "example": "RFC 6761",
    "local": "RFC 6762 (multicast DNS)", "onion": "RFC 7686 (Tor)", "alt": "RFC 9476",
    "internal": "reserved by ICANN for private use", "arpa": "RFC 3172 (infrastructure)",
}
# Second-level names reserved under ordinary TLDs (home.arpa is under .arpa already).
SPECIAL_USE_DOMAINS = {
    "example.com": "RFC 6761", "example.net": "RFC 6761", "example.org": "RFC 6761", "home.arpa": "RFC 8375",
}


class RegistrarUnavailable(PaymentServiceError):
    """The registrar could not be asked whether (and at what price) a name can be registered.
    An upstream outage, not the customer's fault: nothing is written and they try again.

    A PaymentServiceError so that the existing handler answers 502 today; a handler of its
    own (503, "registrar_unavailable") takes precedence once app/web/errors.py has one."""


def refuse(reason: str) -> ValidationError:
    return ValidationError(FIELD, reason)


# --- the pure rules -----------------------------------------------------------------------


def special_use_problem(name: str) -> str | None:
    """Why `name` is a special-use or reserved name, or a public suffix (None: it is neither)."""
    name = bare(name)
    tld = name.rsplit(".", 1)[-1]
    if tld in SPECIAL_USE_TLDS:
        return f"{name} is under .{tld}, a special-use name ({SPECIAL_USE_TLDS[tld]}) that cannot be ordered"
    for reserved, source in SPECIAL_USE_DOMAINS.items():
        if name == reserved or is_under(name, reserved):
            return f"{name} is under {reserved}, a reserved name ({source}) that cannot be ordered"
    if registrable_domain(name) is None:
        return f"{name} is a public suffix, not a domain one can order"
    return None


def _host_of(value: str) -> str | None:
    """The host name in a URL or a bare host setting; None for IP addresses and empty values."""
    value = (value or "").strip()
    if not value:
        return None
    host = urlsplit(value if "//" in value else f"//{value}").hostname or ""
    try:
        host = to_ascii(host)
    except ValueError:
        return None  # an IP address, "localhost": nothing anyone could order
    return host


def operator_hosts(settings: Settings) -> list[str]:
    """The host names the operator runs the service under, from the settings: the panel,
    the marketing site, the nameservers, the mail host (MAIL_SERVER_HOST, or mail.<the
    domain of NS1> as the providers assume), and the reserved list."""
    named = [settings.APP_URL, settings.MARKETING_SITE_URL, settings.NS1, settings.NS2]
    mail = settings.MAIL_SERVER_HOST
    ns1 = _host_of(settings.NS1)
    if not mail and ns1 and registrable_domain(ns1):
        mail = f"mail.{ns1.split('.', 1)[1]}"
    named.append(mail)
    named.extend((settings.MPANEL_RESERVED_DOMAINS or "").split(","))
    hosts: list[str] = []
    for value in named:
        host = _host_of(value)
        if host and host not in hosts:
            hosts.append(host)
    return hosts


def operator_domains(settings: Settings) -> list[str]:
    """The registrable domains of the operator's hosts: each, and every name under it, is theirs."""
    domains: list[str] = []
    for host in operator_hosts(settings):
        domain = registrable_domain(host) or host
        if domain not in domains:
            domains.append(domain)
    return domains


def operator_problem(name: str, domains: Iterable[str]) -> str | None:
    """Why `name` belongs to the operator (None: it does not)."""
    for domain in domains:
        if name == domain or is_under(name, domain):
            return f"{name} is one of this host's own domains and cannot be ordered"
    return None


def hosted_problem(name: str, hosted: Iterable[str]) -> str | None:
    """Why `name` cannot be ordered next to the live domains `hosted` (None: it can). Equal
    names are left to the order's own conflict check (a 409 saying who holds it)."""
    for other in hosted:
        if is_under(name, other):
            return f"{name} is under {other}, which is hosted here; only its owner can add names under it"
    for other in hosted:
        if is_under(other, name):
            return f"a name under {name} is hosted here by another order, so {name} cannot be ordered"
    return None


def registration_suffix(name: str, allowed: Iterable[str]) -> str:
    """The suffix `name` is registered under: the longest of its public suffix and the
    plan's extensions that it ends with."""
    candidates = [public_suffix(name)] + [t for t in allowed if is_under(name, t)]
    return max(candidates, key=lambda t: t.count(".") + 1)


def registration_problem(name: str, mode: str, allowed_tlds: Iterable[str], plan_name: str) -> str | None:
    """For a new registration or a transfer: why the plan cannot take `name` (None: it can)."""
    if mode not in REGISTERED_MODES:
        return None
    allowed = sorted({bare(t).lstrip(".") for t in allowed_tlds or () if t and t.strip()})
    suffix = registration_suffix(name, allowed)
    verb = "registered" if mode == "new_registration" else "transferred"
    if suffix not in allowed:
        offered = ", ".join(f".{t}" for t in allowed) or "none"
        return (f"domains ending in .{suffix} cannot be {verb} on the {plan_name} plan (it offers {offered}); "
                f"a domain registered elsewhere can be hosted with domainMode external")
    if name.count(".") != suffix.count(".") + 1:
        registrable = ".".join(name.split(".")[-(suffix.count(".") + 2):])
        return (f"{name} is not a registrable domain: order {registrable} itself, or host {name} "
                f"with domainMode external")
    return None


@dataclass(frozen=True)
class Quote:
    """The registrar's answer about one name."""

    status: str  # "available", "unavailable" or "invalid"
    price: Decimal | None = None
    premium: bool = False


def quote_from_reply(reply: dict, name: str) -> Quote:
    """Read checkRegisterAvailability's reply (api-contracts.md): groups may be missing, a
    single entry may come as an object or a string, numbers as numbers or strings."""
    for group in ("available", "unavailable", "invalid"):
        entries = reply.get(group) or []
        if isinstance(entries, (str, dict)):
            entries = [entries]
        for entry in entries:
            entry_name = entry.get("domain") if isinstance(entry, dict) else entry
            if not isinstance(entry_name, str) or bare(entry_name) != name:
                continue
            if group != "available" or not isinstance(entry, dict):
                return Quote(group)
            return Quote(group, _price(entry.get("price")), _yes(entry.get("premium")))
    return Quote("invalid")


def quote_problem(name: str, quote: Quote, ceiling: Decimal) -> str | None:
    """Why the registrar's quote rules out registering `name` (None: it may be registered)."""
    if quote.status == "unavailable":
        return (f"{name} is already registered; if it is yours, order it as a transfer (with its EPP code) "
                f"or with domainMode external")
    if quote.status != "available":
        return f"{name} cannot be registered at our registrar"
    if quote.premium:
        return f"{name} is a premium name, which cannot be registered here"
    if quote.price is None:
        return None  # the caller treats a missing price as the registrar's failure
    if quote.price > ceiling:
        return (f"{name} costs {quote.price:.2f} USD to register, more than the {ceiling:.2f} USD "
                f"a hosting plan covers")
    return None


def _price(value: Any) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        price = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return price if price.is_finite() and price >= 0 else None


def _yes(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "y"}
    return bool(value)


# --- the registrar ------------------------------------------------------------------------

Quoter = Callable[[Settings, str], dict]


def ask_registrar(settings: Settings, name: str) -> dict:
    """checkRegisterAvailability for one name, through the provider's own client, with a
    short deadline: a customer is waiting, inside an open transaction."""
    from app.services.hosting.engine import provider_config
    from providers.core.retry import RetryPolicy
    from providers.clients.namesilo import NameSiloClient

    client = NameSiloClient(provider_config(settings), retry=RetryPolicy(deadline=8.0, max_delay=2.0),
                            timeout=8.0)
    return client.call("checkRegisterAvailability", domains=name)


def registrar_quote(settings: Settings, name: str, quoter: Quoter = ask_registrar) -> Quote:
    try:
        reply = quoter(settings, name)
    except ProviderError as exc:
        if exc.code in (114, 261, 267):  # the registrar refuses the name itself
            return Quote("invalid")
        raise RegistrarUnavailable(f"the domain registrar cannot be asked about {name} right now "
                                   f"({exc.reason}); try again in a few minutes") from exc
    quote = quote_from_reply(reply, name)
    if quote.status == "available" and quote.price is None and not quote.premium:
        raise RegistrarUnavailable(f"the domain registrar gave no price for {name}; try again in a few minutes")
    return quote


# --- the one decision ---------------------------------------------------------------------


def check_domain(conn: psycopg.Connection, settings: Settings, order: Order, *,
                 quoter: Quoter = ask_registrar) -> str:
    """The name `order` may be placed under (its A-label), or ValidationError("domain", why).
    Runs in the caller's transaction and writes nothing; it holds a transaction-scoped lock
    on the name's family (its registrable domain) so that a concurrent order of a name above
    or below waits for this one."""
    try:
        name = to_ascii(order.domain)
    except ValueError as exc:
        raise refuse(str(exc)) from None
    problem = special_use_problem(name) or operator_problem(name, operator_domains(settings))
    if problem:
        raise refuse(problem)
    if order.domain_mode in REGISTERED_MODES:
        plan = plans.active_by_slug(conn, order.plan_slug)
        if plan is not None:  # an unknown plan is the order's own refusal (UnknownPlan)
            problem = registration_problem(name, order.domain_mode, plan.get("allowed_tlds") or (), plan["name"])
            if problem:
                raise refuse(problem)
    queries.lock_family(conn, registrable_domain(name) or name)
    problem = hosted_problem(name, queries.hosted_near(conn, name, ancestors(name)))
    if problem:
        raise refuse(problem)
    if order.domain_mode == "new_registration":
        ceiling = Decimal(str(settings.MPANEL_REGISTRATION_PRICE_CEILING))
        problem = quote_problem(name, registrar_quote(settings, name, quoter), ceiling)
        if problem:
            raise refuse(problem)
    return name
