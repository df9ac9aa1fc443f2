"""The command line: ``aggregator COMMAND`` (``main``), and the commands' helpers: logging set-up,
the progress line, the JSON-lines tag and dedupe commands, OPML import/export, the offline demo.

Thin by design: each command loads the settings, opens the store and calls the service layer;
``AggregatorError`` becomes one readable line and an exit code (0, 1 runtime, 2 config, 3 busy).
"""

from .main import main

__all__ = ["main"]
