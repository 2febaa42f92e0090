"""A stand-in served on a loopback socket, for clients that speak HTTP themselves.

Third-party client libraries (tests/sandbox/*/test_*_third_party_client.py) open their own
connections with ``requests``; Flask's test client cannot reach them, so the app runs in a
thread on 127.0.0.1 and an ephemeral port, and stops with the test.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Iterator

from werkzeug.serving import WSGIRequestHandler, make_server


class _Quiet(WSGIRequestHandler):
    # The stand-ins log each request themselves, with secrets masked; werkzeug's own line
    # would print URLs with passwords and keys in them.
    def log_request(self, code="-", size="-") -> None:
        pass


@contextmanager
def served(app) -> Iterator[str]:
    """The app's base URL (``http://127.0.0.1:PORT``) while it is being served."""
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_Quiet)
    thread = threading.Thread(target=server.serve_forever, name="stand-in", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)
