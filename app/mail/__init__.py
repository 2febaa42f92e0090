"""Customer emails, sent exactly once by record (rendering: render.py; SMTP: smtp.py).

Every email is a pair of templates, `<kind>.txt` (which also holds the subject, in
`{% block subject %}`) and `<kind>.html` (autoescaped, extending base.html so every
email shares one layout). `send_once` is the only way out: the emails_sent row is
claimed before SMTP and marked sent after it (no transaction open meanwhile), so a dedupe
key that is already recorded sends nothing, and a failed delivery records nothing and can
be retried.

Dedupe keys:
- welcome: `welcome:<subscription id>`, once per subscription;
- lifecycle: `<kind>:<subscription id>:<n>`, n = how many emails of that kind the
  subscription already had. One email per occurrence: a call repeating the most
  recent lifecycle email (a retried job, a webhook delivered twice) sends nothing,
  while suspended -> reactivated -> suspended sends each of the three.
"""
from __future__ import annotations

import logging
import time
from email.utils import parseaddr
from urllib.parse import urlsplit

from app import db
from app.db import emails as records
from app.mail.render import BRAND, RenderedEmail, render
from app.mail.smtp import EmailNotSent, deliver, message_for
from app.observe import metrics
from app.settings import Settings

__all__ = ["EmailNotSent", "RenderedEmail", "UnknownSubscription", "render", "send_once", "send_welcome",
           "send_cpanel_password", "send_lifecycle", "welcome_key", "cpanel_password_key", "welcome_sent",
           "cpanel_password_to_send"]

log = logging.getLogger("mpanel.mail")

LIFECYCLE_KINDS = ("suspended", "reactivated", "canceled")

# Quick-start guides on the marketing site, linked from the welcome email: (title, path, one line).
QUICK_START_GUIDES = (
    ("Upload your website files", "/help/upload-files",
     "Use cPanel's File Manager or any FTP client to put your site in public_html."),
    ("Install WordPress in one click", "/help/install-wordpress",
     "Start a blog or business site in a couple of minutes."),
    ("Set up email on your phone", "/help/email-on-your-phone",
     "Read and send your new mailbox's email on iPhone and Android."),
)


# How long a call waits for another sender's claim on the same email to end (sent or released).
CLAIM_WAIT_SECONDS = 60


class UnknownSubscription(LookupError):
    pass


def send_once(settings: Settings, *, kind: str, subscription_id: int | None, recipient: str,
              rendered: RenderedEmail, dedupe_key: str) -> bool:
    """Send unless `dedupe_key` is already recorded; True when this call sent the email.

    No transaction is open while SMTP runs (a slow relay must hold no pooled connection):
    a short transaction claims the record ('sending'), the relay is handed the message,
    another marks it 'sent'. A refused delivery releases the claim, so a retry sends. A
    concurrent call waits for the claim's outcome. A claim older than
    MPANEL_EMAIL_CLAIM_TIMEOUT_SECONDS is retaken: its sender died, and the one duplicate
    left is a sender that died after the relay accepted and before recording it. A QUIT
    refused after acceptance is not a failure (app.mail.smtp), so it causes no resend.
    """
    message = message_for(settings, recipient, rendered)
    message_id = message["Message-ID"]
    deadline = time.monotonic() + CLAIM_WAIT_SECONDS
    while True:
        with db.transaction(settings.DATABASE_URL) as conn:
            state = records.claim(conn, subscription_id=subscription_id, kind=kind, dedupe_key=dedupe_key,
                                  recipient=recipient, subject=rendered.subject, message_id=message_id,
                                  retake_after_seconds=settings.MPANEL_EMAIL_CLAIM_TIMEOUT_SECONDS)
        if state == "sent":
            log.info("%s email already sent (%s), not sending again", kind, dedupe_key)
            return False
        if state == "claimed":
            break
        if time.monotonic() > deadline:  # the job retries; the claim is retaken if its sender died
            raise EmailNotSent(f"{kind} email {dedupe_key} is being sent by another worker")
        time.sleep(0.2)
    try:
        deliver(settings, message)
    except EmailNotSent:
        metrics.EMAILS.labels(kind, "failed").inc()
        with db.transaction(settings.DATABASE_URL) as conn:
            records.release(conn, dedupe_key, message_id)
        raise
    with db.transaction(settings.DATABASE_URL) as conn:
        records.mark_sent(conn, dedupe_key, message_id)
    metrics.EMAILS.labels(kind, "sent").inc()
    log.info("sent %s email to %s (%s, %s)", kind, recipient, dedupe_key, message_id)
    return True


