"""The client's address and scheme behind a reverse proxy, trusted only from known proxies.

nginx (templates/deploy/nginx-site.conf) answers the customer and passes the request on with
`X-Forwarded-For` (the addresses it came through, the client's first) and `X-Forwarded-Proto`.
Anyone can send those headers, so they mean something only when the peer that connected to us
is one of MPANEL_TRUSTED_PROXIES (comma-separated addresses or CIDR networks). The client is
then the rightmost address of X-Forwarded-For that is not itself a trusted proxy: the entries
to its left were written by whoever sent the request and prove nothing. werkzeug's ProxyFix
trusts a fixed number of hops instead, which turns a forged header into the client's address
as soon as the hop count is off by one.

This sits below Flask, so everything that reads `request.remote_addr` (the staff login throttle,
the operators' audit log, the console's sessions) and `request.scheme` sees the real client.
"""
from __future__ import annotations

import ipaddress
from typing import Callable, Iterable

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(text: str) -> tuple[Network, ...]:
    """MPANEL_TRUSTED_PROXIES: "127.0.0.1, 10.0.0.0/8, ::1" (a bad entry is a configuration error)."""
    networks = []
    for item in (part.strip() for part in (text or "").split(",")):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError as exc:
            raise ValueError(f"MPANEL_TRUSTED_PROXIES: {item!r} is not an IP address or network") from exc
    return tuple(networks)


def _address(text: str):
    text = text.strip()
    if text.startswith("[") and "]" in text:  # [::1]:port, as some proxies write IPv6
        text = text[1:text.index("]")]
    elif text.count(":") == 1:  # 203.0.113.7:51234
        text = text.split(":", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _trusted(address, networks: Iterable[Network]) -> bool:
    return address is not None and any(address in net for net in networks)


def client_of(peer: str, forwarded_for: str, networks: tuple[Network, ...]) -> str:
    """The client's address: the peer itself unless it is a trusted proxy; then, walking
    X-Forwarded-For from the right, the first address that is not a trusted proxy."""
    if not _trusted(_address(peer), networks):
        return peer
    client = peer
    for hop in reversed([h for h in forwarded_for.split(",") if h.strip()]):
        address = _address(hop)
        if address is None:  # garbage in the chain: stop at the last address we could vouch for
            break
        client = str(address)
        if not _trusted(address, networks):
            break
    return client


class TrustedProxies:
    """WSGI middleware: REMOTE_ADDR and wsgi.url_scheme from the forwarded headers, only when
    the connection comes from a trusted proxy; the headers are ignored otherwise."""

    def __init__(self, app: Callable, networks: tuple[Network, ...]):
        self.app = app
        self.networks = networks

    def __call__(self, environ: dict, start_response):
        peer = environ.get("REMOTE_ADDR", "")
        if self.networks and _trusted(_address(peer), self.networks):
            environ["mpanel.proxy_peer"] = peer
            environ["REMOTE_ADDR"] = client_of(peer, environ.get("HTTP_X_FORWARDED_FOR", ""), self.networks)
            proto = environ.get("HTTP_X_FORWARDED_PROTO", "").split(",")[-1].strip().lower()
            if proto in ("http", "https"):
                environ["wsgi.url_scheme"] = proto
        return self.app(environ, start_response)


def init_app(app) -> None:
    networks = parse_networks(app.config["MPANEL"].MPANEL_TRUSTED_PROXIES)
    if networks:
        app.wsgi_app = TrustedProxies(app.wsgi_app, networks)
