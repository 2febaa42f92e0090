"""What the providers need to know (endpoints, keys, paths), handed to them by the caller.

Providers never read the application's settings: the worker builds a `ProviderConfig`
from its settings, and the engine passes it to the dynamic-provider process in one
environment variable (`MPANEL_PROVIDER_CONFIG`, JSON), parsed once per process. Nothing
here is ever stored in Pulumi state. In-process callers (tests, benchmarks, the doctor)
install a config with `use()`.
"""
from __future__ import annotations

import dataclasses
import json
import os
import threading
from dataclasses import dataclass

ENV_VAR = "MPANEL_PROVIDER_CONFIG"


@dataclass(frozen=True)
class ProviderConfig:
    # Field names are the seed's environment variable names the values come from.
    POWERDNS_API_URL: str = ""
    POWERDNS_API_KEY: str = ""
    POWERDNS_DNS_ADDRESS: str = ""
    ACME_DIRECTORY_URL: str = ""
    ACME_CA_BUNDLE: str = ""
    ACME_ACCOUNT_KEY_PATH: str = ""
    ACME_MANAGEMENT_URL: str = ""
    NAMESILO_API_KEY: str = ""
    NAMESILO_API_URL: str = ""
    NAMESILO_SANDBOX: bool = False
    CPANEL_WHM_URL: str = ""
    CPANEL_WHM_API_TOKEN: str = ""
    CPANEL_WHM_USERNAME: str = "root"
    MAILCORE_DATABASE_URL: str = ""
    MAILCORE_MAIL_ROOT: str = ""
    MPANEL_ENCRYPTION_KEY: str = ""
    SITES_SSH_KEY_PATH: str = ""
    SSH_KNOWN_HOSTS: str = ""
    NS1: str = ""
    NS2: str = ""
    MAIL_SERVER_HOST: str = ""

    @classmethod
    def from_mapping(cls, values: dict) -> "ProviderConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in names})

    def to_env(self) -> dict[str, str]:
        return {ENV_VAR: json.dumps(dataclasses.asdict(self))}

    @property
    def nameservers(self) -> list[str]:
        return [ns for ns in (self.NS1, self.NS2) if ns]


_installed: ProviderConfig | None = None
_lock = threading.Lock()


def use(config: ProviderConfig) -> None:
    """Install the configuration for this process (in-process callers: tests, bench, doctor)."""
    global _installed
    with _lock:
        _installed = config


def current() -> ProviderConfig:
    """This process's configuration: installed by use(), or read once from the environment."""
    global _installed
    with _lock:
        if _installed is None:
            raw = os.environ.get(ENV_VAR)
            _installed = ProviderConfig.from_mapping(json.loads(raw)) if raw else ProviderConfig()
        return _installed
