"""Log lines carry what they are about and never a secret (app/observe/logs.py)."""
from __future__ import annotations

import io
import json
import logging

from app.observe import logs


def _logged(fmt: str, secrets=(), **about) -> str:
    out = io.StringIO()
    logger = logging.getLogger(f"test.logs.{fmt}")
    logger.handlers[:] = [logs.handler("worker", fmt, secrets, stream=out)]
    logger.propagate = False
    logger.setLevel("INFO")
    with logs.about(**about):
        logs.tag(run=88)
        logger.info("charged with key %s and STRIPE sk_live_abcdef123456 at postgresql://u:hunter22@db/x "
                    "token=abc123 {\"password\": \"p4ss-w0rd\"} Bearer eyJhbGciOiJIUzI1NiJ9", "whsec_zzz111")
    logger.info("after the block")
    return out.getvalue()


def test_a_json_line_carries_the_subscription_order_run_event_and_job():
    first, second = _logged("json", subscription=42, order="shop.example", stripe_event="evt_1", job=7).splitlines()
    line = json.loads(first)
    assert (line["subscription"], line["order"], line["run"], line["stripe_event"], line["job"]) == (
        42, "shop.example", 88, "evt_1", 7)
    assert line["level"] == "INFO" and line["logger"].startswith("test.logs")
    assert "subscription" not in json.loads(second) and "run" not in json.loads(second)


def test_a_plain_line_ends_with_what_it_is_about():
    first = _logged("plain", subscription=42, job=7).splitlines()[0]
    assert first.endswith("[subscription=42 run=88 job=7]") and " worker[" in first


def test_no_secret_reaches_a_line():
    text = _logged("json", secrets=["my-marketing-api-key-value"], subscription=1)
    for secret in ("sk_live_abcdef123456", "hunter22", "abc123", "p4ss-w0rd", "whsec_zzz111", "eyJhbGciOiJIUzI1NiJ9"):
        assert secret not in text, secret
    redactor = logs.Redact(["my-marketing-api-key-value"])
    assert redactor.clean("key my-marketing-api-key-value used") == "key [redacted] used"


def test_ordinary_words_are_left_alone():
    redactor = logs.Redact(["1", ""])
    assert redactor.clean("cpanel password email for subscription 1 (dedupe_key welcome:1)") == (
        "cpanel password email for subscription 1 (dedupe_key welcome:1)")
