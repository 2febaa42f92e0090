"""Checkout payload validation: every problem names the field at fault, nothing is written.

The payload shape is the seed's curl example (planSlug, billingCycle, domain,
domainMode, customer{...}, account{password}, testMode, promoCode, utm fields).
"""
from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from app.services.common.refusals import FieldRefused
from app.services.orders.orders import Order
from providers.rules.names import is_hostname, to_ascii

DOMAIN_MODES = ("new_registration", "transfer", "external")
BILLING_CYCLES = ("monthly", "yearly")

_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
# People's names: letters in any script, spaces, and the punctuation names really use.
_NAME = re.compile(r"^[^\W\d_]+(?:[ '\u2019.\-][^\W\d_]+)*\.?$")
_UTM = re.compile(r"^[\w .:/+\-]{1,200}$")
_SLUG = re.compile(r"^[a-z0-9_]{1,64}$")
_PROMO = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
_AUTH_CODE = re.compile(r"^[\x21-\x7e]{4,64}$")


# A checkout intent is a flat object with two small sub-objects; anything deeper is not one,
# and Python's json decoder recurses once per level (RecursionError past about 1,000).
MAX_DEPTH = 16


class ValidationError(FieldRefused):
    """A 422 naming the field (dotted path into the payload) and what is wrong with it."""

    code = "invalid_field"

    @property
    def detail(self) -> str:
        return f"{self.field} {self.message}"


# A body refused for its size or media type has a status of its own; any other is a 400.
_BODY_STATUS = {"payload_too_large": 413, "unsupported_media_type": 415}


class MalformedBody(ValidationError):
    """The body cannot be read as a JSON document at all: not JSON, not UTF-8, too deep,
    too big, or sent as another media type. `code` says which (and the status with it)."""

    def __init__(self, code: str, message: str, field: str = "body"):
        super().__init__(field, message, status=_BODY_STATUS.get(code, 400), code=code)

    @property
    def detail(self) -> str:
        return self.message


_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")
# JSON's "\ud800" decodes to a lone surrogate, which UTF-8 cannot encode: PostgreSQL, argon2
# and SMTP would all fail on it, long after validation said yes.
_SURROGATE = re.compile("[\ud800-\udfff]")


def _nesting_depth(text: str) -> int:
    """How deep the arrays and objects of a JSON text nest, brackets inside strings aside;
    measured before decoding so that the decoder never recurses past MAX_DEPTH."""
    depth = deepest = 0
    for bracket in _BRACKET.findall(_JSON_STRING.sub("", text)):
        depth += 1 if bracket in "[{" else -1
        deepest = max(deepest, depth)
    return deepest


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a JSON value")


