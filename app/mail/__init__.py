"""Customer emails: rendered from templates/email, sent exactly once by record.

Every email is a pair of templates, `<kind>.txt` (which also holds the subject, in
`{% block subject %}`) and `<kind>.html` (autoescaped, extending base.html so every
email shares one layout). `send_once` is the only way out: the emails_sent row and
the SMTP delivery share one database transaction, so a dedupe key that is already
recorded sends nothing, and a failed delivery records nothing and can be retried.

Dedupe keys:
- welcome: `welcome:<subscription id>`, once per subscription;
- lifecycle: `<kind>:<subscription id>:<n>`, n = how many emails of that kind the
  subscription already had. One email per occurrence: a call repeating the most
  recent lifecycle email (a retried job, a webhook delivered twice) sends nothing,
  while suspended -> reactivated -> suspended sends each of the three.
"""
from __future__ import annotations

import datetime
import logging
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from app import db
from app.settings import Settings

log = logging.getLogger("mpanel.mail")

TEMPLATES = Path(__file__).resolve().parents[1] / "templates" / "email"
BRAND = "MigraHosting"  # used when SMTP_FROM carries no display name
SMTP_TIMEOUT_SECONDS = 30
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


class EmailNotSent(RuntimeError):
    """The SMTP server could not be reached or refused the message; nothing was recorded, so retry."""


class UnknownSubscription(LookupError):
    pass


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


def _long_date(value: Any) -> str:
    """`February 23, 2026` from a date, a datetime, an ISO 8601 string or epoch seconds."""
    if value in (None, ""):
        return ""
    if isinstance(value, (int, float)):
        value = datetime.datetime.fromtimestamp(value, datetime.timezone.utc)
    elif isinstance(value, str):
        try:
            value = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    return f"{value:%B} {value.day}, {value.year}"


_env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
    undefined=StrictUndefined,  # a context key missing from a send_* function fails loudly, not blank
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)
_env.filters["long_date"] = _long_date
_env.globals["brand"] = BRAND


def render(kind: str, **context: Any) -> RenderedEmail:
    """The subject, text part and HTML part of one email kind, from templates/email/<kind>.{txt,html}."""
    text_template = _env.get_template(f"{kind}.txt")
    subject = "".join(text_template.blocks["subject"](text_template.new_context(context)))
    subject = " ".join(subject.split())  # one header line, whatever the template's layout
    text = text_template.render(context).strip() + "\n"
    html = _env.get_template(f"{kind}.html").render(context, subject=subject)
    return RenderedEmail(subject=subject, text=text, html=html)


# --- sending ---------------------------------------------------------------------------

def send_once(settings: Settings, *, kind: str, subscription_id: int | None, recipient: str,
              rendered: RenderedEmail, dedupe_key: str) -> bool:
    """Send unless `dedupe_key` is already recorded; True when this call sent the email.

    The row is inserted first and the transaction stays open while SMTP runs: a
    concurrent call with the same key waits on the unique index and then finds it
    taken, and an SMTP failure rolls the row back. The one gap left is a commit that
    fails after the server accepted the message; a retry then sends it again.
    """
    message = _message(settings, recipient, rendered)
    with db.transaction(settings.DATABASE_URL) as conn:
        row = conn.execute(
            """INSERT INTO emails_sent (subscription_id, kind, dedupe_key, recipient, subject, message_id)
               VALUES (%s, %s, %s, %s, %s, %s)
               ON CONFLICT (dedupe_key) DO NOTHING RETURNING id""",
            (subscription_id, kind, dedupe_key, recipient, rendered.subject, message["Message-ID"])).fetchone()
        if row is None:
            log.info("%s email already sent (%s), not sending again", kind, dedupe_key)
            return False
        _deliver(settings, message)
    log.info("sent %s email to %s (%s, %s)", kind, recipient, dedupe_key, message["Message-ID"])
    return True


def _message(settings: Settings, recipient: str, rendered: RenderedEmail) -> EmailMessage:
    sender_domain = parseaddr(settings.SMTP_FROM)[1].rpartition("@")[2] or None
    message = EmailMessage()
    message["From"] = settings.SMTP_FROM
    message["To"] = recipient
    message["Subject"] = rendered.subject
    message["Date"] = formatdate(localtime=True)
    message["Message-ID"] = make_msgid(domain=sender_domain)
    message.set_content(rendered.text)
    message.add_alternative(rendered.html, subtype="html")
    return message


