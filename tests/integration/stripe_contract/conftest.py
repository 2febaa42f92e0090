"""stripe-mock (Stripe's own mock, built by `mpanel setup` at tools/stripe_mock.VERSION) on a free port."""

from __future__ import annotations

import socket
import subprocess
import time

import pytest
import requests

from app.settings import Settings
from tools import stripe_mock


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def stripe_mock_url():
    binary = stripe_mock.binary_path()
    if not binary.exists():
        pytest.fail(f"stripe-mock is not built ({binary}): run `mpanel setup`")
    port = _free_port()
    # Its HTTPS listener would default to :12112 on every interface: loopback, a port of its own.
    proc = subprocess.Popen([str(binary), "-http-addr", f"127.0.0.1:{port}", "-https-addr", "127.0.0.1:",
                             "-strict-version-check"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            requests.get(f"{url}/v1/products", headers={"Authorization": "Bearer sk_test_123"}, timeout=1)
            break
        except requests.ConnectionError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"stripe-mock did not start: {proc.stderr.read().decode(errors='replace')}")
            time.sleep(0.1)
    yield url
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def mock_settings(stripe_mock_url, monkeypatch) -> Settings:
    # stripe-mock takes only keys like sk_test_123 (no sk_test_mpanel_ underscores); STRIPE_API_BASE
    # set in the environment points the client at it whatever the key (billing.uses_sandbox), which
    # Settings.from_env records as stripe_api_base_from_env.
    monkeypatch.setenv("STRIPE_API_BASE", stripe_mock_url)
    return Settings(STRIPE_SECRET_KEY="sk_test_123", STRIPE_API_BASE=stripe_mock_url, stripe_api_base_from_env=True)
