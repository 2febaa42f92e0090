"""What a stack's state holds for each dynamic resource's provider: a published contract.

Pulumi pickles a dynamic resource's provider object into the state (`__provider`, with dill),
and the engine unpickles exactly that object to read and delete the resource later, possibly
years and many releases on. Pickling a class stores its module path, so moving a provider
class would strand every stack recorded before the move (it happened: `providers.base` and
`providers.site` disappeared in a restructure and old stacks could no longer be refreshed,
converged or destroyed).

So the state names only what this module promises never to move or rename:

- `providers.stored.provider` (this function) and the **kind** strings of `KINDS`: every
  provider pickles itself as `provider("<kind>")` (`ProviderAdapter.__reduce__`), and
  unpickling builds the current release's implementation of that kind. Moving an
  implementation changes one line of `KINDS`; a kind is never renamed or reused.
- `LEGACY`: every class path an earlier release stored, resolved to what replaces it now.
  Entries are only ever added. `loads` applies it; the dynamic-provider server
  (`stacks.provider_server`) makes it the loader the SDK uses, for the worker's shared server
  and for the per-run one alike.

Provider objects carry no data of their own (endpoints and keys are injected per operation,
policy knobs are class attributes), so nothing but the kind is stored; what older releases
stored beside their class (a retry policy) is ignored on load and the current policy applies.
`tests/unit/test_stored_providers.py` unpickles a real sample stored by each earlier release.
"""
from __future__ import annotations

import base64
import importlib
import io
from typing import Any

# kind -> "module:Class" of the current implementation. Never rename or reuse a kind.
KINDS: dict[str, str] = {
    "whm-account": "providers.resources.whm_account:WhmAccountProvider",
    "whm-ssl": "providers.resources.whm_ssl:WhmSslProvider",
    "dns-zone": "providers.resources.dns_zone:DnsZoneProvider",
    "acme-certificate": "providers.resources.certificate:CertificateProvider",
    "namesilo-registration": "providers.resources.domain_registration:DomainRegistrationProvider",
    "mail-domain": "providers.resources.mail_domain:MailDomainProvider",
    "mailbox": "providers.resources.mailbox:MailboxProvider",
    "inert": "providers.core.inert:InertProvider",
    "retired-starter-page": "providers.core.retired:RetiredStarterPageProvider",
}

# (module, name) an earlier release stored -> a kind (a provider class) or "module:name" (any
# other object pickled beside it). Only ever add to this table.
LEGACY: dict[tuple[str, str], str] = {
    # 2026-11-26 .. 2026-11-29 (up to 5cdc660 and the first restructure): a base module, and the
    # retry policy each provider instance carried.
    ("providers.base", "RetryPolicy"): "providers.core.retry:RetryPolicy",
    ("providers.core.retry", "RetryPolicy"): "providers.core.retry:RetryPolicy",
    # The starter page was a dynamic resource until 3e3674f (now pulumi-command's remote.Command).
    ("providers.site", "StarterPageProvider"): "retired-starter-page",
    # Class paths stored from the first release until kinds existed (25cbbf1).
    ("providers.whm", "WhmAccountProvider"): "whm-account",
    ("providers.whm", "WhmSslProvider"): "whm-ssl",
    ("providers.whm_tls", "WhmSslProvider"): "whm-ssl",
    ("providers.powerdns", "DnsZoneProvider"): "dns-zone",
    ("providers.acme", "CertificateProvider"): "acme-certificate",
    ("providers.namesilo", "DomainRegistrationProvider"): "namesilo-registration",
    ("providers.mailbox", "MailDomainProvider"): "mail-domain",
    ("providers.mailbox", "MailboxProvider"): "mailbox",
    ("providers.core.inert", "InertProvider"): "inert",
}


class StoredByKind:
    """Mixed into every dynamic provider: pickled as `provider(KIND)`, never by class path."""

    KIND: str

    def __reduce__(self):
        return provider, (self.KIND,)

    def __setstate__(self, _state) -> None:
        """Older releases stored policy knobs beside the class; the current release's apply."""


def _locate(path: str) -> Any:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def implementation(kind: str) -> type:
    """The current release's provider class of a kind."""
    try:
        return _locate(KINDS[kind])
    except KeyError:
        raise LookupError(f"no dynamic provider of kind {kind!r} in this release (known: {', '.join(KINDS)})") \
            from None


def provider(kind: str):
    """What every stored provider unpickles to: the current implementation of its kind."""
    return implementation(kind)()


def legacy(module: str, name: str) -> Any | None:
    """What a class path stored by an earlier release stands for now, or None."""
    target = LEGACY.get((module, name))
    if target is None:
        return None
    return implementation(target) if target in KINDS else _locate(target)


def loads(data: bytes) -> Any:
    """dill.loads, with the names earlier releases stored resolved through LEGACY."""
    import dill

    class Unpickler(dill.Unpickler):
        def find_class(self, module, name):
            return legacy(module, name) or super().find_class(module, name)

    return Unpickler(io.BytesIO(data)).load()


def load_stored(text: str) -> Any:
    """A provider as the state holds it (`__provider`: base64 of the pickle)."""
    return loads(base64.b64decode(text))


def install() -> None:
    """Make `loads` the loader of the SDK's dynamic-provider server in this process
    (`pulumi.dynamic.__main__` calls `dill.loads` for every stored provider it meets)."""
    import dill

    if getattr(dill.loads, "resolves_legacy_names", False):
        return
    plain = dill.loads

    def legacy_aware(data, *args, **kwargs):
        if args or kwargs:
            return plain(data, *args, **kwargs)
        return loads(data)

    legacy_aware.resolves_legacy_names = True
    dill.loads = legacy_aware