def _deliver(settings: Settings, message: EmailMessage) -> None:
    where = f"{settings.SMTP_HOST}:{settings.SMTP_PORT}"
    if not settings.SMTP_HOST:
        raise EmailNotSent("SMTP_HOST is not set")
    try:
        tls = ssl.create_default_context()
        if settings.SMTP_PORT == 465:  # implicit TLS; every other port negotiates STARTTLS
            smtp = smtplib.SMTP_SSL(settings.SMTP_HOST, settings.SMTP_PORT, timeout=SMTP_TIMEOUT_SECONDS,
                                    context=tls)
        else:
            smtp = smtplib.SMTP(settings.SMTP_HOST, settings.SMTP_PORT, timeout=SMTP_TIMEOUT_SECONDS)
        with smtp:
            smtp.ehlo()
            if not isinstance(smtp, smtplib.SMTP_SSL) and smtp.has_extn("starttls"):
                smtp.starttls(context=tls)
                smtp.ehlo()
            if settings.SMTP_USER:
                encrypted = isinstance(smtp.sock, ssl.SSLSocket)
                if not encrypted and settings.SMTP_HOST not in ("127.0.0.1", "localhost", "::1"):
                    # Never hand the relay password to a server (or a downgrading middlebox) in clear.
                    raise EmailNotSent(f"SMTP server {where} offers no TLS: refusing to send SMTP_PASS in clear")
                smtp.login(settings.SMTP_USER, settings.SMTP_PASS)
            smtp.send_message(message)
    except smtplib.SMTPAuthenticationError as exc:
        raise EmailNotSent(f"SMTP server {where} refused the login for {settings.SMTP_USER} "
                           f"({exc.smtp_code})") from exc
    except (smtplib.SMTPException, OSError) as exc:
        raise EmailNotSent(f"could not send {message['Subject']!r} to {message['To']} via {where}: "
                           f"{type(exc).__name__}: {exc}") from exc


# --- the emails ------------------------------------------------------------------------

_SUBSCRIPTION = """
    SELECT s.id, s.billing_cycle, s.past_due_since, s.terminate_after, s.current_period_end,
           u.email, c.first_name, p.name AS plan_name, d.name AS domain, d.mode AS domain_mode
      FROM subscriptions s
      JOIN customers c ON c.id = s.customer_id
      JOIN users u ON u.id = c.user_id
      JOIN plans p ON p.id = s.plan_id
      LEFT JOIN LATERAL (SELECT name, mode FROM domains
                          WHERE subscription_id = s.id
                          ORDER BY status = 'released', id DESC LIMIT 1) d ON true
     WHERE s.id = %s
"""


def _subscription(conn: psycopg.Connection, subscription_id: int) -> dict:
    row = conn.execute(_SUBSCRIPTION, (subscription_id,)).fetchone()
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


def send_welcome(settings: Settings, subscription_id: int, outputs: dict) -> bool:
    """The welcome email with every login the customer needs, once per subscription.

    `outputs` are the subscription's stack outputs, secrets decrypted.
    """
    with db.transaction(settings.DATABASE_URL) as conn:
        row = _subscription(conn, subscription_id)
    context = _common_context(settings, row)
    context.update(
        domain=row["domain"] or outputs["domain"],
        domain_mode=row["domain_mode"],
        cpanel_url=outputs["cpanel_url"],
        cpanel_username=outputs["cpanel_username"],
        cpanel_password=outputs["cpanel_password"],
        mailbox_address=outputs["mailbox_address"],
        mailbox_password=outputs["mailbox_password"],
        # What the stack put in the zone; the settings only when an older stack did not export them.
        nameservers=list(outputs.get("nameservers") or (settings.NS1, settings.NS2)),
        server_ip=outputs.get("server_ip") or "",
        certificate_not_after=outputs.get("certificate_not_after") or "",
        guides=[{"title": t, "url": context["marketing_url"] + path, "blurb": b} for t, path, b in QUICK_START_GUIDES],
    )
    return send_once(settings, kind="welcome", subscription_id=subscription_id, recipient=row["email"],
                     rendered=render("welcome", **context), dedupe_key=welcome_key(subscription_id))


def cpanel_password_key(subscription_id: int, reset: int) -> str:
    return f"cpanel-password:{subscription_id}:{reset}"


def send_cpanel_password(settings: Settings, subscription_id: int, reset: int, outputs: dict) -> bool:
    """The new cPanel password the customer asked for, once per reset."""
    with db.transaction(settings.DATABASE_URL) as conn:
        row = _subscription(conn, subscription_id)
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
    with db.transaction(settings.DATABASE_URL) as conn:
        row = _subscription(conn, subscription_id)
        latest = conn.execute("SELECT kind FROM emails_sent WHERE subscription_id = %s AND kind = ANY(%s) "
                              "ORDER BY id DESC LIMIT 1",
                              (subscription_id, list(LIFECYCLE_KINDS))).fetchone()
        earlier = conn.execute("SELECT count(*) AS n FROM emails_sent WHERE subscription_id = %s AND kind = %s",
                               (subscription_id, kind)).fetchone()["n"]
    if latest is not None and latest["kind"] == kind:
        log.info("%s email for subscription %s already sent for this occurrence", kind, subscription_id)
        return False
    context = _common_context(settings, row)
    context.update(past_due_since=row["past_due_since"], terminate_after=row["terminate_after"],
                   current_period_end=row["current_period_end"])
    return send_once(settings, kind=kind, subscription_id=subscription_id, recipient=row["email"],
                     rendered=render(kind, **context), dedupe_key=f"{kind}:{subscription_id}:{earlier}")
