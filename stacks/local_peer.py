"""Who is calling over loopback TCP: the user id the kernel records for the caller's socket.

The engine can only attach to a running provider over TCP on 127.0.0.1 (it dials
"127.0.0.1:<port>" with no credentials and no call metadata: pulumi pkg/v3
resource/plugin/provider_plugin.go GetProviderAttachPort and plugin.go dialPlugin), so the
provider server cannot move to a Unix socket nor ask for a token. What it can do is ask the
kernel: every TCP socket in /proc/net/tcp carries the uid of the process that opened it, so
a call is served only when the other end of its connection belongs to our own user (who can
read our environment anyway). Linux only; anywhere else nothing is trusted.
"""
from __future__ import annotations

import os
import socket
import struct

# A client may open an IPv4 socket (Go's dialer: /proc/net/tcp) or a dual-stack IPv6 one that
# reaches 127.0.0.1 as ::ffff:127.0.0.1 (grpc's C core: /proc/net/tcp6).
PROC_TCP = ("/proc/net/tcp", "/proc/net/tcp6")


def _hex_addresses(ip: str, port: int) -> tuple[str, str]:
    """'127.0.0.1', 5000 -> how the kernel's tables write it: as IPv4 ('0100007F:1388') and as
    an IPv4-mapped IPv6 address ('0000000000000000FFFF00000100007F:1388'), each 32-bit word in
    the machine's byte order."""
    v4 = socket.inet_aton(ip)
    mapped = b"\0" * 10 + b"\xff\xff" + v4
    words = "".join(f"{w:08X}" for w in struct.unpack("=4I", mapped))
    return f"{struct.unpack('=I', v4)[0]:08X}:{port:04X}", f"{words}:{port:04X}"


def parse_peer(peer: str) -> tuple[str, int] | None:
    """grpc's context.peer() ('ipv4:127.0.0.1:54321') -> ('127.0.0.1', 54321); None for any other kind."""
    kind, _, rest = peer.partition(":")
    ip, _, port = rest.rpartition(":")
    if kind != "ipv4" or not port.isdigit():
        return None
    return ip, int(port)


def owner_of(peer_ip: str, peer_port: int, our_port: int, tables: tuple[str, ...] = PROC_TCP) -> int | None:
    """The uid owning the socket at peer_ip:peer_port connected to our_port, None when unknown."""
    locals_ = _hex_addresses(peer_ip, peer_port)
    remote_end = f":{our_port:04X}"
    for table in tables:
        try:
            with open(table) as fh:
                next(fh, None)
                for line in fh:
                    fields = line.split()
                    if len(fields) > 7 and fields[1] in locals_ and fields[2].endswith(remote_end):
                        return int(fields[7])
        except OSError:
            continue
    return None


def is_our_user(peer: str, our_port: int) -> bool:
    found = parse_peer(peer)
    return found is not None and owner_of(*found, our_port) == os.getuid()
