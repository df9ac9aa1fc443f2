"""Fetch progress: a one-line bar on a terminal, nothing (the log lines) otherwise."""

from __future__ import annotations

import time
from typing import TextIO


class Progress:
    def __init__(self, total: int, stream: TextIO):
        self.total = total
        self.done = 0
        self.failed = 0
        self.stream = stream
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.started = time.monotonic()

    def __enter__(self) -> Progress:
        return self

    def update(self, outcome) -> None:
        self.done += 1
        if outcome.error:
            self.failed += 1
        if not self.tty or not self.total:
            return
        width = 30
        filled = int(width * self.done / self.total)
        bar = "#" * filled + "-" * (width - filled)
        self.stream.write(
            f"\r[{bar}] {self.done}/{self.total} sources, {self.failed} failed, "
            f"{time.monotonic() - self.started:.1f} s  {outcome.name[:30]:30}"
        )
        self.stream.flush()

    def __exit__(self, *exc: object) -> None:
        if self.tty and self.total:
            self.stream.write("\n")
            self.stream.flush()
