"""The dynamic providers' server, run once per worker process (stacks.provider_host) instead of
once per engine run: `python -m stacks.provider_server` prints its port, then serves.

It is the SDK's own server (`pulumi.dynamic.__main__`, what the engine would start itself),
with four differences, made before that module runs:
- stored providers are loaded through `providers.stored`, so every name an earlier release
  stored in a stack's state still resolves (the engine reads and deletes with those);
- the provider modules are imported first, once, so no engine run pays for them (~0.6 s);
- `Attach` answers: an engine told to use a running provider (PULUMI_DEBUG_PROVIDERS) first
  sends it its own address, a call the SDK's server predates; nothing here needs the address;
- more request threads: several engine runs (the worker's concurrency, each with parallel
  steps) share this server, where the SDK sized its pool for one.
"""
from __future__ import annotations

import importlib
from concurrent import futures

import grpc
from google.protobuf import empty_pb2
from pulumi.runtime.proto import provider_pb2_grpc

from providers import stored

# Every module a subscription's stack unpickles its providers from (architecture decision 4).
PROVIDER_MODULES = tuple(dict.fromkeys(path.partition(":")[0] for path in stored.KINDS.values()))
THREADS = 32


def _attach(self, request, context):
    return empty_pb2.Empty()


def _prepare() -> None:
    stored.install()
    for name in PROVIDER_MODULES:
        importlib.import_module(name)

    register = provider_pb2_grpc.add_ResourceProviderServicer_to_server

    def register_with_attach(servicer, server):
        type(servicer).Attach = _attach
        register(servicer, server)

    make_server = grpc.server

    def roomier_server(_executor, **kwargs):
        return make_server(futures.ThreadPoolExecutor(max_workers=THREADS), **kwargs)

    provider_pb2_grpc.add_ResourceProviderServicer_to_server = register_with_attach
    grpc.server = roomier_server


if __name__ == "__main__":
    _prepare()
    importlib.import_module("pulumi.dynamic.__main__")  # prints the port, serves until killed
