"""What every command needs first: settings, logging, the schema, the runtime."""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass

from shared.accounts import get_or_create_account
from shared.config import Settings, load_settings
from shared.db import create_session, ensure_schema
from shared.garmin_values import strip_controls
from shared.runtime import Runtime, set_runtime
from shared.storage import restrict_umask


class _OneLine(logging.Formatter):
    """Without --verbose a problem is one line: tracebacks are dropped, and so are
    control characters a message may carry from Garmin."""

    def format(self, record: logging.LogRecord) -> str:
        record.exc_info = None
        record.exc_text = None
        record.stack_info = None
        return strip_controls(super().format(record).splitlines()[0])


def setup_logging(verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    if verbose:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.setLevel(logging.DEBUG)
        for noisy in ("urllib3", "alembic", "sqlalchemy"):
            logging.getLogger(noisy).setLevel(logging.INFO)
    else:
        handler.setFormatter(_OneLine("%(levelname)s: %(message)s"))
        root.setLevel(logging.WARNING)
        # garminconnect logs handled errors with full tracebacks; we report them ourselves.
        logging.getLogger("garminconnect").setLevel(logging.CRITICAL + 1)


@dataclass
class App:
    settings: Settings
    runtime: Runtime
    account_id: int
    account_name: str


def start(account_name: str, settings: Settings | None = None, create: bool = False) -> App:
    """Load settings, upgrade the schema if needed, find (or create) the account."""
    settings = settings or load_settings()
    restrict_umask(settings.umask)
    ensure_schema(settings.database_url)
    runtime = Runtime.build(settings)
    set_runtime(runtime)
    with create_session(settings.database_url) as session:
        account = get_or_create_account(session, settings, account_name, create)
        account_id = account.id
    return App(settings, runtime, account_id, account_name)
