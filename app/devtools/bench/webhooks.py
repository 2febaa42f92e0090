"""A burst of signed Stripe webhooks, timed as the senders see each answer.

Stripe delivers from its own machines: each sender is independent, signs its events on its own
CPU and keeps its connection open. The senders here are separate processes for that reason, each
signing its share before the burst starts and sending over one kept connection with the standard
library's client. Eight threads of one Python process (how this bench sent before) time
each other's GIL turns and `requests`' parsing as much as the app: that figure is printed beside
it, so the two can be compared in one run.
"""
from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import multiprocessing
import secrets
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

from app.devtools.bench.figures import _ms, percentile
from app.settings import Settings

PATH = "/api/webhooks/stripe"


def _events(n: int, tag: str) -> list[dict]:
    return [{"id": f"evt_bench_{tag}_{secrets.token_hex(8)}", "object": "event", "type": "invoice.paid",
             "created": int(time.time()), "data": {"object": {"id": "in_bench", "object": "invoice"}}}
            for _ in range(n)]


def _signed(settings: Settings, event: dict) -> tuple[bytes, dict]:
    body = json.dumps(event).encode()
    t = int(time.time())
    mac = hmac.new(settings.STRIPE_WEBHOOK_SECRET.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return body, {"Content-Type": "application/json", "Stripe-Signature": f"t={t},v1={mac}"}


def _own(header: str | None) -> float:
    """The app's own handling of the delivery, from its Server-Timing header."""
    return float(header.split("dur=")[1]) / 1000


def _sender(settings: Settings, events: list[dict], start, answers) -> None:
    requests_ = [_signed(settings, event) for event in events]
    url = urlsplit(settings.APP_URL)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    connection.connect()
    timed = []
    start.wait()
    for body, headers in requests_:
        started = time.perf_counter()
        connection.request("POST", PATH, body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        took = time.perf_counter() - started
        if response.status != 200:
            raise SystemExit(f"the webhook answered {response.status}")
        timed.append((took, _own(response.getheader("Server-Timing"))))
    connection.close()
    answers.put(timed)


def from_processes(settings: Settings, senders: int, total: int = 200) -> list[tuple[float, float]]:
    """`total` deliveries shared among `senders` processes, all released at once."""
    events = _events(total, f"p{senders}")
    context = multiprocessing.get_context("fork")
    start, answers = context.Event(), context.Queue()
    processes = [context.Process(target=_sender, args=(settings, events[i::senders], start, answers))
                 for i in range(senders)]
    for process in processes:
        process.start()
    time.sleep(0.5)  # every sender signed and connected
    start.set()
    timed = [answer for _ in processes for answer in answers.get(timeout=120)]
    for process in processes:
        process.join()
    return timed


def from_threads(settings: Settings, senders: int, total: int = 200) -> list[tuple[float, float]]:
    """The earlier way: threads of this process, each with a `requests` session."""
    import requests

    local = threading.local()

    def send(event: dict) -> tuple[float, float]:
        if not hasattr(local, "session"):
            local.session = requests.Session()
        body, headers = _signed(settings, event)
        started = time.perf_counter()
        r = local.session.post(settings.APP_URL + PATH, data=body, headers=headers, timeout=30)
        took = time.perf_counter() - started
        r.raise_for_status()
        return took, _own(r.headers["Server-Timing"])

    with ThreadPoolExecutor(senders) as pool:
        return list(pool.map(send, _events(total, f"t{senders}")))


def report(settings: Settings) -> None:
    def line(label: str, timed: list[tuple[float, float]]) -> None:
        answers, own = [t for t, _ in timed], [o for _, o in timed]
        print(f"webhook answer time, burst of {len(timed)}, {label}, as the sender saw it: "
              f"median {_ms(statistics.median(answers)).strip()}, p99 {_ms(percentile(answers, 99)).strip()}; "
              f"the app's own handling (Server-Timing): median {_ms(statistics.median(own)).strip()}, "
              f"p99 {_ms(percentile(own, 99)).strip()}")

    line("1 sender", from_processes(settings, 1))
    line("8 senders at once (a process each)", from_processes(settings, 8))
    line("8 threads of one Python process at once (the earlier measure: they wait for each other)",
         from_threads(settings, 8))
