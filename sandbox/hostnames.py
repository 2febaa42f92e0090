"""Host name syntax, as both upstream services check it before anything else."""

from __future__ import annotations

import re

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def is_hostname(name: str, min_labels: int = 2) -> bool:
    """LDH labels, lower-case, no trailing dot; IDNs must arrive as punycode (xn--)."""
    if not name or len(name) > 253:
        return False
    labels = name.split(".")
    if len(labels) < min_labels:
        return False
    # A numeric top-level label would make "192.0.2.1" a host name.
    if labels[-1].isdigit():
        return False
    return all(_LABEL.match(label) for label in labels)
