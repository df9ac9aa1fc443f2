"""Run the aggregator CLI in a child process that stops at a chosen point of its SQL, tells the
parent, and waits to be killed: crash tests SIGKILL a real process at a known place instead of
after a random sleep.

    python -m support.killpoint --fd FD --at KIND:N -- <aggregator arguments>

The store's connection gets a SQLite trace callback (every statement, before it runs). Points,
counted in the main process from the start of the run:

``unit:N``       at the N-th ``RELEASE unit``: N units written, the last one not yet released
                 and the group around them not committed;
``commit:N``     at the first ``COMMIT`` after the N-th ``RELEASE unit``, before it runs;
``committed:N``  at the first statement after that ``COMMIT``: the group is durable.

There the child writes one line (``KIND:N releases=R commits=C``) to ``FD`` and sleeps; if the
run ends before the point, it exits normally and the parent sees end of file instead of a line.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

WAIT = 120.0  # seconds the child waits at the point (then gives up: an abandoned child exits)


class Point:
    """The trace callback: counts RELEASE and COMMIT statements and stops at the point."""

    def __init__(self, kind: str, n: int, fd: int) -> None:
        if kind not in ("unit", "commit", "committed") or n < 1:
            raise ValueError(f"bad point {kind}:{n}")
        self.kind, self.n, self.fd = kind, n, fd
        self.pid = os.getpid()  # forked workers inherit the callback: only this process stops
        self.releases = self.commits = 0
        self.armed = False  # commit/committed: the N-th release was seen
        self.after_commit = False  # committed: that COMMIT was seen, stop at the next statement

    def __call__(self, sql: str) -> None:
        if os.getpid() != self.pid:
            return
        if self.after_commit:
            self.stop()
        word = sql.lstrip().upper()
        if word.startswith("RELEASE"):
            self.releases += 1
            if self.kind == "unit" and self.releases == self.n:
                self.stop()
            self.armed = self.armed or self.releases >= self.n
        elif word.startswith("COMMIT"):
            self.commits += 1
            if self.armed and self.kind == "commit":
                self.stop()
            self.after_commit = self.armed and self.kind == "committed"

    def stop(self) -> None:
        line = f"{self.kind}:{self.n} releases={self.releases} commits={self.commits}\n"
        os.write(self.fd, line.encode())
        time.sleep(WAIT)
        os._exit(3)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--fd", type=int, required=True)
    ap.add_argument("--at", required=True, help="KIND:N")
    ap.add_argument("args", nargs=argparse.REMAINDER)
    opts = ap.parse_args()
    kind, _, n = opts.at.partition(":")
    point = Point(kind, int(n), opts.fd)

    from aggregator.cli.main import main as cli_main
    from aggregator.store import Store

    opened = Store.__init__

    def traced_init(self: Store, *args: object, **kw: object) -> None:
        opened(self, *args, **kw)  # type: ignore[arg-type]
        self.db.set_trace_callback(point)

    Store.__init__ = traced_init  # type: ignore[method-assign]
    args = opts.args[1:] if opts.args[:1] == ["--"] else opts.args
    sys.exit(cli_main(args))


if __name__ == "__main__":
    main()
