"""Emails to the operators that concern many subscriptions at once (OPS_EMAIL)."""
from __future__ import annotations

import hashlib
from urllib.parse import urlsplit

from app.mail import send_once
from app.mail.render import render
from app.settings import Settings


def _to_operators(settings: Settings, kind: str, dedupe_key: str, **fields) -> bool:
    """One email of `kind` (its template's name too) to OPS_EMAIL, else the support address,
    sent once per dedupe key."""
    marketing = settings.MARKETING_SITE_URL.rstrip("/")
    host = (urlsplit(marketing).hostname or "localhost").removeprefix("www.")
    support = f"support@{host}"
    context = {"brand": "mpanel", "support_email": support, "marketing_url": marketing,
               "panel_url": f"{settings.APP_URL.rstrip('/')}/login", "domain": host, "marketing_host": host,
               **fields}
    return send_once(settings, kind=kind, subscription_id=None,
                     recipient=settings.OPS_EMAIL or support, rendered=render(kind, **context),
                     dedupe_key=dedupe_key)


def send_registrar_drift(settings: Settings, day: str, drifted: list[dict]) -> bool:
    """What the nightly registrar sync found different from what we hold, once per day and
    findings (a second sync the same day with the same findings sends nothing)."""
    findings = sorted(f"{d['name']}: {'; '.join(d['problems'])}" for d in drifted)
    digest = hashlib.sha256("\n".join(findings).encode()).hexdigest()[:16]
    return _to_operators(settings, "registrar_drift", f"registrar-drift:{day}:{digest}", day=day, findings=findings)


def send_removals_today(settings: Settings, day: str, removals: list[dict]) -> bool:
    """The day's list of canceled accounts whose retention ends within a day, once a day."""
    lines = [f"{r['domain'] or '(no domain)'} (subscription {r['id']}, {r['email']}): terminated after "
             f"{r['terminate_after']:%Y-%m-%d %H:%M} UTC" for r in removals]
    return _to_operators(settings, "removals_today", f"removals:{day}", day=day, removals=lines)
