"""Stripe's test cards: which numbers pay, which decline and how.

A card number lives only as long as the request that carries it: what is kept is
the brand, the last four digits, the expiry and a keyed fingerprint, as Stripe
itself exposes them.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import datetime, timezone


@dataclass(frozen=True)
class Decline:
    code: str
    decline_code: str
    message: str
    param: str | None = None


@dataclass(frozen=True)
class Card:
    brand: str
    funding: str
    last4: str
    exp_month: int
    exp_year: int
    fingerprint: str
    decline: Decline | None = None

    def details(self) -> dict:
        """``payment_method.card`` / ``charge.payment_method_details.card``."""
        return {
            "brand": self.brand, "display_brand": self.brand.replace("amex", "american_express"),
            "checks": {"address_line1_check": None, "address_postal_code_check": None,
                       "cvc_check": "fail" if self.decline and self.decline.code == "incorrect_cvc" else "pass"},
            "country": "US", "exp_month": self.exp_month, "exp_year": self.exp_year,
            "fingerprint": self.fingerprint, "funding": self.funding, "last4": self.last4,
            "networks": {"available": [self.brand], "preferred": None}, "wallet": None,
        }


class CardProblem(ValueError):
    """Input the payment form itself refuses before anything reaches the card network."""

    def __init__(self, field: str, code: str, message: str):
        super().__init__(message)
        self.field, self.code, self.message = field, code, message


_DECLINED = Decline("card_declined", "generic_decline", "Your card was declined.")
DECLINES = {
    "generic_decline": _DECLINED,
    "insufficient_funds": Decline("card_declined", "insufficient_funds", "Your card has insufficient funds."),
    "lost_card": Decline("card_declined", "lost_card", "Your card was declined."),
    "stolen_card": Decline("card_declined", "stolen_card", "Your card was declined."),
    "expired_card": Decline("expired_card", "expired_card", "Your card has expired.", "exp_month"),
    "incorrect_cvc": Decline("incorrect_cvc", "incorrect_cvc", "Your card's security code is incorrect.", "cvc"),
    "processing_error": Decline("processing_error", "processing_error",
                                "An error occurred while processing your card. Try again in a little bit."),
}
TEST_MODE_LIVE_CARD = Decline(
    "card_declined", "test_mode_live_card",
    "Your card was declined. Your request was in test mode, but used a non test card. "
    "For a list of valid test cards, visit: https://stripe.com/docs/testing.")

# number: (brand, funding, decline code or None)
TEST_CARDS: dict[str, tuple[str, str, str | None]] = {
    "4242424242424242": ("visa", "credit", None),
    "4000056655665556": ("visa", "debit", None),
    "5555555555554444": ("mastercard", "credit", None),
    "2223003122003222": ("mastercard", "credit", None),
    "5200828282828210": ("mastercard", "debit", None),
    "378282246310005": ("amex", "credit", None),
    "371449635398431": ("amex", "credit", None),
    "6011111111111117": ("discover", "credit", None),
    "4000000000000002": ("visa", "credit", "generic_decline"),
    "4000000000009995": ("visa", "credit", "insufficient_funds"),
    "4000000000009987": ("visa", "credit", "lost_card"),
    "4000000000009979": ("visa", "credit", "stolen_card"),
    "4000000000000069": ("visa", "credit", "expired_card"),
    "4000000000000127": ("visa", "credit", "incorrect_cvc"),
    "4000000000000119": ("visa", "credit", "processing_error"),
}


def read_card(number: str, expiry: tuple[int, int] | None, cvc: str, salt: str,
              now: float) -> Card:
    """Check the form's fields as Checkout does, then look the number up."""
    digits = re.sub(r"[\s-]", "", number or "")
    if not digits:
        raise CardProblem("number", "incomplete_number", "Your card number is incomplete.")
    if not digits.isdigit() or not 13 <= len(digits) <= 19 or not _luhn(digits):
        raise CardProblem("number", "invalid_number", "Your card number is invalid.")
    if expiry is None:
        raise CardProblem("expiry", "incomplete_expiry", "Your card's expiration date is incomplete.")
    month, year = expiry
    today = datetime.fromtimestamp(now, timezone.utc)
    if not 1 <= month <= 12:
        raise CardProblem("expiry", "invalid_expiry_month", "Your card's expiration month is invalid.")
    if (year, month) < (today.year, today.month):
        raise CardProblem("expiry", "invalid_expiry_year_past", "Your card's expiration year is in the past.")
    brand, funding, decline_code = TEST_CARDS.get(digits, (_brand(digits), "credit", "test_mode_live_card"))
    cvc_length = 4 if brand == "amex" else 3
    if not (cvc or "").isdigit() or len(cvc) != cvc_length:
        raise CardProblem("cvc", "incomplete_cvc", "Your card's security code is incomplete.")
    decline = TEST_MODE_LIVE_CARD if decline_code == "test_mode_live_card" else DECLINES.get(decline_code or "")
    fingerprint = hmac.new(salt.encode(), digits.encode(), hashlib.sha256).hexdigest()[:16]
    return Card(brand, funding, digits[-4:], month, year, fingerprint, decline)


def parse_expiry(text: str) -> tuple[int, int] | None:
    """``12 / 34``, ``12/34``, ``1234`` or ``12/2034`` -> (12, 2034)."""
    match = re.fullmatch(r"\s*(\d{1,2})\s*/?\s*(\d{2}|\d{4})\s*", text or "")
    if not match:
        return None
    month, year = int(match.group(1)), int(match.group(2))
    return month, (2000 + year if year < 100 else year)


def _luhn(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _brand(digits: str) -> str:
    if digits.startswith("4"):
        return "visa"
    if digits[:2] in ("34", "37"):
        return "amex"
    if digits[:2] in {str(n) for n in range(51, 56)} or 2221 <= int(digits[:4]) <= 2720:
        return "mastercard"
    if digits.startswith("6011") or digits.startswith("65"):
        return "discover"
    return "unknown"
