"""What stacks store for their dynamic providers keeps resolving across releases.

The samples in fixtures/stored_providers.json were serialized by the earlier releases' own
code (each at the commit named), exactly as Pulumi stores them in a stack's state.
"""
from __future__ import annotations

import base64
import inspect
import json
import pickletools
from pathlib import Path

import pytest
from pulumi.dynamic import ResourceProvider
from pulumi.dynamic.dynamic import serialize_provider

from providers import stored

SAMPLES = json.loads((Path(__file__).parent / "fixtures" / "stored_providers.json").read_text())["releases"]
STORED = [(commit[:7], path, text) for commit, samples in SAMPLES.items() for path, text in sorted(samples.items())]


def globals_named(text: str) -> set[tuple[str, str]]:
    """The (module, name) pairs a stored pickle makes the loader import."""
    strings, found = [], set()
    for op, arg, _pos in pickletools.genops(base64.b64decode(text)):
        if op.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE"):
            strings.append(arg)
        elif op.name == "STACK_GLOBAL":
            found.add((strings[-2], strings[-1]))
        elif op.name == "GLOBAL":
            found.add(tuple(arg.split(" ", 1)))
    return found


def current_providers() -> list[type]:
    import importlib

    classes = []
    for module in dict.fromkeys(path.partition(":")[0] for path in stored.KINDS.values()):
        for cls in vars(importlib.import_module(module)).values():
            if inspect.isclass(cls) and issubclass(cls, ResourceProvider) and getattr(cls, "KIND", None) \
                    and cls.__module__ == module:
                classes.append(cls)
    return classes


@pytest.mark.parametrize("commit, path, text", STORED, ids=[f"{c}-{p}" for c, p, _ in STORED])
def test_a_provider_an_earlier_release_stored_loads_as_the_current_implementation(commit, path, text):
    loaded = stored.load_stored(text)
    module, _, name = path.rpartition(".")
    kind = stored.LEGACY[(module, name)]
    assert type(loaded) is stored.implementation(kind)


@pytest.mark.parametrize("commit, path, text", STORED, ids=[f"{c}-{p}" for c, p, _ in STORED])
def test_every_name_an_earlier_release_stored_is_listed_in_the_legacy_table(commit, path, text):
    # Resolving only because a module of that name happens to exist today would break at the
    # next move: each stored name must be in the table that is only ever added to.
    assert globals_named(text) <= set(stored.LEGACY), f"{commit} stored names missing from providers.stored.LEGACY"


def test_a_stored_provider_names_only_the_published_function_and_its_kind():
    for cls in current_providers():
        text = serialize_provider(cls())
        assert globals_named(text) == {("providers.stored", "provider")}, cls
        assert cls.KIND.encode() in base64.b64decode(text)
        assert type(stored.load_stored(text)) is cls


def test_every_kind_names_a_provider_that_stores_itself_as_that_kind():
    for kind in stored.KINDS:
        cls = stored.implementation(kind)
        assert cls.KIND == kind
    assert sorted(cls.KIND for cls in current_providers()) == sorted(stored.KINDS)


def test_an_older_release_s_retry_knobs_are_not_carried_into_the_current_provider():
    text = SAMPLES["5cdc66060eb51bcdb5005d1e7ee27cb307caff3a"]["providers.whm.WhmAccountProvider"]
    assert ("providers.base", "RetryPolicy") in globals_named(text)
    loaded = stored.load_stored(text)
    assert "retry" not in vars(loaded) and loaded.retry is type(loaded).retry


def test_the_retired_starter_page_is_forgotten_without_touching_the_page():
    text = SAMPLES["5cdc66060eb51bcdb5005d1e7ee27cb307caff3a"]["providers.site.StarterPageProvider"]
    page = stored.load_stored(text)
    props = {"ssh_address": "127.0.0.1:22", "ssh_user": "nobody", "document_root": "/nonexistent",
             "path": "/nonexistent/index.html", "content_sha256": "0" * 64}
    assert page.read("id", props).outs == props  # no SSH connection is attempted
    assert page.delete("id", props) is None
    assert page.diff("id", props, props).changes is False


def test_an_unknown_kind_says_which_kinds_exist():
    with pytest.raises(LookupError, match="whm-account"):
        stored.provider("no-such-kind")


def test_the_provider_server_makes_the_legacy_aware_loader_the_one_the_sdk_uses():
    import subprocess
    import sys

    text = SAMPLES["5cdc66060eb51bcdb5005d1e7ee27cb307caff3a"]["providers.site.StarterPageProvider"]
    script = ("import base64, dill; from stacks import provider_server; provider_server._prepare(); "
              f"print(type(dill.loads(base64.b64decode({text!r}))).__name__)")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "RetiredStarterPageProvider", done.stderr
