"""Fixtures for the Stripe stand-in tests: stand-ins on free ports, a webhook receiver."""

from __future__ import annotations

from typing import Any

import pytest

from tests.sandbox.stripe.stand_in import WEBHOOK_SECRET, StripeStandIn, WebhookReceiver


@pytest.fixture
def stand_in_factory(tmp_path):
    started: list[StripeStandIn] = []

    def start(**options: Any) -> StripeStandIn:
        options.setdefault("webhook_retry_base", 0.01)
        options.setdefault("webhook_timeout", 2.0)
        stand_in = StripeStandIn(tmp_path / "stripe" / "state.sqlite3", **options)
        started.append(stand_in)
        return stand_in

    yield start
    for stand_in in started:
        stand_in.stop()


@pytest.fixture
def stand_in(stand_in_factory) -> StripeStandIn:
    return stand_in_factory()


@pytest.fixture
def receiver():
    endpoint = WebhookReceiver()
    yield endpoint
    endpoint.stop()


@pytest.fixture
def hooked(stand_in_factory, receiver) -> StripeStandIn:
    """A stand-in that delivers every event, signed, to ``receiver``."""
    return stand_in_factory(webhook_url=receiver.url, webhook_secret=WEBHOOK_SECRET)
