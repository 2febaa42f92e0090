"""HTTP clients that connect from a chosen loopback address (all of 127.0.0.0/8 is this machine):
many customers, each from an address of its own, or a client that is neither nginx nor a
trusted proxy, without leaving 127.0.0.1's server."""
from __future__ import annotations

import itertools
import threading

import requests
from requests.adapters import HTTPAdapter


class FromAddress(HTTPAdapter):
    """Binds each connection's source to `address` before connecting."""

    def __init__(self, address: str, **kwargs):
        self.address = address
        super().__init__(**kwargs)

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)


def session_from(address: str) -> requests.Session:
    http = requests.Session()
    http.mount("https://", FromAddress(address))
    http.mount("http://", FromAddress(address))
    return http


_customers = itertools.count(1)
_customers_lock = threading.Lock()


def a_customer() -> requests.Session:
    """A client from a loopback address no earlier call of this process used (127.0.1.1 on):
    each checkout a benchmark or chaos run makes comes from a customer of its own, so the
    per-address checkout limit (20 an hour) stays on and is not what they measure."""
    with _customers_lock:
        n = next(_customers)
    return session_from(f"127.0.{1 + n // 250}.{1 + n % 250}")
