"""What the worker's log shows at INFO: the lines a person reads.

At ``-l info`` a worker's start would print some three hundred lines of faust's, mode's
and aiokafka's own progress (every service "Starting...", each topic created, the
subscription and partition tables) before the line that says where the dashboard is.
``FrameworkChatter`` turns those INFO records into DEBUG ones: ``-l debug`` still shows
them, ``-l info`` shows cryptoflow's lines (settings, streams connected, ready with the
URL), faust's ``Ready``, and every warning and error of any library, untouched.
"""

from __future__ import annotations

import logging
import re

FRAMEWORKS = frozenset({"faust", "mode", "aiokafka"})
# mode's service lifecycle, whatever module the service lives in ("[^--Name]: Starting...")
LIFECYCLE = re.compile(r"^\[\^-*[^\]]*\]: (Starting|Stopping|Stopped|-Stopped|Shutting down)")
KEPT = re.compile(r"^\[\^Worker\]: Ready")


class FrameworkChatter(logging.Filter):
    """A handler filter: the libraries' INFO progress records become DEBUG records, kept
    only where ``level_of`` (the root logger, whose level ``-l`` sets) shows DEBUG."""

    def __init__(self, level_of: logging.Logger) -> None:
        super().__init__()
        self.level_of = level_of

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO:
            return True
        message = record.getMessage()
        if KEPT.match(message) or not (
                record.name.split(".", 1)[0] in FRAMEWORKS or LIFECYCLE.match(message)):
            return True
        record.levelno, record.levelname = logging.DEBUG, logging.getLevelName(logging.DEBUG)
        return self.level_of.isEnabledFor(logging.DEBUG)


def quiet_frameworks(logger: logging.Logger | None = None) -> None:
    """Put ``FrameworkChatter`` on every handler of ``logger`` (the root), once."""
    logger = logger or logging.getLogger()
    for handler in logger.handlers:
        if not any(isinstance(found, FrameworkChatter) for found in handler.filters):
            handler.addFilter(FrameworkChatter(logger))
