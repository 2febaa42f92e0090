"""The invariants `mpanel chaos` checks once the system is quiet, each read from where the
truth lives: the application's rows, the Pulumi checkpoints, and the upstream servers
themselves (WHM, PowerDNS, NameSilo, mail-core, the SMTP server's maildir).
"""
from __future__ import annotations

import base64
import json
import mailbox
from dataclasses import dataclass, field

import psycopg
import requests
from psycopg.rows import dict_row

from app.settings import Settings


@dataclass
class Verdict:
    held: list[str] = field(default_factory=list)
    broken: list[str] = field(default_factory=list)

    def check(self, name: str, problems: list[str]) -> None:
        if problems:
            self.broken.append(f"{name}: " + "; ".join(problems[:8]) + (" ..." if len(problems) > 8 else ""))
        else:
            self.held.append(name)


class Truth:
    """Reads the upstream servers and the engine's checkpoints."""

    def __init__(self, settings: Settings):
        self.s = settings

    def db(self):
        return psycopg.connect(self.s.DATABASE_URL, row_factory=dict_row, autocommit=True, connect_timeout=10)

    def whm_accounts(self, domain: str) -> list[dict]:
        r = requests.get(f"{self.s.CPANEL_WHM_URL}/json-api/listaccts", timeout=30,
                         params={"api.version": 1, "search": domain, "searchtype": "domain", "searchmethod": "exact"},
                         headers={"Authorization": f"whm {self.s.CPANEL_WHM_USERNAME}:{self.s.CPANEL_WHM_API_TOKEN}"})
        r.raise_for_status()
        return (r.json().get("data") or {}).get("acct") or []

    def zone(self, domain: str) -> dict | None:
        r = requests.get(f"{self.s.POWERDNS_API_URL}/api/v1/servers/localhost/zones/{domain}.", timeout=30,
                         headers={"X-API-Key": self.s.POWERDNS_API_KEY, "Accept": "application/json"})
        if r.status_code == 404 or (r.status_code == 422 and "not found" in r.text.lower()):
            return None
        r.raise_for_status()
        return r.json()

    def registration(self, domain: str) -> dict | None:
        r = requests.get(f"{self.s.NAMESILO_API_URL}/getDomainInfo", timeout=30,
                         params={"version": 1, "type": "json", "key": self.s.NAMESILO_API_KEY, "domain": domain})
        reply = r.json()["reply"]
        return reply if str(reply.get("code")) == "300" else None

    def mail(self, domain: str) -> tuple[list[dict], list[str]]:
        with psycopg.connect(self.s.MAILCORE_DATABASE_URL, row_factory=dict_row, connect_timeout=10) as conn:
            domains = conn.execute("SELECT name, owner FROM mail_domains WHERE name = %s", (domain,)).fetchall()
            boxes = [r["address"] for r in conn.execute("SELECT address FROM mailboxes WHERE domain = %s", (domain,))]
        return domains, boxes

    def claims(self, domain: str) -> list[dict]:
        with psycopg.connect(self.s.MAILCORE_DATABASE_URL, row_factory=dict_row, connect_timeout=10) as conn:
            try:
                return conn.execute("SELECT provider, owner FROM upstream_claims WHERE natural_key = %s",
                                    (domain,)).fetchall()
            except psycopg.errors.UndefinedTable:
                return []

    def checkpoints(self) -> dict[str, dict]:
        """Stack name -> its latest checkpoint, read from the postgres:// backend."""
        url = self.s.PULUMI_BACKEND_URL.replace("postgres://", "postgresql://", 1)
        found = {}
        with psycopg.connect(url, connect_timeout=10) as conn:
            for key, blob in conn.execute("SELECT key, data FROM pulumi_state WHERE key LIKE %s",
                                          ("%/stacks/%.json",)):
                found[key.rsplit("/", 1)[1].removesuffix(".json")] = \
                    json.loads(base64.b64decode(blob["data"]))["checkpoint"].get("latest") or {}
        return found

    def mails_to(self, address: str) -> list:
        return [m for m in mailbox.Maildir(self.s.SMTP_MAILDIR, create=True)
                if address.lower() in (m.get("To") or "").lower()]


def _stack_objects(checkpoint: dict) -> dict[str, list[str]]:
    """What a stack's checkpoint says it made upstream, by kind."""
    kinds: dict[str, list[str]] = {"whm": [], "zone": [], "mail_domain": [], "mailbox": [], "registration": []}
    for r in checkpoint.get("resources") or []:
        out, typ = r.get("outputs") or {}, r.get("type", "")
        if typ.endswith("mailcore:MailDomain"):
            kinds["mail_domain"].append(r["id"])
        elif typ.endswith("mailcore:Mailbox"):
            kinds["mailbox"].append(r["id"])
        elif typ == "pulumi-python:dynamic:Resource" and "created_domain" in out:
            kinds["whm"].append(r["id"])
        elif typ == "pulumi-python:dynamic:Resource" and "mail_host" in out and "nameservers" in out:
            kinds["zone"].append(r["id"])
        elif typ == "pulumi-python:dynamic:Resource" and ("registration_status" in out or out.get("mode")):
            kinds["registration"].append(r["id"])
    return kinds


