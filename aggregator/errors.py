"""One exception tree. Leaves carry what went wrong where; causes are chained with ``from``.

AggregatorError
├── ConfigError        (file, line, key)
├── FeedError          (source / url)
│   ├── FetchError
│   └── ParseError
├── StorageError
└── DeliveryError      (recipient; ``permanent`` for 5xx)
"""

from __future__ import annotations


class AggregatorError(Exception):
    """Base of every error the CLI turns into one readable line and an exit code."""

    exit_code = 1


class ConfigError(AggregatorError):
    """One or more configuration problems, each ``PATH:LINE: message``."""

    exit_code = 2

    def __init__(self, problems: list[str] | str):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


class FeedError(AggregatorError):
    """A problem with one source; recorded against it, never fatal to a run."""

    def __init__(self, url: str, message: str):
        self.url = url
        self.message = message
        super().__init__(f"{url}: {message}")


class FetchError(FeedError):
    """The HTTP side failed: network, status, size, deadline, refused address."""

    def __init__(self, url: str, message: str, status: int | None = None, retry_after=None):
        self.status = status
        self.retry_after = retry_after
        super().__init__(url, message)


class ParseError(FeedError):
    """The body could not be read as a feed."""


class StorageError(AggregatorError):
    """The database is unusable (locked, corrupt, newer schema)."""


class DeliveryError(AggregatorError):
    """A message could not be delivered to a recipient."""

    def __init__(
        self, recipient: str, message: str, permanent: bool = False, code: int | None = None
    ):
        self.recipient = recipient
        self.permanent = permanent
        self.code = code
        super().__init__(f"{recipient}: {message}")
