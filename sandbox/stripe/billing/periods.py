"""Billing periods: calendar arithmetic for intervals, and how periods read in text."""

from __future__ import annotations

import calendar
from datetime import datetime, timezone

from ..objects import Object


def current_period(sub: Object) -> tuple[int, int]:
    """The subscription's current period: since API 2025-03-31 it is on each item only (every
    item of a subscription here shares one period)."""
    item = sub["items"]["data"][0]
    return item["current_period_start"], item["current_period_end"]


def interval_of(price: Object) -> tuple[str, int]:
    return price["recurring"]["interval"], price["recurring"]["interval_count"]


def interval_text(recurring: Object) -> str:
    count, interval = recurring["interval_count"], recurring["interval"]
    return interval if count == 1 else f"{count} {interval}s"


def date_text(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, timezone.utc).strftime("%d %b %Y")


def add_interval(timestamp: int, interval: str, count: int, anchor: int) -> int:
    """``timestamp`` plus ``count`` intervals; month ends clamp to the anchor's day
    (a cycle anchored on the 31st bills on Feb 28 and then on Mar 31)."""
    if interval == "day":
        return timestamp + 86400 * count
    if interval == "week":
        return timestamp + 7 * 86400 * count
    start = datetime.fromtimestamp(timestamp, timezone.utc)
    day = datetime.fromtimestamp(anchor, timezone.utc).day
    months = count * (12 if interval == "year" else 1)
    year, month = divmod(start.month - 1 + months, 12)
    year += start.year
    month += 1
    moved = start.replace(year=year, month=month, day=min(day, calendar.monthrange(year, month)[1]))
    return int(moved.timestamp())


def next_boundary(sub: Object, start: int) -> int:
    interval, count = interval_of(sub["items"]["data"][0]["price"])
    return add_interval(start, interval, count, sub["billing_cycle_anchor"])
