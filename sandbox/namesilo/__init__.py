"""The NameSilo registrar API stand-in: ``python -m sandbox.namesilo`` (protocol in ``app``)."""

from .app import create_app, main

__all__ = ["create_app", "main"]
