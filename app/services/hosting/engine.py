"""The engine's and the providers' configuration, built once from the settings."""
from __future__ import annotations

import dataclasses

from app.settings import Settings, state_dir
from providers.core.config import ProviderConfig
from stacks.engine import EngineConfig
from stacks.operations import StackOperations


def provider_config(settings: Settings) -> ProviderConfig:
    local = state_dir()
    return ProviderConfig(
        POWERDNS_API_URL=settings.POWERDNS_API_URL, POWERDNS_API_KEY=settings.POWERDNS_API_KEY,
        POWERDNS_DNS_ADDRESS=settings.POWERDNS_DNS_ADDRESS,
        ACME_DIRECTORY_URL=settings.ACME_DIRECTORY_URL, ACME_CA_BUNDLE=settings.ACME_CA_BUNDLE,
        ACME_ACCOUNT_KEY_PATH=settings.ACME_ACCOUNT_KEY_PATH or str(local / "acme-account.pem"),
        ACME_MANAGEMENT_URL=settings.ACME_MANAGEMENT_URL,
        NAMESILO_API_KEY=settings.NAMESILO_API_KEY, NAMESILO_API_URL=settings.NAMESILO_API_URL,
        NAMESILO_SANDBOX=settings.NAMESILO_SANDBOX,
        CPANEL_WHM_URL=settings.CPANEL_WHM_URL, CPANEL_WHM_API_TOKEN=settings.CPANEL_WHM_API_TOKEN,
        CPANEL_WHM_USERNAME=settings.CPANEL_WHM_USERNAME or "root",
        MAILCORE_DATABASE_URL=settings.MAILCORE_DATABASE_URL,
        MAILCORE_MAIL_ROOT=settings.MAILCORE_MAIL_ROOT or str(local / "mailcore"),
        MAILCORE_MAIL_ACCESS=settings.MAILCORE_MAIL_ACCESS or "local",
        MAILCORE_SSH_KEY_PATH=settings.MAILCORE_SSH_KEY_PATH,
        MPANEL_ENCRYPTION_KEY=settings.MPANEL_ENCRYPTION_KEY,
        SITES_SSH_KEY_PATH=settings.SITES_SSH_KEY_PATH, SSH_KNOWN_HOSTS=str(local / "ssh_known_hosts"),
        NS1=settings.NS1, NS2=settings.NS2, MAIL_SERVER_HOST=settings.MAIL_SERVER_HOST)


def engine_config(settings: Settings) -> EngineConfig:
    """Built for each converge (a Converger per job): the WHM endpoints of the web servers are
    read from the database then, so a server added or a token rotated is used by the next run."""
    providers = provider_config(settings)
    if settings.DATABASE_URL:
        from app import db
        from app.services.hosting.servers import whm_endpoints

        with db.transaction(settings.DATABASE_URL) as conn:
            providers = dataclasses.replace(providers, WHM_SERVERS=whm_endpoints(conn, settings))
    return EngineConfig(backend_url=settings.PULUMI_BACKEND_URL, passphrase=settings.PULUMI_CONFIG_PASSPHRASE,
                        home=state_dir() / "pulumi-home", providers=providers)


def whm_client(settings: Settings, server_id: int | None):
    """The WHM client of a web server (None or a server without an endpoint of its own: CPANEL_WHM_*)."""
    from app import db
    from app.services.hosting.servers import whm_endpoints
    from providers.clients.whm import WhmClient

    config = provider_config(settings)
    if server_id is not None:
        with db.transaction(settings.DATABASE_URL) as conn:
            endpoints = whm_endpoints(conn, settings)
        if str(server_id) in endpoints:
            config = dataclasses.replace(config, WHM_SERVERS=endpoints).for_whm_server(server_id)
    return WhmClient(config)


def stack_operations(settings: Settings) -> StackOperations:
    return StackOperations(engine_config(settings), run_timeout=settings.MPANEL_RUN_TIMEOUT_SECONDS)


def warm_provider_server(settings: Settings) -> None:
    """Start this process's dynamic-provider server now (stacks.provider_host), so a worker's
    first converge, often a customer who just paid, does not wait ~1 s for it."""
    from stacks import engine, provider_host

    with provider_host.attached(engine.engine_env(engine_config(settings))):
        pass
