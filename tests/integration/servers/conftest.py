"""A second web server for the test session (tests/web_server_b.py): web server B on ports of
its own (port base + 587 and + 522)."""
from __future__ import annotations

import pytest

from tests.web_server_b import B_ACCOUNT_IP, WebServerB, running_web_server_b  # noqa: F401  (B_ACCOUNT_IP, WebServerB: imported from here)


@pytest.fixture(scope="session")
def web_server_b(settings, layout):
    yield from running_web_server_b(settings, layout)
