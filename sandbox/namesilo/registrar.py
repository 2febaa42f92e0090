"""The registrar account behind the NameSilo stand-in: domains, transfers, balance.

Each public method with a NameSilo operation's name takes the request parameters and
returns a ``Reply`` or raises ``ReplyError`` (see ``sandbox.namesilo.replies``).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import date
from typing import Any, Callable, Mapping

from ..common.names import is_hostname
from ..common.state import Document, StateStore, Table, Transaction
from .replies import Reply, ReplyError

Params = Mapping[str, str]

# TLD: (registration, renewal) price in cents. Anything else answers 267, which is how
# tests exercise an unsupported extension.
PRICES_CENTS = {
    "com": (1395, 1595), "net": (1295, 1495), "org": (1095, 1295), "info": (299, 1999),
    "io": (3499, 4799), "dev": (1199, 1299), "app": (1299, 1399), "xyz": (199, 1299),
    "site": (199, 2399), "co.uk": (699, 899),
}
DEFAULT_NAMESERVERS = ("ns1.dnsowl.com", "ns2.dnsowl.com", "ns3.dnsowl.com")
DEFAULT_CONTACT_ID = "1"
CONTACT_FIELDS = ("fn", "ln", "ad", "cy", "st", "zp", "ct", "em", "ph")
MAX_NAMESERVERS = 13
MAX_YEARS = 10
PENDING = "Pending at Registry"
COMPLETED = "Transfer Completed"


# Domains and transfers by domain name, and the names priced apart from their TLD (premium
# names: set through the control API); the rest (balance, counters, the short list of names
# the registry refuses) are scalars.
# auth_code_emails: each retrieveAuthCode, as the email NameSilo would send the registrant
# (the code itself only as a digest, like a transfer's).
TABLES = [Table("domains"), Table("transfers"), Table("prices"), Table("auth_code_emails")]


def initial_state(balance_cents: int) -> Callable[[], Document]:
    def build() -> Document:
        return {"schema": 1, "balance_cents": balance_cents, "domains": {}, "transfers": {},
                "unavailable": [], "next_contact_id": 2}
    return build


class Registrar:
    def __init__(self, store: StateStore, today: Callable[[], date] = date.today,
                 transfer_polls: int = 3):
        self.store = store
        self.today = today
        # checkTransferStatus calls before a pending transfer completes by itself;
        # 0 leaves it pending until the control API moves it.
        self.transfer_polls = transfer_polls

    # -- availability and registration --------------------------------------------

    def checkRegisterAvailability(self, params: Params) -> Reply:
        names = [n.strip() for n in _required(params, "domains").split(",") if n.strip()]
        available, unavailable, invalid = [], [], []
        for name in names:
            try:
                domain = registrable(name)
            except ReplyError:
                invalid.append(name)
                continue
            with self.store.view() as state:
                taken = _taken(state, domain)
                register, renew, premium = _quote(state, domain)
            if taken:
                unavailable.append(domain)
                continue
            available.append({"domain": domain, "price": register / 100, "renew": renew / 100,
                              "premium": 1 if premium else 0, "duration": 1})
        fields: dict[str, Any] = {}
        # Empty groups are left out, as in upstream samples: a client must read a
        # missing group as empty.
        for key, group in (("available", available), ("unavailable", unavailable), ("invalid", invalid)):
            if group:
                fields[key] = group
        return Reply(fields)

    def registerDomain(self, params: Params) -> Reply:
        domain = registrable(_required(params, "domain"))
        years = _years(params)
        nameservers, ns_replaced = _nameservers_or_defaults(params)
        with self.store.change() as state:
            if domain in state["domains"] or _pending_transfer(state, domain):
                raise ReplyError(262)
            if domain in state["unavailable"]:
                raise ReplyError(261)
            contact_id, contact_replaced = _contact(params, state)
            amount = _quote(state, domain)[0] * years
            _charge(state, amount)
            today = self.today()
            state["domains"][domain] = {
                "domain": domain,
                "created": today.isoformat(),
                "expires": _add_years(today, years).isoformat(),
                "status": "Active",
                # New registrations are registrar-locked, as at NameSilo.
                "locked": True,
                "private": _flag(params, "private"),
                "auto_renew": _flag(params, "auto_renew"),
                "nameservers": nameservers,
                "contact_id": contact_id,
            }
        code = 301 if ns_replaced else 302 if contact_replaced else 300
        return Reply(_order("Your domain registration was successfully processed.", domain, amount), code)

    def renewDomain(self, params: Params) -> Reply:
        domain = registrable(_required(params, "domain"))
        years = _years(params)
        with self.store.change() as state:
            record = _owned(state, domain)
            expires = _add_years(date.fromisoformat(record["expires"]), years)
            if expires > _add_years(self.today(), MAX_YEARS):
                raise ReplyError(264)
            amount = _quote(state, domain)[1] * years
            _charge(state, amount)
            record["expires"] = expires.isoformat()
        return Reply(_order("Your domain renewal was successfully processed.", domain, amount))

    # -- reading and changing a registration -------------------------------------

    def getDomainInfo(self, params: Params) -> Reply:
        domain = registrable(_required(params, "domain"))
        with self.store.view() as state:
            record = _owned(state, domain)
        contact = record["contact_id"]
        return Reply({
            "created": record["created"],
            "expires": record["expires"],
            "status": record["status"],
            # Flags are "Yes"/"No" strings upstream, not booleans.
            "locked": _yes_no(record["locked"]),
            "private": _yes_no(record["private"]),
            "auto_renew": _yes_no(record["auto_renew"]),
            "traffic_type": "Custom DNS",
            "email_verification_required": "No",
            "portfolio": "",
            "forward_url": "N/A",
            "forward_type": "N/A",
            "nameservers": [{"nameserver": ns, "position": i}
                            for i, ns in enumerate(record["nameservers"], start=1)],
            "contact_ids": {"registrant": contact, "administrative": contact,
                            "technical": contact, "billing": contact},
        })

    def changeNameServers(self, params: Params) -> Reply:
        domain = registrable(_required(params, "domain"))
        _required(params, "ns1")
        _required(params, "ns2")
        nameservers = _given_nameservers(params)
        if not all(is_hostname(ns) for ns in nameservers):
            raise ReplyError(254)
        with self.store.change() as state:
            _owned(state, domain)["nameservers"] = nameservers
        return Reply()

    def domainLock(self, params: Params) -> Reply:
        return self._set_flag(params, "locked", True, already=252)

    def domainUnlock(self, params: Params) -> Reply:
        return self._set_flag(params, "locked", False, already=253)

    def retrieveAuthCode(self, params: Params) -> Reply:
        """NameSilo emails the EPP code to the domain's administrative contact; the reply carries
        only the code (not in the contract: *unconfirmed*). Each request makes a new code."""
        domain = registrable(_required(params, "domain"))
        digest = hashlib.sha256(secrets.token_urlsafe(12).encode()).hexdigest()
        with self.store.change() as state:
            record = _owned(state, domain)
            emails = state["auth_code_emails"]
            emails[f"{domain}#{len(emails) + 1}"] = {
                "domain": domain, "to_contact_id": record["contact_id"], "sent": self.today().isoformat(),
                "auth_sha256": digest}
        return Reply()

    def addAutoRenewal(self, params: Params) -> Reply:
        return self._set_flag(params, "auto_renew", True, already=250)

    def removeAutoRenewal(self, params: Params) -> Reply:
        return self._set_flag(params, "auto_renew", False, already=251)

    def _set_flag(self, params: Params, flag: str, value: bool, already: int) -> Reply:
        domain = registrable(_required(params, "domain"))
        with self.store.change() as state:
            record = _owned(state, domain)
            if record[flag] == value:
                raise ReplyError(already)
            record[flag] = value
        return Reply()

    def listDomains(self, params: Params) -> Reply:
        page = _positive(params, "page", 1)
        page_size = _positive(params, "pageSize", 100)
        with self.store.view() as state:
            domains = state["domains"]
            total, chosen = len(domains), domains.sorted_by_key((page - 1) * page_size, page_size)
        return Reply({
            "domains": [{"domain": d["domain"], "created": d["created"], "expires": d["expires"]}
                        for d in chosen],
            "pager": {"total": total, "pageSize": page_size, "page": page},
        })

    # -- transfers ---------------------------------------------------------------

    def transferDomain(self, params: Params) -> Reply:
        domain = registrable(_required(params, "domain"))
        auth = _required(params, "auth")
        with self.store.change() as state:
            if domain in state["domains"]:
                raise ReplyError(262)
            if _pending_transfer(state, domain):
                raise ReplyError(265)
            amount = _quote(state, domain)[1]
            _charge(state, amount)
            state["transfers"][domain] = {
                "domain": domain,
                "status": PENDING,
                "date": self.today().isoformat(),
                "polls": 0,
                # The EPP code is a credential for the domain: keep only a digest.
                "auth_sha256": hashlib.sha256(auth.encode()).hexdigest(),
                "private": _flag(params, "private"),
                "auto_renew": _flag(params, "auto_renew"),
            }
        return Reply(_order("Your transfer request was submitted successfully.", domain, amount))

    def checkTransferStatus(self, params: Params) -> Reply:
        domain = registrable(_required(params, "domain"))
        with self.store.change() as state:
            transfer = state["transfers"].get(domain)
            if transfer is None:
                raise ReplyError(266)
            transfer["polls"] += 1
            if transfer["status"] == PENDING and 0 < self.transfer_polls <= transfer["polls"]:
                self._finish_transfer(state, transfer, COMPLETED)
            return Reply({"date": transfer["date"], "status": transfer["status"],
                          "message": f"The transfer of {domain} is: {transfer['status']}."})

    def set_transfer_status(self, domain: str, status: str) -> dict[str, Any]:
        """Move a transfer along (control API)."""
        with self.store.change() as state:
            transfer = state["transfers"].get(domain)
            if transfer is None:
                raise ReplyError(266)
            self._finish_transfer(state, transfer, status)
            return transfer

    def _finish_transfer(self, state: Transaction, transfer: dict[str, Any], status: str) -> None:
        transfer["status"] = status
        if status != COMPLETED or transfer["domain"] in state["domains"]:
            return
        domain, today = transfer["domain"], self.today()
        state["domains"][domain] = {
            "domain": domain, "created": today.isoformat(),
            # A transfer adds a year to the registration; the old expiry is unknown here.
            "expires": _add_years(today, 1).isoformat(), "status": "Active", "locked": True,
            "private": transfer["private"], "auto_renew": transfer["auto_renew"],
            "nameservers": list(DEFAULT_NAMESERVERS), "contact_id": DEFAULT_CONTACT_ID,
        }
        state["unavailable"] = [d for d in state["unavailable"] if d != domain]

    # -- control API helpers -----------------------------------------------------------

    def mark_unavailable(self, name: str) -> list[str]:
        domain = registrable(name)
        with self.store.change() as state:
            if domain not in state["unavailable"]:
                state["unavailable"].append(domain)
            return list(state["unavailable"])

    def set_price(self, name: str, changes: dict[str, Any]) -> dict[str, Any]:
        """Price one name apart from its TLD (control API): ``price`` and ``renew`` in USD
        (each defaults to the TLD's), ``premium`` true for a registry premium name. An empty
        body puts the name back on its TLD's prices."""
        allowed = {"price", "renew", "premium"}
        unknown = set(changes) - allowed
        if unknown:
            raise ValueError(f"cannot set {sorted(unknown)}; allowed: {sorted(allowed)}")
        domain = registrable(name)
        register, renew = _prices(domain)
        cents = {}
        for key, default in (("price", register), ("renew", renew)):
            value = changes.get(key)
            if value is None:
                cents[key] = default
            elif isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 10**7:
                raise ValueError(f"{key} must be a number of USD, 0 or more")
            else:
                cents[key] = round(value * 100)
        premium = changes.get("premium", False)
        if not isinstance(premium, bool):
            raise ValueError("premium must be true or false")
        record = {"domain": domain, "price_cents": cents["price"], "renew_cents": cents["renew"], "premium": premium}
        with self.store.change() as state:
            if not changes:
                state["prices"].pop(domain, None)
                return {"domain": domain, "price_cents": register, "renew_cents": renew, "premium": False}
            state["prices"][domain] = record
        return record

    def set_balance(self, balance: float) -> None:
        with self.store.change() as state:
            state["balance_cents"] = round(balance * 100)

    def update_domain(self, name: str, changes: dict[str, Any]) -> dict[str, Any]:
        """Change a registration behind the client's back (control API), to create drift."""
        allowed = {"nameservers", "locked", "private", "auto_renew", "expires", "status"}
        unknown = set(changes) - allowed
        if unknown:
            raise ValueError(f"cannot change {sorted(unknown)}; allowed: {sorted(allowed)}")
        domain = registrable(name)
        with self.store.change() as state:
            record = _owned(state, domain)
            for key, value in changes.items():
                if key in ("locked", "private", "auto_renew"):
                    record[key] = bool(value)
                elif key == "nameservers":
                    record[key] = [str(ns).lower() for ns in value]
                elif key == "expires":
                    record[key] = date.fromisoformat(value).isoformat()
                else:
                    record[key] = str(value)
            return dict(record)


def registrable(name: str) -> str:
    """The domain as NameSilo sells it (lower-case, one label under a TLD we sell)."""
    domain = name.strip().lower()
    if not is_hostname(domain):
        raise ReplyError(114)
    suffix = _suffix(domain)
    if suffix is None:
        raise ReplyError(267)
    if domain.count(".") != suffix.count(".") + 1:
        # www.example.com is a host name but not something one can register.
        raise ReplyError(114)
    return domain


def _suffix(domain: str) -> str | None:
    labels = domain.split(".")
    # Longest match first, so example.co.uk is sold under co.uk, not uk.
    for start in range(1, len(labels)):
        candidate = ".".join(labels[start:])
        if candidate in PRICES_CENTS:
            return candidate
    return None


def _prices(domain: str) -> tuple[int, int]:
    return PRICES_CENTS[_suffix(domain)]


def _quote(state: Transaction, domain: str) -> tuple[int, int, bool]:
    """(registration, renewal) in cents and whether the name is premium: its own price when the
    control API set one, else its TLD's."""
    own = state["prices"].get(domain)
    if own is None:
        return (*_prices(domain), False)
    return own["price_cents"], own["renew_cents"], own["premium"]


def _taken(state: Transaction, domain: str) -> bool:
    return (domain in state["domains"] or _pending_transfer(state, domain)
            or domain in state["unavailable"])


def _pending_transfer(state: Transaction, domain: str) -> bool:
    transfer = state["transfers"].get(domain)
    return transfer is not None and transfer["status"] == PENDING


def _owned(state: Transaction, domain: str) -> dict[str, Any]:
    record = state["domains"].get(domain)
    if record is None or record["status"] != "Active":
        raise ReplyError(200)
    return record


def _charge(state: Transaction, amount_cents: int) -> None:
    if state["balance_cents"] < amount_cents:
        raise ReplyError(119)
    state["balance_cents"] -= amount_cents


def _order(message: str, domain: str, amount_cents: int) -> dict[str, Any]:
    # order_amount is a string upstream even in JSON: clients must parse it.
    return {"message": message, "domain": domain, "order_amount": f"{amount_cents / 100:.2f}"}


def _required(params: Params, name: str) -> str:
    value = params.get(name, "").strip()
    if not value:
        raise ReplyError(108)
    return value


def _years(params: Params) -> int:
    value = params.get("years", "").strip()
    if not value.isdigit() or not 1 <= int(value) <= MAX_YEARS:
        raise ReplyError(263)
    return int(value)


def _positive(params: Params, name: str, default: int) -> int:
    value = params.get(name, "")
    return int(value) if value.isdigit() and int(value) > 0 else default


def _flag(params: Params, name: str) -> bool:
    return params.get(name, "0").strip() == "1"


def _yes_no(value: bool) -> str:
    return "Yes" if value else "No"


def _given_nameservers(params: Params) -> list[str]:
    given = (params.get(f"ns{i}", "").strip().lower() for i in range(1, MAX_NAMESERVERS + 1))
    return [ns for ns in given if ns]


def _nameservers_or_defaults(params: Params) -> tuple[list[str], bool]:
    """Nameservers for a registration, and whether the given ones were replaced."""
    given = _given_nameservers(params)
    if not given:
        return list(DEFAULT_NAMESERVERS), False
    if len(given) < 2 or not all(is_hostname(ns) for ns in given):
        return list(DEFAULT_NAMESERVERS), True
    return given, False


def _contact(params: Params, state: Transaction) -> tuple[str, bool]:
    """The contact id for a registration, and whether the given data was replaced."""
    contact_id = params.get("contact_id", "").strip()
    if contact_id:
        return (contact_id, False) if contact_id.isdigit() else (DEFAULT_CONTACT_ID, True)
    given = [name for name in CONTACT_FIELDS if params.get(name, "").strip()]
    if not given:
        return DEFAULT_CONTACT_ID, False
    if len(given) < len(CONTACT_FIELDS) or "@" not in params.get("em", ""):
        return DEFAULT_CONTACT_ID, True
    new_id = str(state["next_contact_id"])
    state["next_contact_id"] += 1
    return new_id, False


def _add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February into a common year
        return day.replace(year=day.year + years, day=28)
