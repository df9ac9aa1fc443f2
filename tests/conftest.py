"""Shared fixtures. Each block belongs to one area; keep them small and independent."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from support.feedserver import FeedServer  # tests/ is on sys.path: pyproject's pythonpath

DATA = Path(__file__).parent / "data"


# --- HTTP (fetch): a real loopback server ---------------------------------------------------


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    """A started FeedServer on 127.0.0.1 serving tests/data/ (files, ETag/304, gzip, misbehaving
    endpoints; see tests/support/feedserver.py). Stopped at teardown."""
    with FeedServer(root=DATA) as server:
        yield server


@pytest.fixture
def feed_server_factory() -> Iterator:
    """Start more servers (a second "host" for per-host limits): ``feed_server_factory(root)``."""
    servers: list[FeedServer] = []

    def make(root: Path | str | None = DATA, **kw) -> FeedServer:
        server = FeedServer(root=root, **kw).start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()
