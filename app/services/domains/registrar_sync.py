"""The nightly registrar sync: what NameSilo says about every registration held through us.

For each live domain registered or transferred through us, `getDomainInfo` is asked; its expiry
and nameservers are recorded on the domain (the dashboard and the domain page show them), and
what differs from what we hold is reported to the operators in one email a day: nameservers
other than ours, a status other than Active, a domain missing from the account. Nothing is
changed at the registrar here: nameservers and auto-renew are the stack's inputs, set back by
the subscription's next converge; the rest needs a person.
"""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

from app import db
from app.db.domains import domain_state as rows
from app.mail.ops import send_registrar_drift
from app.services.hosting.engine import provider_config
from app.settings import Settings
from providers.core.errors import NotFound, ProviderError
from providers.clients.namesilo import NameSiloClient

log = logging.getLogger("mpanel.registrar")


@dataclass
class SyncReport:
    checked: int = 0
    updated: int = 0
    unreachable: int = 0
    drifted: list[dict] = field(default_factory=list)


def sync_registrations(settings: Settings, client: NameSiloClient | None = None,
                       today: dt.date | None = None) -> SyncReport:
    with db.transaction(settings.DATABASE_URL) as conn:
        domains = rows.registered_here(conn)
    client = client or NameSiloClient(provider_config(settings))
    ours = sorted(ns.lower().rstrip(".") for ns in (settings.NS1, settings.NS2) if ns)
    report = SyncReport()
    for domain in domains:
        report.checked += 1
        try:
            info = client.domain_info(domain["name"])
        except NotFound:
            report.drifted.append({"name": domain["name"], "problems": ["not in our registrar account"]})
            continue
        except ProviderError as exc:
            report.unreachable += 1
            log.warning("registrar sync: %s could not be read: %s", domain["name"], exc.message)
            continue
        nameservers = [str(n.get("nameserver", "")).lower().rstrip(".") for n in (info.get("nameservers") or [])
                       if isinstance(n, dict)]
        expires = _expiry(info.get("expires"))
        with db.transaction(settings.DATABASE_URL) as conn:
            if rows.record_registrar_state(conn, domain["domain_id"], expires, nameservers):
                report.updated += 1
        problems = []
        if sorted(nameservers) != ours:
            problems.append(f"nameservers {', '.join(nameservers) or '(none)'} instead of {', '.join(ours)}")
        if str(info.get("status") or "").lower() != "active":
            problems.append(f"status {info.get('status') or '(none)'}")
        if problems:
            report.drifted.append({"name": domain["name"], "problems": problems})
    for found in report.drifted:
        log.warning("registrar drift: %s: %s", found["name"], "; ".join(found["problems"]))
    if report.drifted:
        send_registrar_drift(settings, (today or dt.date.today()).isoformat(), report.drifted)
    log.info("registrar sync: %d checked, %d updated, %d drifted, %d unreachable", report.checked,
             report.updated, len(report.drifted), report.unreachable)
    return report


def _expiry(value) -> dt.datetime | None:
    try:
        return dt.datetime.combine(dt.date.fromisoformat(str(value)[:10]), dt.time(), dt.timezone.utc)
    except ValueError:
        return None
