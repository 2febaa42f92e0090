"""The Stripe stand-in: ``python -m sandbox.stripe [serve|advance]`` (protocol in ``app``)."""

from .app import create_app
from .cli import main

__all__ = ["create_app", "main"]
