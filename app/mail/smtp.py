"""Handing a rendered email to the SMTP relay (STARTTLS where offered, never a password in clear)."""
from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.policy import EmailPolicy
from email.utils import formatdate, make_msgid, parseaddr

from app.mail.render import RenderedEmail
from app.settings import Settings

SMTP_TIMEOUT_SECONDS = 30


class EmailNotSent(RuntimeError):
    """The SMTP server could not be reached or refused the message; nothing was recorded, so retry."""


# Free-text headers folded word by word here (address and date headers have a grammar to respect).
WORD_WRAPPED = frozenset({"subject"})
# RFC 2047: an encoded word is at most 75 characters; "=?utf-8?q?" and "?=" take 12 of them.
ENCODED_WORD_PAYLOAD = 56
_Q_LITERAL = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!*+-/")


class WordWrappingPolicy(EmailPolicy):
    """The default policy, except that the Subject is folded only where a line would exceed
    max_line_length, at the last space that fits.

    The standard folder treats the whole value as one unit: when it fits on a line of its own
    but not after `Subject: `, it moves all of it to the next line, leaving `Subject:` alone,
    and some mail readers then show the subject with a leading space. Before an encoded word
    it also keeps the space and folds, which decodes as two spaces."""

    def fold(self, name, value):
        if name.lower() not in WORD_WRAPPED:
            return super().fold(name, value)
        return self._word_wrapped(name, str(value))

    def fold_binary(self, name, value):
        if name.lower() not in WORD_WRAPPED:
            return super().fold_binary(name, value)
        return self._word_wrapped(name, str(value)).encode("ascii")

    def _word_wrapped(self, name: str, text: str) -> str:
        limit = self.max_line_length or 998
        lines = [f"{name}:"]
        for token in _header_tokens(text):
            if lines[-1] == f"{name}:" or len(lines[-1]) + 1 + len(token) <= limit:
                lines[-1] += " " + token  # the first word always follows the name
            else:
                lines.append(" " + token)  # the fold's whitespace is the one between the words
        return self.linesep.join(lines) + self.linesep


def _plain(word: str) -> bool:
    return word.isascii() and word.isprintable() and "=?" not in word


def _header_tokens(text: str) -> list[str]:
    """The value as tokens meant to be joined by single spaces (or folds): plain words as they
    are, anything else as RFC 2047 encoded words. Whitespace between two encoded words is not
    part of the text, so the space between two encoded words travels inside the first."""
    words = text.split()
    tokens: list[str] = []
    for i, word in enumerate(words):
        if _plain(word):
            tokens.append(word)
            continue
        if i + 1 < len(words) and not _plain(words[i + 1]):
            word += " "
        chunk = ""
        for char in word:
            encoded = "_" if char == " " else char if char in _Q_LITERAL else "".join(
                f"={byte:02X}" for byte in char.encode("utf-8"))
            if len(chunk) + len(encoded) > ENCODED_WORD_PAYLOAD:
                tokens.append(f"=?utf-8?q?{chunk}?=")
                chunk = ""
            chunk += encoded
        tokens.append(f"=?utf-8?q?{chunk}?=")
    return tokens


MESSAGE_POLICY = WordWrappingPolicy()  # otherwise email.policy.default


def message_for(settings: Settings, recipient: str, rendered: RenderedEmail) -> EmailMessage:
    sender_domain = parseaddr(settings.SMTP_FROM)[1].rpartition("@")[2] or None
    message = EmailMessage(policy=MESSAGE_POLICY)
    message["From"] = settings.SMTP_FROM
    message["To"] = recipient
    message["Subject"] = rendered.subject
    message["Date"] = formatdate(localtime=True)
    message["Message-ID"] = make_msgid(domain=sender_domain)
    message.set_content(rendered.text)
    message.add_alternative(rendered.html, subtype="html")
    return message


def _hang_up(smtp: smtplib.SMTP) -> None:
    """QUIT, whatever the server answers: once the message is accepted, a refused or dropped
    QUIT changes nothing (`with smtp:` would raise on a reply other than 221, and the retry
    would then send the accepted message a second time)."""
    try:
        smtp.docmd("QUIT")
    except (smtplib.SMTPException, OSError):
        pass
    finally:
        smtp.close()


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
        try:
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
        finally:
            _hang_up(smtp)
    except smtplib.SMTPAuthenticationError as exc:
        raise EmailNotSent(f"SMTP server {where} refused the login for {settings.SMTP_USER} "
                           f"({exc.smtp_code})") from exc
    except (smtplib.SMTPException, OSError) as exc:
        raise EmailNotSent(f"could not send {message['Subject']!r} to {message['To']} via {where}: "
                           f"{type(exc).__name__}: {exc}") from exc
