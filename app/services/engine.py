"""The engine's and the providers' configuration, built once from the settings."""
from __future__ import annotations

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
        MPANEL_ENCRYPTION_KEY=settings.MPANEL_ENCRYPTION_KEY,
        SITES_SSH_KEY_PATH=settings.SITES_SSH_KEY_PATH, SSH_KNOWN_HOSTS=str(local / "ssh_known_hosts"),
        NS1=settings.NS1, NS2=settings.NS2, MAIL_SERVER_HOST=settings.MAIL_SERVER_HOST)


def engine_config(settings: Settings) -> EngineConfig:
    return EngineConfig(backend_url=settings.PULUMI_BACKEND_URL, passphrase=settings.PULUMI_CONFIG_PASSPHRASE,
                        home=state_dir() / "pulumi-home", providers=provider_config(settings))



def stack_operations(settings: Settings) -> StackOperations:
    return StackOperations(engine_config(settings))
