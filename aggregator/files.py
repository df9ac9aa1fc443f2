"""Atomic file writes: the one place that does temp file + fsync + rename + directory fsync.

Readers (a web server, a feed reader polling ``public/``, the next run reading ``outbox/``) see
the old file or the new one, never a mix, and a crash at any point leaves one of the two.
``tests/test_architecture.py`` keeps ``os.replace`` out of every other module.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path


def fsync_dir(path: Path) -> None:
    """Make a rename in ``path`` durable (best effort: some file systems refuse a directory fd)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def staged(path: Path, *, mode: int | None = 0o644) -> Iterator[Path]:
    """A temp file beside ``path`` (same file system, so the rename is atomic) for the caller to
    fill; on a normal exit it is renamed over ``path`` and the folder fsynced, on an exception
    removed. ``mode`` None keeps the mode of the file it replaces (0o600 if there is none)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        if mode is None:
            with contextlib.suppress(OSError):
                os.chmod(tmp, path.stat().st_mode & 0o7777)
        else:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    fsync_dir(path.parent)


def write_atomic(
    path: Path,
    data: bytes,
    *,
    skip_same: bool = False,
    mode: int | None = 0o644,
    before_replace: Callable[[], None] | None = None,
) -> bool:
    """Write ``data`` to ``path`` atomically and durably; True if written.

    ``skip_same``: leave the file alone (and return False) when it already holds these bytes,
    so its mtime, and the ETag a server derives from it, stay. ``before_replace`` runs after the
    data is on disk and before the rename (the mail outbox records "committing" there).
    """
    path = Path(path)
    if skip_same:
        try:
            if path.read_bytes() == data:
                return False
        except FileNotFoundError:
            pass
    with staged(path, mode=mode) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if before_replace is not None:
            before_replace()
    return True


__all__ = ["fsync_dir", "staged", "write_atomic"]
