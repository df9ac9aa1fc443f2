"""Helpers shared by the tests: loopback servers (``feedserver``, ``smtpserver``), hostile feeds
(``hostile``), the real-feed corpus and config files (``corpus``), and a child process that stops
at a chosen point of its SQL so a test can SIGKILL it there (``killpoint``).

Test modules import from here (``from support.corpus import REAL``), never from each other;
``tests/`` is on ``sys.path`` (pyproject's ``pythonpath``)."""