def check_orders(settings: Settings, verdict: Verdict, paid: list, decoys: list, victims: dict[int, str],
                 genuine_events: list[str]) -> None:
    """Every paid order active with exactly one of everything; decoys and forgeries left no trace."""
    truth = Truth(settings)
    stacks = truth.checkpoints()
    with truth.db() as conn:
        rows = {r["id"]: r for r in conn.execute(
            "SELECT id, status, provisioning_status, provisioning_error, needs_attention_since "
            "FROM subscriptions WHERE id = ANY(%s)", ([o.subscription_id for o in paid + decoys],))}
        welcomes = {r["subscription_id"]: r["n"] for r in conn.execute(
            "SELECT subscription_id, count(*) AS n FROM emails_sent WHERE kind = 'welcome' "
            "AND subscription_id = ANY(%s) GROUP BY subscription_id", ([o.subscription_id for o in paid],))}
        forged_recorded = conn.execute("SELECT count(*) AS n FROM stripe_events WHERE id LIKE 'evt_chaos_%%'"
                                       ).fetchone()["n"]
        events = {r["id"]: r for r in conn.execute(
            "SELECT id, processed_at FROM stripe_events WHERE id = ANY(%s)", (genuine_events,))}
        decoy_runs = conn.execute("SELECT count(*) AS n FROM provisioning_runs WHERE subscription_id = ANY(%s)",
                                  ([o.subscription_id for o in decoys],)).fetchone()["n"]

    active, one_each, welcome, orphans = [], [], [], []
    for order in paid:
        sid, row = order.subscription_id, rows.get(order.subscription_id)
        if sid in victims:
            continue
        if not row or row["status"] != "active" or row["provisioning_status"] != "ready" \
                or row["needs_attention_since"] is not None:
            active.append(f"#{sid} {row and row['status']}/{row and row['provisioning_status']} "
                          f"{(row and row['provisioning_error']) or ''}".strip())
        stack = stacks.get(f"sub-{sid}")
        made = _stack_objects(stack or {})
        if stack is None:
            one_each.append(f"#{sid} has no stack")
        elif stack.get("pending_operations"):
            one_each.append(f"#{sid} stack has pending operations")
        accounts = truth.whm_accounts(order.domain)
        if len(accounts) != 1 or (made["whm"] and accounts[0].get("user") not in made["whm"]):
            one_each.append(f"#{sid} WHM accounts {[a.get('user') for a in accounts]} (stack: {made['whm']})")
        zone = truth.zone(order.domain)
        if zone is None or zone.get("account") != f"sub-{sid}" or len(made["zone"]) != 1:
            one_each.append(f"#{sid} zone {zone and zone.get('account')} (stack: {made['zone']})")
        registration = truth.registration(order.domain)
        if (registration is None) == (order.mode == "new_registration"):
            one_each.append(f"#{sid} registration {'missing' if registration is None else 'unexpected'}")
        domains, boxes = truth.mail(order.domain)
        if len(domains) != 1 or domains[0]["owner"] != f"sub-{sid}" or sorted(boxes) != sorted(made["mailbox"]) \
                or not boxes:
            one_each.append(f"#{sid} mail domain {domains} mailboxes {boxes} (stack: {made['mailbox']})")
        received = [m for m in truth.mails_to(order.email) if "welcome" in (m.get("Subject") or "").lower()]
        if welcomes.get(sid, 0) != 1 or len(received) != 1:
            welcome.append(f"#{sid} welcome recorded {welcomes.get(sid, 0)}x, received {len(received)}x")
    for order in decoys:
        row = rows.get(order.subscription_id)
        left = []
        if truth.whm_accounts(order.domain):
            left.append("WHM account")
        if truth.zone(order.domain) is not None:
            left.append("zone")
        if truth.mail(order.domain)[0]:
            left.append("mail domain")
        if truth.claims(order.domain):
            left.append("claim")
        if f"sub-{order.subscription_id}" in stacks:
            left.append("stack")
        if left or not row or row["status"] != "pending_payment":
            orphans.append(f"unpaid decoy #{order.subscription_id} ({row and row['status']}): {left}")
    verdict.check("every paid order active and ready, not flagged", active)
    verdict.check("exactly one WHM account, zone, registration (when ordered), mailbox set per order, "
                  "each in its stack", one_each)
    verdict.check("exactly one welcome email per order (recorded and received)", welcome)
    verdict.check("no upstream object without a live stack (decoys and forgeries built nothing)", orphans)
    verdict.check("no forged or stale event recorded", [f"{forged_recorded} recorded"] if forged_recorded else [])
    verdict.check("every genuine event recorded and processed",
                  [e for e in genuine_events if e not in events or events[e]["processed_at"] is None])
    verdict.check("no run for an unpaid decoy", [f"{decoy_runs} runs"] if decoy_runs else [])


def check_victims(settings: Settings, verdict: Verdict, victims: dict[int, str]) -> None:
    """Each permanent fault is on its subscription, flagged, with the reason."""
    problems = []
    with Truth(settings).db() as conn:
        for sid, reason in victims.items():
            row = conn.execute("SELECT provisioning_status, provisioning_error, needs_attention_since "
                               "FROM subscriptions WHERE id = %s", (sid,)).fetchone()
            if not row or row["needs_attention_since"] is None or reason not in (row["provisioning_error"] or ""):
                problems.append(f"#{sid}: {row and dict(row)} (expected the reason {reason!r})")
            alerts = conn.execute("SELECT count(*) AS n FROM emails_sent WHERE subscription_id = %s "
                                  "AND kind = 'needs_attention'", (sid,)).fetchone()["n"]
            if alerts < 1:
                problems.append(f"#{sid}: no alert email recorded")
    verdict.check("every permanent fault reported on its subscription with the reason", problems)
