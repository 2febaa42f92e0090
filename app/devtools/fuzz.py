"""`mpanel fuzz`: generated checkout payloads against POST /api/marketing/checkout-intent.

The invariants: no payload, however malformed, gets a 5xx; every 4xx answers the API's
error shape naming the field ({"error", "message", "field"}) and writes no row. Payloads
come from a seeded generator (the same seed sends the same payloads, so a failure is
reproduced with `--seed S` and its probe number): missing, wrong-typed, huge, deeply nested,
Unicode (lone surrogates, noncharacters, RTL, emoji) and control-character fields,
non-object and non-JSON bodies, wrong content types, and some valid orders, which may
answer 201 (their emails and domains carry a per-run marker so that they never collide).

Rows are counted (users, customers, subscriptions, domains) after every answer: a 4xx
after which a count moved wrote something. Against a running system, anything else
placing orders at the same time would be blamed too: fuzz a system nobody else uses.
"""
from __future__ import annotations

import json
import random
import secrets
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable

from app.settings import Settings

CHECKOUT_PATH = "/api/marketing/checkout-intent"
PLANS = ("shared_student", "shared_starter", "shared_business")
# Every string field the checkout reads, as dotted paths into the payload.
STRING_FIELDS = ("planSlug", "billingCycle", "domain", "domainMode", "authCode", "promoCode",
                 "utmSource", "utmMedium", "utmCampaign", "utmTerm", "utmContent",
                 "customer.email", "customer.firstName", "customer.lastName", "customer.company",
                 "customer.phone", "customer.country", "account.password", "utm.source", "utm.campaign")
ALL_FIELDS = STRING_FIELDS + ("customer", "account", "utm", "testMode")
COUNTED_TABLES = ("users", "customers", "subscriptions", "domains")


@dataclass(frozen=True)
class Probe:
    """One request: what the generator did to the payload, and the bytes it sends."""
    number: int
    kind: str
    body: bytes
    content_type: str | None = "application/json"
    valid: bool = False


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes


# --- the generator -----------------------------------------------------------------------------

def _json(value: Any) -> bytes:
    # ensure_ascii: a lone surrogate travels as the escape "\ud800", as a browser's JSON.stringify sends it.
    return json.dumps(value, ensure_ascii=True).encode()


