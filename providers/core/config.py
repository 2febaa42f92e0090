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
from dataclasses import dataclass, field

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
    MAILCORE_MAIL_ACCESS: str = "local"
    MAILCORE_SSH_KEY_PATH: str = ""
    MPANEL_ENCRYPTION_KEY: str = ""
    SITES_SSH_KEY_PATH: str = ""
    SSH_KNOWN_HOSTS: str = ""
    NS1: str = ""
    NS2: str = ""
    MAIL_SERVER_HOST: str = ""
    # Every web server's WHM endpoint by servers.id: {"2": {"url", "username", "token"}}. The worker
    # builds it from the servers rows (tokens decrypted there) for each run; a resource names only
    # the server id, so no token ever reaches Pulumi state. CPANEL_WHM_* above is the server with
    # no endpoint of its own (the single-server install), and the one of resources made before.
    WHM_SERVERS: dict = field(default_factory=dict, repr=False)

    @classmethod
    def from_mapping(cls, values: dict) -> "ProviderConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in names})

    def to_env(self) -> dict[str, str]:
        return {ENV_VAR: json.dumps(dataclasses.asdict(self))}

    def for_whm_server(self, server: str | int | None) -> "ProviderConfig":
        """This configuration with CPANEL_WHM_* set to the WHM of `server` (a servers.id); None: the
        environment's own. A server this run was not told about is an error, never the default:
        that would create the account on one server while DNS points at another."""
        if server in (None, ""):
            return self
        found = self.WHM_SERVERS.get(str(server))
        if found is None:
            raise KeyError(f"no WHM endpoint is configured for web server {server}")
        return dataclasses.replace(self, CPANEL_WHM_URL=found["url"], CPANEL_WHM_API_TOKEN=found["token"],
                                   CPANEL_WHM_USERNAME=found.get("username") or "root")

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
