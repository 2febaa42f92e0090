"""A real Prometheus (Debian's package) scrapes the running app's /metrics during a paid
checkout, and a PromQL query over its HTTP API sees the converge counted. The shipped alert
rules pass `promtool check rules`."""
from __future__ import annotations

import os
import shutil
from dataclasses import replace
import subprocess
from pathlib import Path

import pytest
import requests

from tests.e2e.conftest import seed_payload, wait_for, wait_until_answering

CHECKOUT = Path(__file__).resolve().parents[2]
RULES = CHECKOUT / "tools" / "deploy" / "prometheus" / "mpanel-rules.yml"
PROMETHEUS_PORT_OFFSET = 909  # beside the local servers' offsets (tools/services/layout.py)


def _need(binary: str) -> str:
    found = shutil.which(binary)
    if not found:
        pytest.skip(f"{binary} is not installed: `mpanel setup` installs Debian's prometheus package")
    return found


def test_the_shipped_alert_rules_pass_promtool():
    checked = subprocess.run([_need("promtool"), "check", "rules", str(RULES)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "4 rules found" in checked.stdout or "SUCCESS" in checked.stdout


@pytest.fixture
def prometheus(layout, tmp_path):
    """Prometheus scraping the app's /metrics every second, its API on the test's port base."""
    binary = _need("prometheus")
    port = layout.port_base + PROMETHEUS_PORT_OFFSET
    target = layout.app_url.removeprefix("http://")
    (tmp_path / "prometheus.yml").write_text(f"""
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: ["{RULES}"]
scrape_configs:
  - job_name: mpanel
    static_configs: [{{targets: ["{target}"]}}]
""")
    process = subprocess.Popen([binary, f"--config.file={tmp_path / 'prometheus.yml'}",
                                f"--storage.tsdb.path={tmp_path / 'data'}", f"--web.listen-address=127.0.0.1:{port}"],
                               stdout=subprocess.DEVNULL, stderr=(tmp_path / "prometheus.log").open("w"))
    api = f"http://127.0.0.1:{port}/api/v1"

    try:
        wait_until_answering(f"http://127.0.0.1:{port}/-/ready", 60, "prometheus to start")
        yield api
    finally:
        process.terminate()
        process.wait(30)


def _query(api: str, promql: str) -> float | None:
    answer = requests.get(f"{api}/query", params={"query": promql}, timeout=5).json()
    assert answer["status"] == "success", answer
    result = answer["data"]["result"]
    return float(result[0]["value"][1]) if result else None


def test_prometheus_sees_a_paid_checkouts_converge_counted(mpanel, settings, prometheus):
    converges = 'sum(mpanel_converges_total{kind="up",outcome="succeeded"})'
    # The target is up and the database's gauges are there before the order.
    wait_for(lambda: _query(prometheus, 'up{job="mpanel"}') == 1.0, 60, "prometheus to scrape the app")
    assert _query(prometheus, "mpanel_workers_alive") is not None
    before = _query(prometheus, converges) or 0.0

    body = mpanel.checkout(seed_payload()).json()
    assert mpanel.pay(body["checkoutSessionId"]).status_code == 200
    mpanel.wait_until(body["subscriptionId"], provisioningStatus="ready")

    wait_for(lambda: (_query(prometheus, converges) or 0.0) > before, 60, "prometheus to count the converge")
    assert (_query(prometheus, 'sum(mpanel_webhooks_received_total)') or 0) >= 1
    assert (_query(prometheus, 'sum(mpanel_checkouts_total)') or 0) >= 1
    assert _query(prometheus, 'sum(mpanel_converge_duration_seconds_count{kind="up"})') >= 1
    assert _query(prometheus, 'sum(mpanel_upstream_calls_total{service="powerdns"})') >= 1
    assert _query(prometheus, 'mpanel_queue_depth{queue="converge"}') is not None


def test_metrics_refuse_a_peer_outside_the_allowed_addresses_without_the_token(settings):
    from app import create_app

    allowed = create_app(settings, open_queue=False).test_client()
    assert allowed.get("/metrics", environ_base={"REMOTE_ADDR": "127.0.0.1"}).status_code == 200
    assert allowed.get("/metrics", environ_base={"REMOTE_ADDR": "203.0.113.9"}).status_code == 403
    with_token = create_app(replace(settings, MPANEL_METRICS_TOKEN="scrape-me-please"), open_queue=False).test_client()
    answer = with_token.get("/metrics", environ_base={"REMOTE_ADDR": "203.0.113.9"},
                            headers={"Authorization": "Bearer scrape-me-please"})
    assert answer.status_code == 200 and b"mpanel_workers_alive" in answer.data
    assert with_token.get("/metrics", environ_base={"REMOTE_ADDR": "203.0.113.9"},
                          headers={"Authorization": "Bearer wrong"}).status_code == 403


def test_a_process_killed_as_it_began_counting_does_not_break_the_scrape(settings, tmp_path, monkeypatch):
    """A process SIGKILLed between creating its counter file and sizing it leaves an empty file;
    the other processes' counts are still served."""
    import sys

    from app import create_app

    counting = ("from prometheus_client import Counter; "
                "Counter('mpanel_checkouts', 'checkouts', ['plan']).labels(plan='one').inc(3)")
    subprocess.run([sys.executable, "-c", counting], env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)},
                   check=True)
    (tmp_path / "counter_999999.db").touch()
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))

    answer = create_app(settings, open_queue=False).test_client().get(
        "/metrics", environ_base={"REMOTE_ADDR": "127.0.0.1"})
    assert answer.status_code == 200, answer.data[:300]
    assert b'mpanel_checkouts_total{plan="one"} 3.0' in answer.data