class CheckoutPayloads:
    """Seeded: CheckoutPayloads(seed, marker).probe(i) is the same bytes on every run
    with the same seed, but for the marker in emails and domains."""

    def __init__(self, seed: int, marker: str):
        self.seed, self.marker = seed, marker

    def probe(self, number: int) -> Probe:
        rng = random.Random(f"{self.seed}:{number}")
        roll = rng.random()
        # Valid orders are few: each one costs a Stripe Checkout Session (about a second).
        if roll < 0.03:
            return Probe(number, "valid", _json(self.valid(rng, number)), valid=True)
        if roll < 0.14:
            return self._not_json(rng, number)
        if roll < 0.20:
            return self._wrong_content_type(rng, number)
        if roll < 0.25:
            kind, value = self._not_an_object(rng)
            return Probe(number, f"top-level {kind}", _json(value))
        if roll < 0.33:
            return self._deep(rng, number)
        payload = self.valid(rng, number)
        kinds = []
        for _ in range(rng.choice((1, 2, 2, 3))):
            kinds.append(self._mutate(rng, payload))
        return Probe(number, " + ".join(kinds), _json(payload))

    # A valid order, unique to this run and probe.
    def valid(self, rng: random.Random, number: int) -> dict:
        token = f"{self.marker}-{number}"
        payload: dict = {
            "planSlug": rng.choice(PLANS), "billingCycle": rng.choice(("monthly", "yearly")),
            "domain": f"fuzz-{token}.com", "domainMode": "external",
            "customer": {"email": f"fuzz-{token}@example.com", "firstName": rng.choice(("Ana", "José", "Zoë", "Łukasz")),
                         "lastName": rng.choice(("O'Neil", "Müller-Lüdenscheidt", "Nguyễn", "Smith"))},
            "account": {"password": "Fuzz-" + "".join(rng.choice("abcdefghjkmnpqrstuvwxyz23456789") for _ in range(14))},
        }
        if rng.random() < 0.5:
            payload["customer"].update(company="Fuzz & Sons Ltd.", phone="+1 (555) 010-0199", country="us")
        if rng.random() < 0.3:
            payload["utm"] = {"source": "fuzz", "campaign": "spring-2024"}
        if rng.random() < 0.2:
            payload["promoCode"] = "launch20"
        return payload

    @staticmethod
    def _set(payload: dict, path: str, value: Any) -> None:
        *parents, leaf = path.split(".")
        target = payload
        for key in parents:
            if not isinstance(target.get(key), dict):
                target[key] = {}
            target = target[key]
        target[leaf] = value

    @staticmethod
    def _drop(payload: dict, path: str) -> None:
        *parents, leaf = path.split(".")
        target = payload
        for key in parents:
            target = target.get(key)
            if not isinstance(target, dict):
                return
        target.pop(leaf, None)

    def _mutate(self, rng: random.Random, payload: dict) -> str:
        path = rng.choice(ALL_FIELDS if rng.random() < 0.3 else STRING_FIELDS)
        how = rng.choice(("missing", "wrong type", "huge", "control", "surrogate", "unicode", "unicode",
                          "padding", "extra field"))
        if how == "missing":
            self._drop(payload, path)
        elif how == "wrong type":
            self._set(payload, path, rng.choice((0, -1, 10 ** 30, 1.5, 1e308, True, False, None, [], ["x"], {},
                                                  {"a": "b"}, "", " ")))
        elif how == "huge":
            self._set(payload, path, rng.choice("aZ9é😀-. ") * rng.choice((129, 255, 256, 1000, 5000, 15000)))
        elif how == "control":
            char = chr(rng.choice((0, 1, 8, 9, 10, 13, 27, 31, 127, 0x85, 0x9F)))
            self._set(payload, path, _splice(rng, self._current(payload, path), char))
        elif how == "surrogate":
            char = chr(rng.choice((0xD800, 0xDBFF, 0xDC00, 0xDFFF)))
            self._set(payload, path, _splice(rng, self._current(payload, path), char))
        elif how == "unicode":
            self._set(payload, path, _splice(rng, self._current(payload, path), _odd_unicode(rng)))
        elif how == "padding":
            self._set(payload, path, rng.choice((" ", "\t", "\u00a0", "\u3000", "\ufeff")) + self._current(payload, path)
                      + rng.choice(("", " ", "\n", ".")))
        else:
            key = rng.choice(("utm", "__proto__", "constructor", "x" * 200, "\ud800", "customer.id", "$where", ""))
            path = key
            payload[key] = rng.choice(({"$gt": ""}, "\ud800", [1] * 50, "'; DROP TABLE users;--", None))
        return f"{how}:{path}"

    @staticmethod
    def _current(payload: dict, path: str) -> str:
        value: Any = payload
        for key in path.split("."):
            value = value.get(key) if isinstance(value, dict) else None
        return value if isinstance(value, str) else "text"

    def _deep(self, rng: random.Random, number: int) -> Probe:
        depth = rng.choice((17, 50, 999, 1001, 2000, 2500, 3000, 7000))
        opener, closer = rng.choice((('{"a":', "}"), ("[", "]")))
        where = rng.choice(("utm", "customer", "account", "extra"))
        inner = opener * depth + "1" + closer * depth
        payload = self.valid(rng, number)
        payload[where] = "@@INNER@@"
        body = _json(payload).replace(b'"@@INNER@@"', inner.encode())
        return Probe(number, f"nested {depth} deep:{where}", body)

    def _not_json(self, rng: random.Random, number: int) -> Probe:
        valid = _json(self.valid(rng, number))
        choices: list[tuple[str, bytes]] = [
            ("empty", b""), ("whitespace", b" \n\t "), ("truncated", valid[:rng.randrange(1, len(valid))]),
            ("form-encoded", b"planSlug=shared_student&domain=example.com"),
            ("xml", b"<checkout><planSlug>shared_student</planSlug></checkout>"),
            ("random bytes", bytes(rng.randrange(256) for _ in range(rng.randrange(1, 400)))),
            ("invalid UTF-8", valid.replace(b"fuzz-", b"fuzz-\xc3\x28", 1)),
            ("latin-1", valid.replace(b"fuzz-", "fuzz-\u00e9".encode("latin-1"), 1)),
            ("UTF-8 BOM", b"\xef\xbb\xbf" + valid), ("NaN", valid.replace(b'"monthly"', b"NaN").replace(b'"yearly"', b"NaN")),
            ("Infinity", b'{"testMode": Infinity}'), ("trailing comma", valid[:-1] + b",}"),
            ("single quotes", valid.replace(b'"', b"'")), ("two documents", valid + valid),
            ("huge number", b'{"planSlug": ' + b"9" * 5000 + b"}"), ("NUL", b"\x00" * 10),
            ("unterminated string", b'{"planSlug": "shared_student'),
            ("unbalanced brackets", b"{" * rng.randrange(1, 9000)),
        ]
        kind, body = rng.choice(choices)
        return Probe(number, f"not JSON:{kind}", body)

    def _wrong_content_type(self, rng: random.Random, number: int) -> Probe:
        valid = _json(self.valid(rng, number))
        kind, content_type, body = rng.choice([
            ("none", None, valid), ("text/plain", "text/plain", valid),
            ("form", "application/x-www-form-urlencoded", b"planSlug=shared_student"),
            ("multipart", "multipart/form-data; boundary=x", b"--x\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n--x--"),
            ("xml", "application/xml", b"<a/>"), ("utf-16", "application/json; charset=utf-16", valid.decode().encode("utf-16")),
            ("latin-1 charset", "application/json; charset=latin-1", valid), ("garbage", "\x7f;;=", valid),
            ("json+suffix", "application/vnd.api+json", valid), ("empty", "", valid),
        ])
        return Probe(number, f"content type:{kind}", body, content_type, valid=kind == "json+suffix")

    @staticmethod
    def _not_an_object(rng: random.Random) -> tuple[str, Any]:
        return rng.choice((("array", [1, 2]), ("string", "checkout"), ("number", 42), ("null", None),
                           ("true", True), ("empty array", []), ("array of orders", [{"planSlug": "shared_student"}])))


