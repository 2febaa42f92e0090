"""GET /metrics: Prometheus' text format, for the addresses MPANEL_METRICS_ALLOW names or a
bearer token (MPANEL_METRICS_TOKEN); anyone else gets 403.

The counters of every process on this host (the web app's, the worker's children, the
dynamic-provider server) are summed from PROMETHEUS_MULTIPROC_DIR when it is set (the CLI
sets it: app/cli/__init__.py), this process's alone otherwise; the database's gauges are read
now (app/observe/gauges.py). The peer is `request.remote_addr`: behind a trusted proxy, the
client the proxy forwarded for, so a scrape through nginx is judged by its real origin.
"""
from __future__ import annotations

import hmac
import ipaddress
import os

from flask import Blueprint, Response, current_app, request
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, multiprocess

from app.observe.gauges import DatabaseGauges
from app.settings import metrics_dir, metrics_shared
from app.web.errors import ApiError

bp = Blueprint("metrics", __name__)


def _allowed_networks(text: str) -> list:
    return [ipaddress.ip_network(part.strip(), strict=False) for part in text.split(",") if part.strip()]


def _may_read() -> bool:
    settings = current_app.config["MPANEL"]
    token = settings.MPANEL_METRICS_TOKEN
    given = request.headers.get("Authorization", "")
    if token and given.startswith("Bearer ") and hmac.compare_digest(given[7:].strip(), token):
        return True
    try:
        peer = ipaddress.ip_address((request.remote_addr or "").split("%")[0])
    except ValueError:
        return False
    if peer.version == 6 and peer.ipv4_mapped:
        peer = peer.ipv4_mapped
    return any(peer in network for network in current_app.config["MPANEL_METRICS_NETWORKS"])


class _CountedOnThisHost:
    """The counters of every process on this host, summed from their files (prometheus_client's
    multiprocess mode), leaving out a file a process killed at birth left empty: the library's own
    collector fails on it, so one unlucky SIGKILL would fail every scrape until someone deleted it.
    Such a process counted nothing."""

    def collect(self):
        directory = metrics_dir()
        files = [entry.path for entry in os.scandir(directory)
                 if entry.name.endswith(".db") and entry.stat().st_size > 0]
        return multiprocess.MultiProcessCollector.merge(files, accumulate=True)


def init_app(app) -> None:
    settings = app.config["MPANEL"]
    app.config["MPANEL_METRICS_NETWORKS"] = _allowed_networks(settings.MPANEL_METRICS_ALLOW)
    app.config["MPANEL_METRICS_GAUGES"] = DatabaseGauges(settings)
    app.register_blueprint(bp)


@bp.get("/metrics")
def metrics():
    if not _may_read():
        raise ApiError(403, "forbidden", "metrics are for the addresses in MPANEL_METRICS_ALLOW or a bearer token")
    counted = CollectorRegistry()
    if metrics_shared():
        counted.register(_CountedOnThisHost())
        body = generate_latest(counted)
    else:
        body = generate_latest(REGISTRY)
    database = CollectorRegistry()
    database.register(current_app.config["MPANEL_METRICS_GAUGES"])
    return Response(body + generate_latest(database), mimetype=CONTENT_TYPE_LATEST)
