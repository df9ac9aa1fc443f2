"""Fetch progress: a bar on the last line of a terminal, with log lines printed above it.

tqdm draws the bar and ``logging_redirect_tqdm`` sends the console log handler's lines through
``tqdm.write``, which clears the bar, prints the line and redraws the bar below it: a warning
never lands in the middle of the bar. When the stream is not a terminal (cron, a pipe, a log
file) there is no bar at all, only the log lines and the summary.
"""

from __future__ import annotations

import logging
from contextlib import ExitStack
from typing import TextIO


class Progress:
    """``with Progress(total, stream) as bar: ... bar.update(outcome)``; ``outcome`` has
    ``name`` and ``error``."""

    def __init__(self, total: int, stream: TextIO, *, force_tty: bool | None = None):
        self.total = total
        self.done = 0
        self.failed = 0
        self.stream = stream
        tty = bool(getattr(stream, "isatty", lambda: False)())
        self.tty = tty if force_tty is None else force_tty
        self._bar = None
        self._stack = ExitStack()

    def __enter__(self) -> Progress:
        if self.tty and self.total:
            from tqdm import tqdm
            from tqdm.contrib.logging import logging_redirect_tqdm

            self._bar = self._stack.enter_context(
                tqdm(
                    total=self.total,
                    file=self.stream,
                    unit="source",
                    leave=False,  # the summary that follows says it all
                    dynamic_ncols=True,
                    bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt}{postfix}",
                    desc="fetching",
                )
            )
            self._stack.enter_context(logging_redirect_tqdm([logging.getLogger()]))
        return self

    def update(self, outcome) -> None:
        self.done += 1
        if outcome.error:
            self.failed += 1
        if self._bar is not None:
            failed = f"{self.failed} failed, " if self.failed else ""
            self._bar.set_postfix_str(f"{failed}{outcome.name[:30]}", refresh=False)
            self._bar.update(1)

    def __exit__(self, *exc: object) -> None:
        self._stack.close()
        self._bar = None
