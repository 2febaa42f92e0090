"""Domain and host name rules: the one place that says what a name may look like.

Used by the checkout's validation, every provider's `check`, and the stand-ins, so a
name the API accepts is a name every upstream accepts, and the reason for a refusal
reads the same everywhere. Names travel in their ASCII form (IDNs as punycode, `xn--`):
`to_ascii` turns what a person typed into that form (IDNA 2008 with the UTS 46 mapping
browsers apply, via the `idna` package), `to_unicode` turns it back for showing.
"""
from __future__ import annotations

import re
from typing import Any

import idna

MAX_NAME = 253
# LDH: letters, digits, hyphens; no hyphen at either end; 1-63 characters.
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
# A top-level label: alphabetic, or an IDN TLD in punycode.
_TLD = re.compile(r"^(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})$")
# Labels of DNS record owners may also carry underscores (_dmarc, _acme-challenge, SRV's _sip._tcp).
_RECORD_LABEL = re.compile(r"^(?:\*|[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)$")
ACE_PREFIX = "xn--"

# Public suffixes with two labels, for the registrable domain of a name. A small list on
# purpose (the full Public Suffix List is a moving 10,000-line download): the registries
# people here are likely to order under. A suffix not listed counts as one label, which
# errs towards the broader registrable domain (example.com.xx -> com.xx), never the narrower.
TWO_LABEL_SUFFIXES = frozenset({
    "co.uk", "org.uk", "me.uk", "ltd.uk", "plc.uk", "net.uk", "ac.uk", "gov.uk", "sch.uk", "nhs.uk",
    "com.au", "net.au", "org.au", "edu.au", "gov.au", "id.au", "asn.au",
    "co.nz", "net.nz", "org.nz", "ac.nz", "govt.nz",
    "co.jp", "ne.jp", "or.jp", "ac.jp", "go.jp",
    "co.za", "org.za", "net.za", "gov.za",
    "com.br", "net.br", "org.br", "gov.br",
    "com.mx", "org.mx", "com.ar", "com.co", "com.pe",
    "com.cn", "net.cn", "org.cn", "gov.cn", "com.hk", "com.tw", "com.sg", "com.my", "com.ph",
    "co.in", "net.in", "org.in", "gov.in", "co.id", "co.il", "co.kr", "or.kr",
    "com.tr", "com.ua", "com.pk", "com.ng", "com.eg", "com.sa",
})


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
    for label in labels:
        if label.startswith(ACE_PREFIX):
            problem = a_label_problem(label)
            if problem:
                return f"{name!r} is not a valid domain name ({problem})"
    return None


def a_label_problem(label: str) -> str | None:
    """Why an `xn--` label is not a genuine IDNA 2008 A-label (None when it is one): it must
    decode to a valid U-label that encodes back to exactly the same label."""
    try:
        unicode = idna.decode(label)
        again = idna.encode(unicode).decode("ascii")
    except (idna.IDNAError, UnicodeError):
        # idna's own text quotes the decoded garbage (control characters and all): keep it out.
        return f"{label!r} is not a valid IDNA A-label (it does not decode to a valid Unicode label)"
    if unicode.isascii() or again != label:
        return f"{label!r} is not a valid IDNA A-label (it does not encode back to itself)"
    return None


def to_ascii(name: Any) -> str:
    """The name as it is stored, provisioned and sent upstream: bare, lower-case, every IDN
    label as its A-label. Raises ValueError with the reason (worded for people) otherwise."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError("a domain name is required, e.g. example.com")
    text = name.strip()
    if not text.isascii():
        try:
            # UTS 46 mapping first (case folding, full-width forms, ideographic full stops),
            # then IDNA 2008's rules per label: what a browser does with the same input.
            text = idna.encode(text.rstrip(".\u3002\uff0e\uff61"), uts46=True).decode("ascii")
        except (idna.IDNAError, UnicodeError) as exc:
            raise ValueError(f"{name.strip()!r} is not a valid internationalised domain name ({exc})") from None
    text = bare(text)
    problem = domain_problem(text)
    if problem:
        raise ValueError(problem)
    return text


def to_unicode(name: str) -> str:
    """The name as people read it (U-labels); the name unchanged when it cannot be decoded."""
    try:
        return idna.decode(bare(name))
    except (idna.IDNAError, UnicodeError):
        return bare(name)


def public_suffix(name: str) -> str:
    """The suffix under which names are registered: the last label, or the last two for the
    suffixes in TWO_LABEL_SUFFIXES (co.uk, com.au, ...)."""
    labels = bare(name).split(".")
    two = ".".join(labels[-2:])
    return two if len(labels) >= 2 and two in TWO_LABEL_SUFFIXES else labels[-1]


def registrable_domain(name: str) -> str | None:
    """The domain one registers to own `name` (shop.example.co.uk -> example.co.uk), or None
    when `name` is itself a public suffix."""
    name = bare(name)
    suffix = public_suffix(name)
    if name == suffix:
        return None
    return ".".join(name.split(".")[-(suffix.count(".") + 2):])


def is_under(name: str, parent: str) -> bool:
    """True when `name` is a proper subdomain of `parent` (not equal to it)."""
    return bare(name).endswith("." + bare(parent))


def ancestors(name: str) -> list[str]:
    """Every domain strictly above `name` that has at least two labels, nearest first:
    a.b.example.com -> [b.example.com, example.com]."""
    labels = bare(name).split(".")
    return [".".join(labels[i:]) for i in range(1, len(labels) - 1)]


def is_hostname(name: Any) -> bool:
    """A fully qualified host name: LDH labels, at least two, an alphabetic (or punycode) TLD."""
    return domain_problem(name) is None


def record_label_ok(label: str) -> bool:
    """One label of a record's owner name (relative to its zone): LDH plus '_' and a lone '*'."""
    return bool(_RECORD_LABEL.match(label))


def label_ok(label: str) -> bool:
    """One LDH label (a DKIM selector part, a mailbox domain part)."""
    return bool(_LABEL.match(label))
