"""Shared fixtures. Each block belongs to one area; keep them small and independent."""

from __future__ import annotations

import os
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


# --- PostgreSQL (store): a throwaway cluster for the run, a fresh database per test ----------


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator:
    """A PostgreSQL cluster owned by this test run (tests/support/postgres.py): started once,
    stopped and removed at the end. Skips only when the server programs are not installed
    (.ci/run installs Debian's ``postgresql``, so CI never skips)."""
    from support.postgres import PostgresCluster, find_bindir

    bindir = find_bindir()
    if bindir is None and os.environ.get("CI"):
        pytest.fail("PostgreSQL server programs not installed: .ci/run installs postgresql")
    if bindir is None:
        pytest.skip("PostgreSQL server programs (initdb, pg_ctl) not installed: "
                    "apt-get install postgresql")  # fmt: skip
    cluster = PostgresCluster(bindir).start()
    yield cluster
    cluster.stop()


@pytest.fixture
def postgres_url(postgres_cluster) -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database (dropped after the test)."""
    url = postgres_cluster.database()
    yield url
    postgres_cluster.drop(url)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database(request, tmp_path) -> Path | str:
    """``database:`` of a store on each backend: a SQLite file, then a PostgreSQL URL."""
    if request.param == "sqlite":
        return tmp_path / "agg.db"
    return request.getfixturevalue("postgres_url")
