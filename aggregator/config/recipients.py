"""Reading address lists: ``digest.recipients_file`` (a CSV with an ``email`` column, or one
address a line) and the CSV of ``aggregator subscribers import`` (email, name, topics, languages).

Blank lines and lines starting with ``#`` are skipped. Reading returns the good addresses and the
line of each bad one, so the loader can report problems that point into this file; addresses are
judged by ``aggregator.addresses``, as everywhere.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

from .values import email_address


def read_recipients(path: Path) -> tuple[list[str], list[tuple[int, str]]]:
    """(addresses, [(line, bad value)]); raise OSError or UnicodeDecodeError."""
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    rows = [
        (n, line)
        for n, line in enumerate(lines, 1)
        if line.strip() and not line.lstrip().startswith("#")
    ]
    header = next(csv.reader([rows[0][1]])) if rows else []
    column = next((i for i, cell in enumerate(header) if cell.strip().lower() == "email"), None)
    good: list[str] = []
    bad: list[tuple[int, str]] = []
    for n, line in rows[1:] if column is not None else rows:
        if column is not None:
            cells = next(csv.reader([line]))
            value = cells[column].strip() if column < len(cells) else ""
        else:
            value = line.strip()
        if email_address(value):
            good.append(value)
        else:
            bad.append((n, value))
    return good, bad


#: Columns of a subscriber CSV when it has no header row, in order.
SUBSCRIBER_COLUMNS = ("email", "name", "topics", "languages")


@dataclass(frozen=True)
class SubscriberRow:
    """One row of a subscriber CSV, as written (checked by the importer)."""

    line: int
    email: str
    name: str = ""
    topics: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()


def _split(cell: str) -> tuple[str, ...]:
    return tuple(p for p in re.split(r"[\s|;,]+", cell.strip()) if p)


def read_subscriber_rows(path: Path) -> list[SubscriberRow]:
    """The rows of ``subscribers import FILE.csv``: columns ``email, name, topics, languages``
    (a header row names them in any order; without one they are in that order). Topics and
    languages are separated by spaces, ``|`` or ``;``. Blank lines and ``#`` lines are skipped.
    Raise OSError, UnicodeDecodeError, or ValueError for a header without an email column."""
    text = path.read_text(encoding="utf-8-sig")
    rows = [
        (n, cells)
        for n, cells in enumerate(csv.reader(io.StringIO(text)), 1)
        if any(c.strip() for c in cells) and not cells[0].lstrip().startswith("#")
    ]
    columns: dict[str, int] = {name: i for i, name in enumerate(SUBSCRIBER_COLUMNS)}
    if rows:
        header = [c.strip().lower() for c in rows[0][1]]
        if "email" in header or any(h in header for h in SUBSCRIBER_COLUMNS[1:]):
            if "email" not in header:
                raise ValueError(f"line {rows[0][0]}: the header has no 'email' column")
            columns = {h: i for i, h in enumerate(header) if h in SUBSCRIBER_COLUMNS}
            rows = rows[1:]
    out = []
    for n, cells in rows:

        def cell(name: str, cells: list[str] = cells) -> str:
            i = columns.get(name)
            return cells[i].strip() if i is not None and i < len(cells) else ""

        out.append(SubscriberRow(n, cell("email"), cell("name"), _split(cell("topics")),
                                 _split(cell("languages"))))  # fmt: skip
    return out
