"""Worker logs a person can read: a handled library error is one line, not a traceback.

garminconnect logs every error it raises at ERROR with the full traceback,
including the ones we handle (5xx, 429, our own budget): we report those
ourselves, once. Its records therefore become one WARNING line without the
traceback, unless the worker runs with `--loglevel debug`.
"""

from __future__ import annotations

import logging

LIBRARY_LOGGERS = ("garminconnect",)


class OneLine(logging.Filter):
    """Strip tracebacks and demote errors of a library whose errors we handle."""

    def filter(self, record: logging.LogRecord) -> bool:
        if logging.getLogger().getEffectiveLevel() <= logging.DEBUG:
            return True
        record.exc_info = None
        record.exc_text = None
        record.stack_info = None
        record.msg = str(record.getMessage()).splitlines()[0] if record.msg else record.msg
        record.args = None
        if record.levelno > logging.WARNING:
            record.levelno = logging.WARNING
            record.levelname = "WARNING"
        return True


def install() -> None:
    for name in LIBRARY_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, OneLine) for f in logger.filters):
            logger.addFilter(OneLine())


install()