def _addressee(settings: Settings, subscription_id: int) -> dict:
    with db.transaction(settings.DATABASE_URL) as conn:
        row = records.addressee(conn, subscription_id)
    if row is None:
        raise UnknownSubscription(f"subscription {subscription_id} does not exist")
    return row


def _common_context(settings: Settings, row: dict) -> dict:
    """What every customer email knows: who it is for, and where the panel and support are."""
    marketing = settings.MARKETING_SITE_URL.rstrip("/")
    host = urlsplit(marketing).hostname or "localhost"
    return {
        "brand": parseaddr(settings.SMTP_FROM)[0] or BRAND,
        "first_name": row["first_name"],
        "email": row["email"],
        "plan_name": row["plan_name"],
        "billing_cycle": row["billing_cycle"],
        "domain": row["domain"],
        "panel_url": f"{settings.APP_URL.rstrip('/')}/login",
        "marketing_url": marketing,
        "marketing_host": host,
        "support_email": f"support@{host.removeprefix('www.')}",
    }


def welcome_key(subscription_id: int) -> str:
    """The record that makes the welcome email exactly-once (emails_sent.dedupe_key)."""
    return f"welcome:{subscription_id}"


def send_welcome(settings: Settings, subscription_id: int, outputs: dict, dedupe_key: str | None = None) -> bool:
    """The welcome email with every login the customer needs, once per subscription.

    `outputs` are the subscription's stack outputs, secrets decrypted. An operator's resend
    passes a `dedupe_key` of its own (welcome:<id>:resend:<n>): once per resend.
    """
    row = _addressee(settings, subscription_id)
    context = _common_context(settings, row)
    context.update(
        domain=row["domain"] or outputs["domain"],
        domain_mode=row["domain_mode"],
        # A second site's welcome: the customer logs in to the panel as for their first one,
        # so the account's login is not restated (only this site's own cPanel and mailbox).
        another_site=bool(row.get("has_earlier_site")),
        cpanel_url=outputs["cpanel_url"],
        cpanel_username=outputs["cpanel_username"],
        cpanel_password=outputs["cpanel_password"],
        mailbox_address=outputs["mailbox_address"],
        mailbox_password=outputs["mailbox_password"],
        # What the stack put in the zone; the settings only when an older stack did not export them.
        nameservers=list(outputs.get("nameservers") or (settings.NS1, settings.NS2)),
        server_ip=outputs.get("server_ip") or "",
        certificate_not_after=outputs.get("certificate_not_after") or "",
        # A domain we did not register waits for proof of control before other senders' mail is
        # delivered to it (app/services/domains/proof.py): what to publish, while it waits.
        proof=_waiting_proof(row),
        guides=[{"title": t, "url": context["marketing_url"] + path, "blurb": b} for t, path, b in QUICK_START_GUIDES],
    )
    return send_once(settings, kind="welcome", subscription_id=subscription_id, recipient=row["email"],
                     rendered=render("welcome", **context),
                     dedupe_key=dedupe_key or welcome_key(subscription_id))


def welcome_owed(settings: Settings, subscription_id: int) -> bool:
    """False once the order's hosting was destroyed (terminated before its welcome went out):
    no account is left to welcome the customer to, and no stack to read its logins from."""
    return _addressee(settings, subscription_id)["provisioning_status"] != "destroyed"