def decode_json(raw: bytes) -> Any:
    """A request body as JSON (RFC 8259: UTF-8, no NaN or Infinity), nested at most MAX_DEPTH deep."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedBody("invalid_json", f"the body must be JSON in UTF-8 (byte {exc.start} is not)") from None
    if not text.strip():
        raise MalformedBody("invalid_json", "the body is empty; send a JSON object")
    if _nesting_depth(text) > MAX_DEPTH:
        raise MalformedBody("too_deeply_nested", f"the body nests objects or arrays more than {MAX_DEPTH} deep")
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, and int() past its digit limit
        reason = str(exc).splitlines()[0][:120] if isinstance(exc, ValueError) else "too deeply nested"
        raise MalformedBody("invalid_json", f"the body is not valid JSON ({reason})") from None


NOT_UNICODE = "must be valid Unicode text (it contains a lone surrogate)"


def _printable_path(path: str) -> str:
    return path.encode("utf-8", "backslashreplace").decode("utf-8")


def _text_problem(value: str) -> str | None:
    """Why a string cannot be stored or sent anywhere (None when it can): a lone surrogate,
    or a control character (C0, DEL, C1)."""
    if _SURROGATE.search(value):
        return NOT_UNICODE
    if any(unicodedata.category(char) == "Cc" for char in value):
        return "must not contain control characters"
    return None


def _refuse_unencodable(payload: Any, root: str = "") -> None:
    """Every key and string anywhere in the payload, read or not, must be valid Unicode: a
    field nobody reads today may be stored or echoed tomorrow. Iterative, so any depth is safe."""
    stack = [(root, payload)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            if _SURROGATE.search(value):
                raise ValidationError(_printable_path(path) or "body", NOT_UNICODE)
        elif isinstance(value, dict):
            for key, item in value.items():
                child = f"{path}.{key}" if path else str(key)
                if isinstance(key, str) and _SURROGATE.search(key):
                    raise ValidationError(_printable_path(child), "is not a valid Unicode field name")
                stack.append((child, item))
        elif isinstance(value, list):
            stack.extend((f"{path}[{i}]", item) for i, item in enumerate(value))


def valid_domain(name: str) -> bool:
    """The one domain-name rule (providers.rules.names), which every provider checks too."""
    return is_hostname(name)


def _text(data: dict, key: str, path: str, *, required: bool = True, max_len: int = 200) -> str | None:
    value = data.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise ValidationError(path, "is required")
        return None
    if not isinstance(value, str):
        raise ValidationError(path, f"must be a string, not {type(value).__name__}")
    value = value.strip()
    if len(value) > max_len:
        raise ValidationError(path, f"must be at most {max_len} characters")
    problem = _text_problem(value)
    if problem:
        raise ValidationError(path, problem)
    return value


def _object(data: dict, key: str) -> dict:
    value = data.get(key)
    if value is None:
        raise ValidationError(key, "is required")
    if not isinstance(value, dict):
        raise ValidationError(key, f"must be an object, not {type(value).__name__}")
    return value


def _choice(data: dict, key: str, choices: tuple[str, ...]) -> str:
    value = _text(data, key, key, max_len=32)
    if value not in choices:
        raise ValidationError(key, f"must be one of {', '.join(choices)}")
    return value


def _flag(data: dict, key: str) -> bool:
    value = data.get(key, False)
    if not isinstance(value, bool):
        raise ValidationError(key, "must be true or false")
    return value


def _name(customer: dict, key: str) -> str:
    value = _text(customer, key, f"customer.{key}", max_len=80)
    if not _NAME.match(value):
        raise ValidationError(f"customer.{key}", "may contain only letters, spaces, hyphens, apostrophes and periods")
    return value


@dataclass(frozen=True)
class SiteChoice:
    """What one site is: the plan and cycle it is sold on, its domain and how the domain comes."""

    plan_slug: str
    billing_cycle: str
    domain: str
    domain_mode: str
    auth_code: str | None = field(default=None, repr=False)


def parse_site(payload: dict) -> SiteChoice:
    """The site's fields of a checkout payload, or of the panel's Add a site form (same names)."""
    plan = _text(payload, "planSlug", "planSlug", max_len=64)
    if not _SLUG.match(plan):
        raise ValidationError("planSlug", "must be a plan slug like shared_student")
    cycle = _choice(payload, "billingCycle", BILLING_CYCLES)

    try:
        domain = to_ascii(_text(payload, "domain", "domain", max_len=253))
    except ValueError:
        raise ValidationError("domain", "must be a domain name like example.com") from None
    if domain.startswith("www."):
        domain = domain[4:]
    mode = _choice(payload, "domainMode", DOMAIN_MODES)
    auth_code = _text(payload, "authCode", "authCode", required=mode == "transfer", max_len=64)
    if auth_code is not None and not _AUTH_CODE.match(auth_code):
        raise ValidationError("authCode", "must be the 4-64 character EPP code from the current registrar")
    return SiteChoice(plan, cycle, domain, mode, auth_code)


def parse_checkout(payload: Any) -> Order:
    if not isinstance(payload, dict):
        raise ValidationError("body", "must be a JSON object")
    _refuse_unencodable(payload)
    site = parse_site(payload)

    customer = _object(payload, "customer")
    email = _text(customer, "email", "customer.email", max_len=254)
    if not _EMAIL.match(email):
        raise ValidationError("customer.email", "must be an email address")
    first, last = _name(customer, "firstName"), _name(customer, "lastName")
    company = _text(customer, "company", "customer.company", required=False, max_len=120)
    phone = _text(customer, "phone", "customer.phone", required=False, max_len=32)
    if phone and not re.fullmatch(r"\+?[0-9 ().-]{5,32}", phone):
        raise ValidationError("customer.phone", "must be a phone number")
    country = _text(customer, "country", "customer.country", required=False, max_len=2)
    if country and not re.fullmatch(r"[A-Za-z]{2}", country):
        raise ValidationError("customer.country", "must be a two-letter country code")

    account = _object(payload, "account")
    password = account.get("password")
    if password is None or password == "":
        raise ValidationError("account.password", "is required")
    if not isinstance(password, str):
        raise ValidationError("account.password", f"must be a string, not {type(password).__name__}")
    if not 10 <= len(password) <= 128:
        raise ValidationError("account.password", "must be 10 to 128 characters")
    problem = _text_problem(password)
    if problem:
        raise ValidationError("account.password", problem)

    promo = _text(payload, "promoCode", "promoCode", required=False, max_len=40)
    if promo and not _PROMO.match(promo):
        raise ValidationError("promoCode", "may contain only letters, digits, hyphens and underscores")

    utm = {}
    for key in ("utmSource", "utmMedium", "utmCampaign", "utmTerm", "utmContent"):
        value = _text(payload, key, key, required=False, max_len=200)
        if value is not None:
            if not _UTM.match(value):
                raise ValidationError(key, "contains characters a tracking tag never has")
            utm[key[3:].lower()] = value
    nested = payload.get("utm")
    if isinstance(nested, dict):
        for key in ("source", "medium", "campaign", "term", "content"):
            value = _text(nested, key, f"utm.{key}", required=False, max_len=200)
            if value is not None and _UTM.match(value):
                utm.setdefault(key, value)
            elif value is not None:
                raise ValidationError(f"utm.{key}", "contains characters a tracking tag never has")

    return Order(email=email, first_name=first, last_name=last, password=password, plan_slug=site.plan_slug,
                 billing_cycle=site.billing_cycle, domain=site.domain, domain_mode=site.domain_mode,
                 auth_code=site.auth_code,
                 promo_code=promo.upper() if promo else None, test_mode=_flag(payload, "testMode"),
                 company=company, phone=phone, country=country.upper() if country else None, utm=utm)
