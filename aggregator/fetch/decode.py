"""Response bodies: Content-Encoding undone here, in steps of at most ``CHUNK_SIZE`` decoded bytes,
so a gzip bomb stops at ``max_bytes`` instead of being inflated first.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator

CHUNK_SIZE = 64 * 1024  # decoded bytes per step: bounds memory per step of a decompression bomb
MAX_GZIP_MEMBERS = 1024  # concatenated gzip members decoded in one body, at most
WRAPPER_PROBE = 64 * 1024  # deflate input kept for a raw-deflate replay until output appears

ACCEPT_ENCODING = "gzip, deflate"
_GZIP = frozenset({"gzip", "x-gzip"})
_DECODABLE = _GZIP | {"deflate"}


class _Decoder:
    """Content-Encoding undone in bounded steps (each ``zlib`` call yields at most
    ``CHUNK_SIZE`` bytes), for a list of codings in the order the server applied them."""

    def __init__(self, codings: list[str]):
        self._stages = [_Inflater(c) for c in reversed(codings)]

    def feed(self, data: bytes) -> Iterator[bytes]:
        """Everything ``data`` decodes to (each stage drains what zlib holds back)."""
        return self._through(0, data)

    def _through(self, i: int, data: bytes) -> Iterator[bytes]:
        if i == len(self._stages):
            if data:
                yield data
            return
        for piece in self._stages[i].feed(data):
            yield from self._through(i + 1, piece)


class _Inflater:
    """One gzip (possibly several members) or deflate (zlib-wrapped or raw) stream."""

    def __init__(self, coding: str):
        self._gzip = coding in _GZIP
        self._members = 1
        # deflate: the zlib wrapper is tried first; when its header check fails before any
        # output, the input seen so far is replayed as raw deflate (what urllib3 did)
        self._seen: bytes | None = None if self._gzip else b""
        self._done = False  # the stream ended; anything after it is ignored, as browsers do
        self._member_out = False  # the current gzip member has produced output
        self._obj = self._new()

    def _new(self) -> zlib._Decompress:
        return zlib.decompressobj(16 + zlib.MAX_WBITS if self._gzip else zlib.MAX_WBITS)

    def feed(self, data: bytes) -> Iterator[bytes]:
        """Decoded pieces of at most CHUNK_SIZE bytes. Each step consumes input or yields a full
        piece, so this ends; ``feed(b"")`` yields what a full piece left pending."""
        while not self._done:
            if self._obj.eof:
                if not data:
                    return
                if not self._gzip or not data.strip(b"\x00"):
                    self._done = True
                    return
                self._members += 1
                if self._members > MAX_GZIP_MEMBERS:
                    raise zlib.error(f"more than {MAX_GZIP_MEMBERS} gzip members")
                self._obj = self._new()
                self._member_out = False
            if self._seen is not None:
                self._seen += data
            try:
                out = self._obj.decompress(data, CHUNK_SIZE)
            except zlib.error:
                if self._members > 1 and not self._member_out:
                    self._done = True  # not a gzip member after a complete one: trailing junk
                    return
                if self._seen is None:
                    raise
                data, self._seen = self._seen, None
                self._obj = zlib.decompressobj(-zlib.MAX_WBITS)
                out = self._obj.decompress(data, CHUNK_SIZE)
            if out or (self._seen is not None and len(self._seen) > WRAPPER_PROBE):
                self._seen = None  # the wrapper is settled
            if out:
                self._member_out = True
                yield out
            if self._obj.eof:
                data = self._obj.unused_data
                continue
            data = self._obj.unconsumed_tail
            if not data and len(out) < CHUNK_SIZE:
                return


def human_size(n: int) -> str:
    """15728640 → "15 MiB"; 1536 → "1.5 KiB"."""
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:.4g} {unit}"
    return f"{n} bytes"