def _waiting_proof(row: dict) -> dict | None:
    if row["domain_mode"] in (None, "new_registration") or row.get("control_proven_at") or row.get("control_claimed_at"):
        return None
    return {"record": f"_mpanel-verify.{row['domain']}", "token": row.get("control_token")}


def cpanel_password_key(subscription_id: int, reset: int) -> str:
    return f"cpanel-password:{subscription_id}:{reset}"


def send_cpanel_password(settings: Settings, subscription_id: int, reset: int, outputs: dict) -> bool:
    """The new cPanel password the customer asked for, once per reset."""
    row = _addressee(settings, subscription_id)
    context = _common_context(settings, row)
    context.update(cpanel_url=outputs["cpanel_url"], cpanel_username=outputs["cpanel_username"],
                   cpanel_password=outputs["cpanel_password"])
    return send_once(settings, kind="cpanel_password", subscription_id=subscription_id, recipient=row["email"],
                     rendered=render("cpanel_password", **context),
                     dedupe_key=cpanel_password_key(subscription_id, reset))


def send_lifecycle(settings: Settings, subscription_id: int, kind: str) -> bool:
    """Tell the customer their hosting was suspended, reactivated or canceled; False when already told.

    Call it on every transition into that state; see the module docstring for the dedupe key.
    """
    if kind not in LIFECYCLE_KINDS:
        raise ValueError(f"unknown lifecycle email {kind!r}: expected one of {', '.join(LIFECYCLE_KINDS)}")
    row = _addressee(settings, subscription_id)
    with db.transaction(settings.DATABASE_URL) as conn:
        latest = records.latest_of_kinds(conn, subscription_id, list(LIFECYCLE_KINDS))
        earlier = records.count_of_kind(conn, subscription_id, kind)
    if latest == kind:
        log.info("%s email for subscription %s already sent for this occurrence", kind, subscription_id)
        return False
    context = _common_context(settings, row)
    context.update(past_due_since=row["past_due_since"], terminate_after=row["terminate_after"],
                   current_period_end=row["current_period_end"])
    return send_once(settings, kind=kind, subscription_id=subscription_id, recipient=row["email"],
                     rendered=render(kind, **context), dedupe_key=f"{kind}:{subscription_id}:{earlier}")


def welcome_sent(settings: Settings, subscription_id: int) -> bool:
    with db.transaction(settings.DATABASE_URL) as conn:
        return records.is_recorded(conn, welcome_key(subscription_id))


def cpanel_password_to_send(settings: Settings, subscription_id: int) -> int:
    """The customer's latest password reset that a converge applied and nobody emailed yet (0: none)."""
    with db.transaction(settings.DATABASE_URL) as conn:
        applied = records.cpanel_password_applied(conn, subscription_id)
        if not applied or records.is_recorded(conn, cpanel_password_key(subscription_id, applied)):
            return 0
    return applied


def send_attention_alert(settings: Settings, subscription_id: int) -> bool:
    """Tell the operators that a subscription keeps failing, once per time it is flagged."""
    from app.db.hosting import runs

    with db.transaction(settings.DATABASE_URL) as conn:
        flagged = runs.needing_attention(conn, subscription_id)
    if flagged is None:
        return False  # a run succeeded meanwhile: nothing to tell
    row = _addressee(settings, subscription_id)
    context = _common_context(settings, row)
    context.update(subscription_id=subscription_id, domain=flagged["domain"] or row["domain"],
                   email=flagged["email"], failures=flagged["failures_in_a_row"],
                   error=flagged["provisioning_error"] or "(none recorded)")
    since = int(flagged["needs_attention_since"].timestamp())
    return send_once(settings, kind="needs_attention", subscription_id=subscription_id,
                     recipient=settings.OPS_EMAIL or context["support_email"],
                     rendered=render("needs_attention", **context),
                     dedupe_key=f"needs-attention:{subscription_id}:{since}")
