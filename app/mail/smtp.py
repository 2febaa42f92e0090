"""Handing a rendered email to the SMTP relay (STARTTLS where offered, never a password in clear)."""
from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr

from app.mail.render import RenderedEmail
from app.settings import Settings

SMTP_TIMEOUT_SECONDS = 30


class EmailNotSent(RuntimeError):
    """The SMTP server could not be reached or refused the message; nothing was recorded, so retry."""


def message_for(settings: Settings, recipient: str, rendered: RenderedEmail) -> EmailMessage:
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


def deliver(settings: Settings, message: EmailMessage) -> None:
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
