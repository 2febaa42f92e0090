"""The real owner of a domain held by an unverified order claims it by the same TXT proof.

Anyone can order `victim-corp.com` as an external or transfer domain; until that order proves
control (app/services/domains/proof.py) its mail is not routed, but the name is held: the real
owner's own order is refused while it lives. So the owner asks for a claim (the marketing API,
POST /api/marketing/domain-claims) and gets a token of the claim's own to publish as TXT
`_mpanel-verify.<domain>` (the holding order's token would prove the holder, so it is never
shown). When the claim's check finds it, in one transaction, with the holding domain locked:
- the holding domain no longer holds the name (`control_claimed_at`): the owner can order it;
  it is never proven afterwards, so that order's mail stays unroutable;
- the holding order is flagged "needs attention" with the reason (the operators are told once)
  and nothing of that customer's is destroyed: an operator decides (usually: terminate it,
  which frees the zone and mail domain for the owner's order).
Only a holder that never proved control can be claimed away: a domain we registered, or one
whose order proved control, answers 409. The delegation is no proof for a claim: a domain
delegated to our nameservers proves the holding order instead."""
from __future__ import annotations

from app import db
from app.db.domains import claims as rows
from app.db.hosting import subscriptions
from app.jobs.defer import request_attention_alert
from app.services.common.refusals import Refused
from app.services.domains import proof
from app.settings import Settings
from providers.rules.names import to_ascii


class NotHeld(Refused):
    def __init__(self, name: str):
        super().__init__("domain", f"{name} is not held by any order here: it can be ordered", status=409,
                         code="not_held")


class HeldWithProof(Refused):
    def __init__(self, name: str):
        super().__init__("domain", f"{name} is held by an order that proved control of it (or registered it "
                                   f"through us): contact support", status=409, code="held_with_proof")


class NoSuchClaim(Refused):
    def __init__(self, claim_id: int):
        super().__init__("claimId", f"no domain claim {claim_id}", status=404, code="not_found")


def _name(text) -> str:
    if not isinstance(text, str) or not text.strip():
        raise Refused("domain", "must be a domain name")
    try:
        return to_ascii(text.strip().rstrip(".").lower())
    except ValueError as exc:
        raise Refused("domain", f"is not a domain name we could host: {exc}") from None


def start(settings: Settings, domain) -> dict:
    """A claim on a domain held by an unverified order: the TXT record and token to publish."""
    name = _name(domain)
    with db.transaction(settings.DATABASE_URL) as conn:
        held = rows.holder(conn, name)
        if held is None:
            raise NotHeld(name)
        if held["control_proven_at"] is not None:
            raise HeldWithProof(name)
        return _answer(rows.start(conn, name))


def check(settings: Settings, claim_id: int) -> dict:
    """Look for the claim's token now; when found, release the hold (once) and flag the holder."""
    with db.transaction(settings.DATABASE_URL) as conn:
        claim = rows.claim(conn, claim_id)
    if claim is None:
        raise NoSuchClaim(claim_id)
    if claim["proven_at"] is not None:
        return _answer(claim)
    texts, error = proof.published_txt(settings, claim["name"])  # DNS with no transaction open
    record = proof.record_name(claim["name"])
    if claim["token"] not in texts:
        found = f"could not be checked: {error}" if error else (
            f"{record} has {len(texts)} other TXT value(s)" if texts else f"no TXT at {record}")
        with db.transaction(settings.DATABASE_URL) as conn:
            rows.record_check(conn, claim_id, found, proven=False)
            return _answer(rows.claim(conn, claim_id))
    with db.transaction(settings.DATABASE_URL) as conn:
        held = rows.holder(conn, claim["name"], lock=True)
        if held is not None and held["control_proven_at"] is not None:
            raise HeldWithProof(claim["name"])  # the holder proved control meanwhile: nothing released
        if held is not None:
            reason = (f"the owner of {claim['name']} proved control of it (claim {claim_id}: {record} carries the "
                      f"claim's token); this order never did, so its hold on the name was released and its mail "
                      f"stays unroutable. Nothing was destroyed: decide what becomes of this order")
            rows.release(conn, held["id"], reason)
            if subscriptions.flag(conn, held["subscription_id"], reason):
                request_attention_alert(conn, held["subscription_id"])
        rows.record_check(conn, claim_id, f"{record} carries the claim's token", proven=True,
                          domain_id=held["id"] if held else None)
        return _answer(rows.claim(conn, claim_id))


def _answer(claim: dict) -> dict:
    return {"claimId": claim["id"], "domain": claim["name"], "record": proof.record_name(claim["name"]),
            "token": claim["token"], "status": "claimed" if claim["proven_at"] else "waiting",
            "checkedAt": claim["checked_at"].isoformat() if claim["checked_at"] else None,
            "found": claim["check_result"]}
