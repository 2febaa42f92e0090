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
  steps) share this server, where the SDK sized its pool for one;
- previews (`_previewing`): the server tells the engine it answers previews itself. A preview's
  create answers what the engine would answer for a provider without previews (the inputs, the
  rest unknown); a preview's in-place update answers the new inputs plus the outputs the
  provider declares an update never changes (`STABLE_ON_UPDATE`, providers/core/resource.py),
  where the engine would leave them unknown. Without it, previewing a plan change (an update of
  the WHM account) made the account's address unknown, and with it the zone and the mail
  domain that follow it showed as changing when nothing of theirs would.
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


def _previewing(servicer_class) -> None:
    """The SDK servicer answering previews (see the module's doc); real creates and updates are
    the SDK's own. Called once the SDK module is running (it serves as it is imported)."""
    import asyncio
    import sys

    from pulumi.runtime import proto, rpc

    sdk = sys.modules["pulumi.dynamic.__main__"]
    configure, create, update = servicer_class.Configure, servicer_class.Create, servicer_class.Update

    def previews_configure(self, request, context):
        answer = configure(self, request, context)
        answer.supportsPreview = True
        return answer

    def previews_create(self, request, context):
        if not request.preview:
            return create(self, request, context)
        return proto.CreateResponse(id="", properties=request.properties)  # never the provider's create

    def previews_update(self, request, context):
        if not request.preview:
            return update(self, request, context)
        olds = rpc.deserialize_properties(request.olds, True)
        news = rpc.deserialize_properties(request.news, True)
        provider = sdk.get_provider(olds if news.get(sdk.PROVIDER_KEY) == rpc.UNKNOWN else news, self._config)
        stable = {k: olds[k] for k in getattr(provider, "STABLE_ON_UPDATE", ()) if k in olds}
        if not stable:
            return proto.UpdateResponse(properties=request.news)
        loop = asyncio.new_event_loop()
        try:
            outs = loop.run_until_complete(rpc.serialize_properties({**news, **stable}, {}))
        finally:
            loop.close()
        return proto.UpdateResponse(properties=outs)

    servicer_class.Configure = previews_configure
    servicer_class.Create = previews_create
    servicer_class.Update = previews_update


def _prepare() -> None:
    stored.install()
    for name in PROVIDER_MODULES:
        importlib.import_module(name)

    register = provider_pb2_grpc.add_ResourceProviderServicer_to_server

    def register_with_attach(servicer, server):
        type(servicer).Attach = _attach
        _previewing(type(servicer))
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
