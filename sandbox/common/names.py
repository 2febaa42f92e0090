"""Host names as the stand-ins receive them, judged by the project's one rule.

The rule itself is ``providers.rules.names`` (the checkout and every provider apply the
same one), so a name the API accepts is a name the stand-ins accept. The real services
take a name exactly as it was sent and do not tidy it for the client: "example.com."
with its trailing dot is refused here rather than normalised, as before the rule moved,
so a stand-in never stores a name that later lookups of the bare name would miss.
"""

from __future__ import annotations

from providers.rules import names


def is_hostname(name: str) -> bool:
    """A fully qualified host name (two labels or more), already in its bare form."""
    return names.is_hostname(name) and name == names.bare(name)
