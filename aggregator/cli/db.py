"""``aggregator db``: the store itself: ``upgrade`` applies the schema migrations now (``run``
also does at start), ``copy --to postgresql://...`` moves a SQLite store into PostgreSQL.
``database_line`` is what ``aggregator check`` says about the store."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from ..errors import AggregatorError, StorageError
from ..settings import DatabaseURL, Settings

EPILOG = """examples:
  aggregator db upgrade
  AGGREGATOR_DATABASE_PASSWORD=... aggregator db copy --to postgresql://agg@db.example.org/agg
    then set database: postgresql://agg@db.example.org/agg in config.yaml"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "db",
        help="the store: apply migrations, copy a SQLite store to PostgreSQL",
        description="The store named by database: in config.yaml, a SQLite file or a "
        "postgresql:// URL (its password from the variable named by database_password_env). "
        "upgrade applies the schema migrations (run and every command also do when they open "
        "the store); copy copies every table of the SQLite store into an empty PostgreSQL "
        "database and checks the row counts.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.set_defaults(handler=run)
    acts = p.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    acts.add_parser("upgrade", help="bring the store to this version's schema")
    cp = acts.add_parser("copy", help="copy the SQLite store into an empty PostgreSQL database")
    cp.add_argument(
        "--to", required=True, metavar="URL",
        help="postgresql://user@host/db (password: from database_password_env)",
    )  # fmt: skip
    cp.add_argument("--from", dest="source", metavar="FILE",
                    help="the SQLite file (default: database: of config.yaml)")  # fmt: skip


def run(settings: Settings, args: argparse.Namespace) -> int:
    if args.db_command == "upgrade":
        return upgrade(settings)
    return copy(settings, args.to, Path(args.source) if args.source else settings.database)


def upgrade(settings: Settings) -> int:
    from ..store import Store, probe

    before = probe(settings.database)
    with Store(settings.database) as store:
        after = probe(settings.database)
        steps = (after.version or 0) - (before.version or 0)
        print(f"{store.where}: {store.backend}, schema version {after.version} "
              f"({steps} migration{'s' if steps != 1 else ''} applied)")  # fmt: skip
    return 0


def copy(settings: Settings, to: str, source: Path | str) -> int:
    from ..service.lock import InstanceLock
    from ..store import Store, copy_store
    from ..store.postgres import is_url

    if not is_url(to):
        raise AggregatorError(f"--to {to!r}: give a postgresql://user@host/db URL")
    if is_url(source) or not Path(source).exists():
        raise AggregatorError(f"{source}: no SQLite store to copy")
    url = DatabaseURL(to, settings.database_password_env)
    password = os.environ.get(settings.database_password_env) or None
    with InstanceLock(source), Store(source) as src, Store(url, password=password) as dst:
        assert src.backend == "sqlite" and dst.backend == "postgresql"
        counts = copy_store(src.conn, dst.conn)  # type: ignore[arg-type]
    width = max(map(len, counts))
    for table, (mine, theirs) in counts.items():
        print(f"  {table:<{width}}  {mine:>9,} rows copied, {theirs:>9,} in PostgreSQL")
    total = sum(m for m, _ in counts.values())
    print(f"{source} -> {dst.where}: {total:,} rows in {len(counts)} tables, counts verified")
    return 0


def database_line(settings: Settings) -> tuple[str, bool]:
    """``aggregator check``'s line about the store, and whether it is reachable."""
    from ..store import probe

    try:
        found = probe(settings.database)
    except StorageError as exc:
        return f"database: unreachable: {exc}", False
    if found.version is None:
        state = "not created yet (the first command that needs it creates it)"
    elif found.version < found.current:
        state = (f"reachable, schema version {found.version} of {found.current} "
                 "(aggregator db upgrade applies the rest)")  # fmt: skip
    elif found.version > found.current:
        state = (f"reachable, but schema version {found.version} is newer than this "
                 f"aggregator's ({found.current}): upgrade aggregator")  # fmt: skip
    else:
        state = f"reachable, schema version {found.version}"
    fits = found.version is None or found.version <= found.current
    return f"database: {found.backend} {found.where}: {state}", fits
