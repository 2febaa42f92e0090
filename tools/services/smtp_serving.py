"""Runs an aiosmtpd `Controller` until the supervisor stops it: shared by the local SMTP servers
(tools/services/mail_core.py, tools/services/smtp_sink.py), which differ only in their handler."""
from __future__ import annotations

from aiosmtpd.controller import Controller

from stacks.keepalive import stop_on_signal


def serve_until_stopped(controller: Controller, banner: str) -> None:
    controller.start()
    stop = stop_on_signal()
    print(banner, flush=True)
    stop.wait()
    controller.stop()
