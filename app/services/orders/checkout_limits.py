"""How many checkout intents one email address and one client address may start.

Each intent costs a registrar look-up and holds a domain until it is paid or let go (at most an
hour), so a script repeating checkouts could keep names from their owners and spend the
registrar's quota. Counted before anything is looked up or written, per hour from the first, by the
one-statement counter of app/services/customers/limits.py: MPANEL_CHECKOUT_LIMIT_PER_EMAIL
intents per email address, MPANEL_CHECKOUT_LIMIT_PER_ADDRESS per client address (0: no limit).
Reached: 429 with Retry-After (when the hour's window closes), naming `customer.email` for
the email's limit and no field for the address's."""
from __future__ import annotations

from app.services.customers.limits import Limit, spend_keyed
from app.settings import Settings

HOUR = 3600


def admit(settings: Settings, email: str, address: str | None) -> None:
    """Count this intent for its email and (when known) its client address, or refuse it."""
    spend_keyed(settings, "checkout_email", email,
                Limit(settings.MPANEL_CHECKOUT_LIMIT_PER_EMAIL, HOUR, "checkouts with this email address"),
                "customer.email", who="this email address has")
    if address:
        spend_keyed(settings, "checkout_address", address,
                    Limit(settings.MPANEL_CHECKOUT_LIMIT_PER_ADDRESS, HOUR, "checkouts from your address"),
                    None, who="you have")
