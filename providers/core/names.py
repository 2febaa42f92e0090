"""Domain and host name rules: the one place that says what a name may look like.

Used by the checkout's validation, every provider's `check`, and the stand-ins, so a
name the API accepts is a name every upstream accepts, and the reason for a refusal
reads the same everywhere. Names travel in their ASCII form (IDNs as punycode, `xn--`).
"""
from __future__ import annotations

import re
from typing import Any

MAX_NAME = 253
# LDH: letters, digits, hyphens; no hyphen at either end; 1-63 characters.
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
# A top-level label: alphabetic, or an IDN TLD in punycode.
_TLD = re.compile(r"^(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})$")
# Labels of DNS record owners may also carry underscores (_dmarc, _acme-challenge, SRV's _sip._tcp).
_RECORD_LABEL = re.compile(r"^(?:\*|[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)$")


def bare(name: str) -> str:
    """A name as people and most APIs write it: lower-case, no trailing dot."""
    return name.strip().lower().rstrip(".")


def canonical(name: str) -> str:
    """A name as DNS servers write it: lower-case with the trailing dot."""
    return bare(name) + "."


def domain_problem(name: Any) -> str | None:
    """Why `name` is not a domain or host name we accept, or None when it is one."""
    if not isinstance(name, str) or not name.strip():
        return "a domain name is required, e.g. example.com"
    if not name.isascii():
        return f"{name!r} is not ASCII: give the punycode (xn--) form"
    name = bare(name)
    labels = name.split(".")
    if len(name) > MAX_NAME or len(labels) < 2 or not all(_LABEL.match(label) for label in labels):
        return f"{name!r} is not a valid domain name (letters, digits and hyphens, at least two labels)"
    if not _TLD.match(labels[-1]):
        return f"{name!r} is not a valid domain name (the top-level label must be alphabetic)"
    return None


def is_hostname(name: Any) -> bool:
    """A fully qualified host name: LDH labels, at least two, an alphabetic (or punycode) TLD."""
    return domain_problem(name) is None


def record_label_ok(label: str) -> bool:
    """One label of a record's owner name (relative to its zone): LDH plus '_' and a lone '*'."""
    return bool(_RECORD_LABEL.match(label))


def label_ok(label: str) -> bool:
    """One LDH label (a DKIM selector part, a mailbox domain part)."""
    return bool(_LABEL.match(label))