def _splice(rng: random.Random, text: str, insert: str) -> str:
    at = rng.randrange(len(text) + 1)
    return text[:at] + insert + text[at:]


def _odd_unicode(rng: random.Random) -> str:
    return rng.choice((
        "\u202e", "\u200b", "\u200d", "\ufeff", "\ufffe", "\uffff", "\U0010ffff", "\U0001f600", "e\u0301" * 30,
        "\u2028", "\u2029", "ß", "İ", "ﬁ", "𝔘𝔫𝔦", "٣", "日本語", "\u0345" * 10,
        "".join(chr(rng.randrange(0x20, 0x2FFFF)) for _ in range(rng.randrange(1, 40))),
    ))


# --- where the payloads go ----------------------------------------------------------------------

Send = Callable[[Probe], Answer]


def in_process(settings: Settings) -> Send:
    """The real application (Flask's test client), on the database `settings` names."""
    from app import create_app

    client = create_app(settings, open_queue=False).test_client()
    key = settings.MARKETING_API_KEY

    def send(probe: Probe) -> Answer:
        headers = {"X-API-Key": key}
        if probe.content_type is not None:
            headers["Content-Type"] = probe.content_type
        answer = client.post(CHECKOUT_PATH, data=probe.body, headers=headers)
        return Answer(answer.status_code, answer.get_data())
    return send


def over_http(url: str, api_key: str) -> Send:
    import requests

    session = requests.Session()
    endpoint = url.rstrip("/") + CHECKOUT_PATH

    def send(probe: Probe) -> Answer:
        headers = {"X-API-Key": api_key}
        if probe.content_type is not None:
            headers["Content-Type"] = probe.content_type
        answer = session.post(endpoint, data=probe.body, headers=headers, timeout=60)
        return Answer(answer.status_code, answer.content)
    return send


class RowCounts:
    """Rows of the tables an order writes, counted on one autocommit connection."""

    def __init__(self, dsn: str):
        import psycopg

        self.conn = psycopg.connect(dsn, autocommit=True)
        self.sql = "SELECT " + ", ".join(f"(SELECT count(*) FROM {t})" for t in COUNTED_TABLES)

    def __call__(self) -> tuple[int, ...]:
        return tuple(self.conn.execute(self.sql).fetchone())

    def close(self) -> None:
        self.conn.close()


# --- the run ------------------------------------------------------------------------------------

