"""Reading ``digest.recipients_file``: a CSV with an ``email`` column, or one address a line.

Blank lines and lines starting with ``#`` are skipped. Reading returns the good addresses and the
line of each bad one, so the loader can report problems that point into this file.
"""

from __future__ import annotations

import csv
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
