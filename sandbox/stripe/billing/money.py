"""Amounts as Stripe writes them for people (invoice lines, the payment page)."""

from __future__ import annotations

ZERO_DECIMAL = {"bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd",
                "vuv", "xaf", "xof", "xpf"}
SYMBOLS = {"usd": "$", "eur": "€", "gbp": "£", "cad": "CA$", "aud": "A$"}


def money(amount: int, currency: str) -> str:
    currency = currency.lower()
    sign = "-" if amount < 0 else ""
    value = abs(amount)
    text = f"{value:,}" if currency in ZERO_DECIMAL else f"{value / 100:,.2f}"
    symbol = SYMBOLS.get(currency)
    return f"{sign}{symbol}{text}" if symbol else f"{sign}{text} {currency.upper()}"
