"""The raw header lines of the messages mpanel sends (app/mail/smtp.py message_for)."""
from __future__ import annotations

import email
from email.policy import default as default_policy
from types import SimpleNamespace

import pytest

from app.mail.render import RenderedEmail
from app.mail.smtp import message_for

SETTINGS = SimpleNamespace(SMTP_FROM="MigraHosting <noreply@migrahosting.com>")


def raw_of(subject: str) -> bytes:
    rendered = RenderedEmail(subject=subject, text="Plain words.\n", html="<p>Plain words.</p>")
    return bytes(message_for(SETTINGS, "ada@example.net", rendered))


def subject_lines(raw: bytes) -> list[str]:
    lines = raw.decode("ascii").split("\n")
    start = next(i for i, line in enumerate(lines) if line.startswith("Subject:"))
    end = next(i for i in range(start + 1, len(lines)) if not lines[i].startswith((" ", "\t")))
    return lines[start:end]


def decoded_subject(raw: bytes) -> str:
    return str(email.message_from_bytes(raw, policy=default_policy)["Subject"])


def test_a_welcome_subject_a_little_too_long_for_one_line_is_folded_at_its_last_fitting_space():
    subject = "Welcome to MigraHosting: your hosting for shop-fold-1a2b3c.example is ready"
    assert len("Subject: " + subject) > 78  # the length the standard folder moves to a line of its own

    lines = subject_lines(raw_of(subject))

    assert lines == ["Subject: Welcome to MigraHosting: your hosting for shop-fold-1a2b3c.example is",
                     " ready"]
    assert decoded_subject(raw_of(subject)) == subject


def test_a_subject_that_fits_stays_on_one_line():
    assert subject_lines(raw_of("Welcome to MigraHosting: your hosting for shop.example is ready")) == [
        "Subject: Welcome to MigraHosting: your hosting for shop.example is ready"]


@pytest.mark.parametrize("length", range(0, 200, 7))
def test_no_subject_is_folded_right_after_the_header_name_and_each_decodes_to_itself(length):
    subject = f"Welcome to MigraHosting: your hosting for {'x' * length}.example is ready"
    raw = raw_of(subject)
    lines = subject_lines(raw)
    assert lines[0].startswith("Subject: Welcome")
    assert all(len(line) <= 78 for line in lines if " " in line.strip() or len(line.strip()) < 70)
    assert decoded_subject(raw) == subject


def test_a_long_subject_is_folded_at_spaces_into_lines_within_the_limit():
    subject = " ".join(f"word{i}" for i in range(60))
    lines = subject_lines(raw_of(subject))
    assert len(lines) > 3 and all(len(line) <= 78 for line in lines)
    assert decoded_subject(raw_of(subject)) == subject


@pytest.mark.parametrize("subject", [
    "Bienvenue chez MigraHosting : votre hébergement pour une-boutique-de-café.example est prêt",
    "Welcome to MigraHosting: your hosting for shop.example is ready — here are your logins and more",
    "Café crème brûlée: three encoded words in a row keep their spaces — " + "é" * 90 + " and the end",
    "Welcome to MígraHosting: your hosting for shop-fold-1a2b3c.example is ready",
])
def test_a_subject_that_needs_encoding_is_encoded_folded_and_decodes_to_itself(subject):
    raw = raw_of(subject)
    lines = subject_lines(raw)
    assert lines[0] != "Subject:" and all(len(line) <= 78 for line in lines)
    assert decoded_subject(raw) == subject
