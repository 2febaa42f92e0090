"""A small HTTP proxy in front of a real server, for fault tests and wire-level checks.

PowerDNS and pebble have no fault-injection API, so a test points a provider at this
proxy instead: it answers the first `failures` requests with 503 (what a restarting
upstream or a load balancer says), forwards everything else unchanged, and records each
request it saw so a test can assert what went over the wire.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-encoding", "content-length", "host"}


@dataclass(frozen=True)
class SeenRequest:
    method: str
    path: str
    body: bytes


class FaultProxy:
    def __init__(self, upstream: str, *, failures: int = 0, verify: str | bool = True):
        self.upstream = upstream.rstrip("/")
        self.failures = failures
        self.verify = verify
        self.seen: list[SeenRequest] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> "FaultProxy":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> "FaultProxy":
        return self.__enter__()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def requests(self, method: str | None = None) -> list[SeenRequest]:
        with self._lock:
            return [r for r in self.seen if method is None or r.method == method]

    def _fail_now(self) -> bool:
        with self._lock:
            if self.failures > 0:
                self.failures -= 1
                return True
            return False

    def _handler(self):
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args):
                pass

            def _relay(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with proxy._lock:
                    proxy.seen.append(SeenRequest(self.command, self.path, body))
                if proxy._fail_now():
                    payload = b'{"error": "Service Unavailable (injected)"}'
                    self.send_response(503)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                upstream = requests.request(self.command, proxy.upstream + self.path, headers=headers,
                                            data=body or None, verify=proxy.verify, allow_redirects=False,
                                            timeout=30)
                self.send_response(upstream.status_code)
                for k, v in upstream.headers.items():
                    if k.lower() not in _HOP_BY_HOP:
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(upstream.content)))
                self.end_headers()
                self.wfile.write(upstream.content)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = do_HEAD = _relay

        return Handler