@dataclass
class Findings:
    total: int = 0
    statuses: Counter = None  # type: ignore[assignment]
    server_errors: list = None  # type: ignore[assignment]
    wrote_rows: list = None  # type: ignore[assignment]
    bad_shape: list = None  # type: ignore[assignment]
    valid_sent: int = 0
    valid_created: int = 0
    seconds: float = 0.0

    def __post_init__(self):
        self.statuses, self.server_errors, self.wrote_rows, self.bad_shape = Counter(), [], [], []

    @property
    def ok(self) -> bool:
        return not (self.server_errors or self.wrote_rows or self.bad_shape)


def _error_shape_problem(body: bytes) -> str | None:
    try:
        document = json.loads(body)
    except ValueError:
        return "not JSON"
    if not isinstance(document, dict) or not document.get("error") or not document.get("message"):
        return "no error/message"
    if not document.get("field"):
        return "no field named"
    return None


def fuzz(send: Send, counts: Callable[[], tuple[int, ...]], payloads: CheckoutPayloads, n: int,
         progress: Callable[[int], None] | None = None) -> Findings:
    found = Findings()
    started = time.perf_counter()
    rows = counts()
    for number in range(n):
        probe = payloads.probe(number)
        answer = send(probe)
        after = counts()
        found.total += 1
        found.statuses[answer.status] += 1
        found.valid_sent += probe.valid
        found.valid_created += probe.valid and answer.status == 201
        if answer.status >= 500:
            found.server_errors.append((probe, answer))
        elif 400 <= answer.status < 500:
            if after != rows:
                found.wrote_rows.append((probe, answer, rows, after))
            problem = _error_shape_problem(answer.body)
            if problem:
                found.bad_shape.append((probe, answer, problem))
        rows = after
        if progress and (number + 1) % 1000 == 0:
            progress(number + 1)
    found.seconds = time.perf_counter() - started
    return found


def report(found: Findings, seed: int, where: str) -> str:
    by_class = Counter(f"{status // 100}xx" for status in found.statuses.elements())
    lines = [
        f"fuzzed {where}: {found.total} payloads (seed {seed}) in {found.seconds:.1f}s "
        f"({found.total / max(found.seconds, 1e-9):.0f}/s)",
        "answers by class: " + ", ".join(f"{k} {v}" for k, v in sorted(by_class.items())),
        "answers by status: " + ", ".join(f"{k} {v}" for k, v in sorted(found.statuses.items())),
        f"valid orders sent {found.valid_sent}, answered 201: {found.valid_created}",
        f"5xx answers: {len(found.server_errors)} (0 expected)",
        f"4xx that wrote rows ({'/'.join(COUNTED_TABLES)}): {len(found.wrote_rows)} (0 expected)",
        f"4xx without the error shape naming a field: {len(found.bad_shape)} (0 expected)",
    ]
    for probe, answer in found.server_errors[:10]:
        lines.append(f"  5xx probe #{probe.number} [{probe.kind}] -> {answer.status} {answer.body[:160]!r}; "
                     f"body {probe.body[:160]!r}")
    for probe, answer, before, after in found.wrote_rows[:10]:
        lines.append(f"  rows probe #{probe.number} [{probe.kind}] -> {answer.status}: {before} -> {after}")
    for probe, answer, problem in found.bad_shape[:10]:
        lines.append(f"  shape probe #{probe.number} [{probe.kind}] -> {answer.status} {problem}: {answer.body[:160]!r}")
    lines.append("OK" if found.ok else "FAILED")
    return "\n".join(lines)


def run(n: int, seed: int, url: str | None) -> int:
    """Send `n` generated payloads to `url` (a running mpanel) or, without one, to the
    application in this process on Settings.from_env()'s database; print the figures;
    non-zero when any answer was a 5xx, or a 4xx wrote rows or lacked the error shape."""
    settings = Settings.from_env()
    marker = secrets.token_hex(3)
    send = over_http(url, settings.MARKETING_API_KEY) if url else in_process(settings)
    counts = RowCounts(settings.DATABASE_URL)
    try:
        found = fuzz(send, counts, CheckoutPayloads(seed, marker), n,
                     progress=lambda done: print(f"  {done}/{n}", flush=True))
    finally:
        counts.close()
    print(report(found, seed, url or "in process"), flush=True)
    return 0 if found.ok else 1
