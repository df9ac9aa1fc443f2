"""Logging set-up: one line per event, text for people, JSON lines for log shippers."""

from __future__ import annotations

import json
import logging
import sys
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
