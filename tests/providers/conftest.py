"""The providers' configuration for in-process tests: built from the test settings the way
the worker builds it (app.services.hosting.engine.provider_config), installed with `use()`."""
from __future__ import annotations

import dataclasses

import pytest

from providers.core import config as provider_config


@pytest.fixture(scope="session")
def base_provider_config(settings, layout):
    from app.services.hosting.engine import provider_config as build

    built = build(settings)
    if not built.MAIL_SERVER_HOST:  # until app.services.hosting.engine.provider_config passes it
        built = dataclasses.replace(built, MAIL_SERVER_HOST=settings.MAIL_SERVER_HOST)
    if not built.MPANEL_ENCRYPTION_KEY:
        # An endpoints.json written by a supervisor started before the key existed lacks it;
        # the key itself is in the state directory's secrets.
        built = dataclasses.replace(built, MPANEL_ENCRYPTION_KEY=layout.endpoints()["MPANEL_ENCRYPTION_KEY"])
    return built


_base: list = []


@pytest.fixture(autouse=True)
def configured(base_provider_config):
    """Every provider test starts from the local servers' configuration."""
    _base[:] = [base_provider_config]
    provider_config.use(base_provider_config)
    yield base_provider_config
    provider_config.use(base_provider_config)


@pytest.fixture
def configure(base_provider_config):
    """configure(NAME=value, ...): run the providers with some values changed (fault injection)."""
    def change(**values):
        provider_config.use(dataclasses.replace(provider_config.current(), **values))
    yield change
    provider_config.use(base_provider_config)


def reconfigure(**values) -> None:
    """The same as the `configure` fixture, for hooks that have no fixture at hand."""
    provider_config.use(dataclasses.replace(provider_config.current(), **values))


def restore_config() -> None:
    """Back to the local servers' configuration (a hook clearing its faults)."""
    provider_config.use(_base[0])
