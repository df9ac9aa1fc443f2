"""Running the stages: the pipeline (the only place that knows their order), the preparation
workers, the scheduler, the one-instance locks, the web server and the digest's delivery.

Stages take and return models; this layer wires them to the store and to each other, decides
what to do with a broken feed (record it, go on) and when to run what.
"""

from .lock import AlreadyRunning, InstanceLock, ServiceLock
from .pipeline import Pipeline, RefreshReport, SourceOutcome, publish
from .scheduler import Service, run_forever
from .sending import DigestReport, send_digest

__all__ = [
    "AlreadyRunning", "DigestReport", "InstanceLock", "Pipeline", "RefreshReport", "Service",
    "ServiceLock", "SourceOutcome", "publish", "run_forever", "send_digest",
]  # fmt: skip
