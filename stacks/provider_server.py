"""The dynamic providers' server, run once per worker process (stacks.provider_host) instead of
once per engine run: `python -m stacks.provider_server` prints its port, then serves.

It is the SDK's own server (`pulumi.dynamic.__main__`, what the engine would start itself),
with five differences, made before that module runs:
- stored providers are loaded through `providers.stored`, so every name an earlier release
  stored in a stack's state still resolves (the engine reads and deletes with those);
- the provider modules are imported first, once, so no engine run pays for them (~0.6 s);
- `Attach` answers: an engine told to use a running provider (PULUMI_DEBUG_PROVIDERS) first
  sends it its own address, a call the SDK's server predates; nothing here needs the address;
- only our own user is served: the engine cannot attach over a Unix socket nor send a token
  (stacks/local_peer.py says why), so each call is checked against the uid the kernel records
  for the caller's socket, and any other local user gets PERMISSION_DENIED before a byte of
  what it sent is unpickled;
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
from stacks import local_peer

# Every module a subscription's stack unpickles its providers from (architecture decision 4).
PROVIDER_MODULES = tuple(dict.fromkeys(path.partition(":")[0] for path in stored.KINDS.values()))
THREADS = 32


def _attach(self, request, context):
    return empty_pb2.Empty()


class OurUserOnly(grpc.ServerInterceptor):
    """Every call checked against the caller's socket owner (stacks/local_peer.py)."""

    def __init__(self):
        self.port: int | None = None  # set once the server is bound

    def intercept_service(self, continuation, details):
        handler = continuation(details)
        if handler is None or handler.unary_unary is None:
            return None  # the provider protocol is unary only: anything else is not served
        served = handler.unary_unary

        def checked(request, context):
            if self.port is None or not local_peer.is_our_user(context.peer(), self.port):
                context.abort(grpc.StatusCode.PERMISSION_DENIED, "the provider server serves only its own user")
            return served(request, context)

        return grpc.unary_unary_rpc_method_handler(checked, request_deserializer=handler.request_deserializer,
                                                   response_serializer=handler.response_serializer)


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
        guard = OurUserOnly()
        server = make_server(futures.ThreadPoolExecutor(max_workers=THREADS),
                             interceptors=[guard, *kwargs.pop("interceptors", ())], **kwargs)
        bind = server.add_insecure_port

        def bind_and_note(address):
            guard.port = bind(address)
            return guard.port

        server.add_insecure_port = bind_and_note
        return server

    provider_pb2_grpc.add_ResourceProviderServicer_to_server = register_with_attach
    grpc.server = roomier_server


if __name__ == "__main__":
    _prepare()
    importlib.import_module("pulumi.dynamic.__main__")  # prints the port, serves until killed
