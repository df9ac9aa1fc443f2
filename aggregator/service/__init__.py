"""Running the stages: the pipeline (the only place that knows their order), the preparation
workers, the scheduler, the one-instance locks, the web server and the digest's delivery.

Stages take and return models; this layer wires them to the store and to each other, decides
what to do with a broken feed (record it, go on) and when to run what.

Names are imported on first use: a refresh where every feed answers 304 must not pay for the
digest's templates, the mailer or APScheduler (see bench/README.md, warm runs).
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "AlreadyRunning": "lock", "InstanceLock": "lock", "ServiceLock": "lock",
    "Pipeline": "pipeline", "RefreshReport": "pipeline", "SourceOutcome": "pipeline",
    "publish": "pipeline", "Service": "scheduler", "run_forever": "scheduler",
    "DigestReport": "sending", "send_digest": "sending",
}  # fmt: skip

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)
