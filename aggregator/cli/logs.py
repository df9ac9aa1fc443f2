"""Logging set-up: one line per event, text for people, JSON lines for log shippers."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

_LEVELS = [logging.ERROR, logging.WARNING, logging.INFO, logging.DEBUG]


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return json.dumps(doc, ensure_ascii=False)


def setup_logging(verbosity: int = 0, fmt: str = "text") -> None:
    """``verbosity`` 0 is warnings (INFO once config says so), +1 info, +2 debug, -1 errors."""
    level = _LEVELS[max(0, min(len(_LEVELS) - 1, 1 + verbosity))]
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)-7s %(message)s", "%H:%M:%S")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("aiohttp", "asyncio", "apscheduler.executors", "mail.log"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))


class _DropSourceFailures(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(record, "source_failure", False)


@contextmanager
def failures_in_summary() -> Iterator[None]:
    """While a command's summary lists the failed sources, the text handlers leave out the
    pipeline's per-source failure lines (records with ``extra={"source_failure": True}``), so
    each failure is printed once. JSON handlers keep them: log shippers want every event."""
    drop = _DropSourceFailures()
    handlers = [
        h for h in logging.getLogger().handlers if not isinstance(h.formatter, JsonFormatter)
    ]
    for h in handlers:
        h.addFilter(drop)
    try:
        yield
    finally:
        for h in handlers:
            h.removeFilter(drop)
