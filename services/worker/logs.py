"""Worker logs a person can read: a handled library error is one line, not a traceback.

garminconnect logs every error it raises at ERROR with the full traceback,
including the ones we handle (5xx, 429, our own budget): we report those
ourselves, once. Its records therefore become one WARNING line without the
traceback, unless the worker runs with `--loglevel debug`. The filter sits on
the handlers Celery sets up, because garminconnect logs through child loggers
(`garminconnect.api._common`, …) that a filter on their parent never sees.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import signals

LIBRARIES = ("garminconnect",)


class OneLine(logging.Filter):
    """Strip tracebacks and demote errors of a library whose errors we handle."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(LIBRARIES):
            return True
        if logging.getLogger().getEffectiveLevel() <= logging.DEBUG:
            return True
        record.msg = record.getMessage().splitlines()[0] if record.msg else record.msg
        record.args = None
        record.exc_info = None
        record.exc_text = None
        record.stack_info = None
        if record.levelno > logging.WARNING:
            record.levelno = logging.WARNING
            record.levelname = "WARNING"
        return True


def install(logger: logging.Logger) -> None:
    for handler in logger.handlers:
        if not any(isinstance(f, OneLine) for f in handler.filters):
            handler.addFilter(OneLine())


@signals.after_setup_logger.connect
def _after_setup_logger(logger: Any = None, **_: Any) -> None:
    install(logger if isinstance(logger, logging.Logger) else logging.getLogger())
