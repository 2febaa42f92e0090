"""Refresh, then preview: what reality is now and what a converge would change.

The operator's `mpanel stacks preview|refresh` runs it in the foreground; the console queues
the same drift check (`check_drift`) and reads its steps from the run's record. Either way it
is one recorded run (operation 'refresh') whose steps carry the drift and the planned changes.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from app.services.hosting.converge import Converger
from app.settings import Settings


@dataclass
class DriftFound:
    drift: bool
    steps: list[dict] = field(default_factory=list)


def refresh_and_preview(settings: Settings, subscription_id: int) -> DriftFound:
    steps: list[dict] = []
    drift = Converger(settings, on_step=steps.append).check_drift(subscription_id)
    return DriftFound(drift, steps)
