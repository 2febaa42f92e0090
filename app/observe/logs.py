"""Log lines an operator can follow: one line per event, on stderr (journald keeps them),
plain or JSON (MPANEL_LOG_FORMAT=json), each carrying what it is about and never a secret.

What a line is about (the subscription, the order's domain, the engine run, the Stripe event,
the queue job) is set once where the work starts, with `about(...)`: the queue's task wrapper
(app/jobs/tasks.py), the webhook (app/web/webhooks.py) and the converge
(app/services/hosting/converge.py); every line logged inside carries it, whatever module
logs it. Secrets are taken out of the finished line by `Redact`: the values of the
settings that hold one, and the shapes secrets have (Stripe keys, webhook secrets, bearer
tokens, `password=...`/`"password": "..."`, keys in query strings).
"""
from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import time
from contextlib import contextmanager
from typing import Iterable, Iterator

# The order of the fields in a JSON line and in the plain line's [..] tail.
FIELDS = ("subscription", "order", "run", "stripe_event", "job")
_about: contextvars.ContextVar[dict] = contextvars.ContextVar("mpanel_log_about", default={})

# Settings whose value is a secret: never in a line, whatever logged it.
SECRET_SETTINGS = ("STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET", "NAMESILO_API_KEY", "CPANEL_WHM_API_TOKEN",
                   "SMTP_PASS", "MARKETING_API_KEY", "PULUMI_CONFIG_PASSPHRASE", "POWERDNS_API_KEY",
                   "MPANEL_ENCRYPTION_KEY", "MARKETING_OVERRIDE_CODE", "MPANEL_METRICS_TOKEN")
_SHAPES = (
    (re.compile(r"\b(sk|rk|pk)_(live|test)_[A-Za-z0-9_]+"), r"\1_\2_[redacted]"),
    (re.compile(r"\bwhsec_[A-Za-z0-9_]+"), "whsec_[redacted]"),
    (re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9_.\-]{8,}"), r"\1 [redacted]"),
    (re.compile(r"(?i)\b(whm|cpanel)\s+([^:\s]+):\S+"), r"\1 \2:[redacted]"),
    (re.compile(r"(?i)\b((?:password|passwd|passphrase|secret|token|api_?key|key|auth)=)[^&\s]+"), r"\1[redacted]"),
    (re.compile(r"""(?i)(["']?(?:password|passphrase|secret|token|api_?key|auth_?code)["']?\s*:\s*["'])[^"']*"""),
     r"\1[redacted]"),
    # postgresql://user:password@host
    (re.compile(r"(://[^:/@\s]+:)[^@\s]+@"), r"\1[redacted]@"),
)


@contextmanager
def about(**fields) -> Iterator[None]:
    """Every line logged inside carries these (None values are left out)."""
    known = {k: v for k, v in fields.items() if v is not None}
    token = _about.set({**_about.get(), **known})
    try:
        yield
    finally:
        _about.reset(token)


def tag(**fields) -> None:
    """Like `about`, for the rest of the enclosing `about` block (a run's id, known once it starts)."""
    _about.set({**_about.get(), **{k: v for k, v in fields.items() if v is not None}})


def current() -> dict:
    return dict(_about.get())


class Context(logging.Filter):
    """Puts what the line is about on the record (record.about)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.about = {k: v for k, v in _about.get().items() if k in FIELDS}
        return True


class Redact(logging.Filter):
    """Takes secrets out of the line: known values first, then known shapes."""

    def __init__(self, secrets: Iterable[str] = ()):
        super().__init__()
        # Short values ("1", a test code) would blank out ordinary words.
        self.secrets = sorted({s for s in secrets if s and len(s) >= 6}, key=len, reverse=True)

    def clean(self, text: str) -> str:
        for value in self.secrets:
            text = text.replace(value, "[redacted]")
        for pattern, replacement in _SHAPES:
            text = pattern.sub(replacement, text)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        record.msg, record.args = self.clean(message), None
        if record.exc_text:
            record.exc_text = self.clean(record.exc_text)
        return True


class PlainLine(logging.Formatter):
    """`2025-01-02T03:04:05Z worker[123] mpanel.jobs INFO message [subscription=4 job=17]`."""

    def __init__(self, process_name: str):
        super().__init__(f"%(asctime)s {process_name}[%(process)d] %(name)s %(levelname)s %(message)s")
        self.converter = time.gmtime

    def formatTime(self, record, datefmt=None):  # noqa: N802 - logging's name
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", self.converter(record.created))

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        about = getattr(record, "about", None) or {}
        if about:
            tail = " ".join(f"{k}={about[k]}" for k in FIELDS if k in about)
            first, newline, rest = line.partition("\n")  # the traceback stays below the line
            line = f"{first} [{tail}]{newline}{rest}"
        return line


class JsonLine(logging.Formatter):
    """One JSON object per line (a traceback inside it, as `exc`), for `jq`."""

    def __init__(self, process_name: str):
        super().__init__()
        self.process_name = process_name

    def format(self, record: logging.LogRecord) -> str:
        out = {"at": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
               + f".{int(record.msecs):03d}Z",
               "level": record.levelname, "process": f"{self.process_name}[{record.process}]",
               "logger": record.name, "msg": record.getMessage()}
        out.update(getattr(record, "about", None) or {})
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            out["exc"] = record.exc_text
        return json.dumps(out, default=str)


def handler(process_name: str, fmt: str, secrets: Iterable[str] = (), stream=None) -> logging.Handler:
    h = logging.StreamHandler(stream or sys.stderr)
    h.addFilter(Context())
    h.addFilter(Redact(secrets))
    h.setFormatter(JsonLine(process_name) if fmt == "json" else PlainLine(process_name))
    return h


def configure(process_name: str, settings, *, level: str = "INFO", fmt: str = "plain") -> None:
    """The root logger of this process: one handler on stderr, replacing any earlier one."""
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler(process_name, fmt, [getattr(settings, name, "") for name in SECRET_SETTINGS]))
    root.setLevel(level)
