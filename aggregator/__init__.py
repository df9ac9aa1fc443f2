"""aggregator: pulls AI and Africa news feeds, merges the same story, tags it, republishes it and
emails a weekly digest."""

__version__ = "0.1.0"
