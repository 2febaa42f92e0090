"""Emails as text: every kind a pair of templates, `<kind>.txt` (which also holds the
subject, in `{% block subject %}`) and `<kind>.html` (autoescaped, extending base.html)."""
from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

TEMPLATES = Path(__file__).resolve().parents[2] / "templates" / "email"
BRAND = "MigraHosting"  # used when SMTP_FROM carries no display name


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
