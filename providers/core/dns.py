"""DNS record content as PowerDNS stores it: names relative to a zone, TXT character-strings,
and each record type's content in one canonical form (so a diff compares like with like).
Pure functions, shared by the zone provider (providers/powerdns.py)."""
from __future__ import annotations

import ipaddress
import re

from providers.core.names import bare, canonical, is_hostname

# Extra customer records may use these; SOA stays the server's, apex NS is `nameservers`.
RECORD_TYPES = ("A", "AAAA", "CAA", "CNAME", "MX", "NS", "SRV", "TXT")


# --- names ---------------------------------------------------------------------------------

def absolute(relative_name: str, zone: str) -> str:
    return canonical(zone) if relative_name == "@" else canonical(f"{relative_name}.{bare(zone)}")


def relative(fqdn: str, zone: str) -> str:
    fqdn, zone = canonical(fqdn), canonical(zone)
    return "@" if fqdn == zone else fqdn[: -len(zone) - 1]


# --- TXT quoting -----------------------------------------------------------------------------

def txt_content(text: str) -> str:
    """Text to TXT record content: quoted character-strings of at most 255 bytes each."""
    data = text.encode()
    chunks = [data[i:i + 255] for i in range(0, len(data), 255)] or [b""]
    return " ".join('"' + "".join(_escape(b) for b in chunk) + '"' for chunk in chunks)


def _escape(byte: int) -> str:
    if byte in (0x22, 0x5C):
        return "\\" + chr(byte)
    return chr(byte) if 0x20 <= byte < 0x7F else f"\\{byte:03d}"


def txt_text(content: str) -> str:
    """TXT record content back to its text: the character-strings unquoted and joined."""
    content = content.strip()
    if not content.startswith('"'):
        return content
    out, i, quoted = bytearray(), 0, False
    while i < len(content):
        c = content[i]
        if c == '"':
            quoted = not quoted
        elif quoted and c == "\\" and i + 1 < len(content):
            if content[i + 1: i + 4].isdigit() and len(content[i + 1: i + 4]) == 3:
                out.append(int(content[i + 1: i + 4]) & 0xFF)
                i += 3
            else:
                out.extend(content[i + 1].encode())
                i += 1
        elif quoted:
            out.extend(c.encode())
        i += 1
    return out.decode("utf-8", errors="replace")


# --- record content ----------------------------------------------------------------------------

def canonical_content(rtype: str, content: str) -> str:
    """The one form used to send, store and compare a record's content (raises ValueError)."""
    content = str(content).strip()
    if rtype == "A":
        return str(ipaddress.IPv4Address(content))
    if rtype == "AAAA":
        return str(ipaddress.IPv6Address(content))
    if rtype in ("CNAME", "NS"):
        return _target(content)
    if rtype == "MX":
        prio, host = _fields(content, 2)
        return f"{_uint(prio, 65535)} {_target(host)}"
    if rtype == "SRV":
        prio, weight, port, target = _fields(content, 4)
        target = "." if target == "." else _target(target)
        return f"{_uint(prio, 65535)} {_uint(weight, 65535)} {_uint(port, 65535)} {target}"
    if rtype == "CAA":
        parts = content.split(None, 2)
        if len(parts) != 3:
            raise ValueError("CAA content is 'flags tag value', e.g. 0 issue \"letsencrypt.org\"")
        flags, tag, value = parts
        if not re.match(r"^[a-z0-9]+$", tag.lower()):
            raise ValueError(f"bad CAA tag {tag!r}")
        value = txt_text(value) if value.startswith('"') else value
        return f'{_uint(flags, 255)} {tag.lower()} "{value}"'
    if rtype == "TXT":
        return txt_content(txt_text(content))
    raise ValueError(f"record type {rtype} is not supported (use one of {', '.join(RECORD_TYPES)})")


def _fields(content: str, n: int) -> list[str]:
    parts = content.split()
    if len(parts) != n:
        raise ValueError(f"expected {n} fields in {content!r}")
    return parts


def _uint(value: str, top: int) -> int:
    if not value.isdigit() or int(value) > top:
        raise ValueError(f"{value!r} is not a number from 0 to {top}")
    return int(value)


def _target(host: str) -> str:
    if not is_hostname(host):
        raise ValueError(f"{host!r} is not a host name")
    return canonical(host)


def human_content(rtype: str, content: str) -> str:
    """What a customer record's `content` looks like in inputs and outputs (TXT unquoted)."""
    return txt_text(content) if rtype == "TXT" else canonical_content(rtype, content)
