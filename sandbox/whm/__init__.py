"""The cPanel WHM API 1 stand-in: ``python -m sandbox.whm`` (protocol in ``app``)."""

from .app import create_app, main

__all__ = ["create_app", "main"]
