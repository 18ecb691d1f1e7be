"""What every command needs first: the global options, logging, settings, the schema, the runtime."""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass

import typer

from shared.accounts import DEFAULT_ACCOUNT, get_or_create_account
from shared.config import Settings, load_settings
from shared.db import create_session, ensure_schema
from shared.garmin_values import strip_controls
from shared.inprocess import Progress
from shared.runtime import Runtime, set_runtime
from shared.storage import restrict_umask
from shared.usecases.delivery import Delivery, InProcess, ToWorkers, WorkQueue


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


@dataclass(frozen=True)
class Options:
    """The global options (`--account`, `--verbose`), carried to every command in `ctx.obj`."""

    account: str = DEFAULT_ACCOUNT
    verbose: bool = False


@dataclass(frozen=True)
class Workspace:
    """What a command works on: the settings, the process's runtime and the account."""

    settings: Settings
    runtime: Runtime
    account_id: int
    account_name: str

    def delivery(self, progress: Progress | None = None) -> Delivery:
        """The workers with REDIS_URL, else this process (`progress` shows the work)."""
        if self.settings.embedded:
            return InProcess(self.runtime, progress)
        from services.worker.dispatch import WorkerQueue

        return ToWorkers(self.runtime, WorkerQueue())

    def queue(self) -> WorkQueue | None:
        """The workers' queue, or None in embedded mode."""
        if self.settings.embedded:
            return None
        from services.worker.dispatch import WorkerQueue

        return WorkerQueue()


def global_options(ctx: typer.Context) -> Options:
    found = ctx.find_object(Options)
    return found if found is not None else Options()


def start(ctx: typer.Context, *, create: bool = False, settings: Settings | None = None) -> Workspace:
    """Load settings, upgrade the schema if needed, find (or create) the account."""
    settings = settings or load_settings()
    restrict_umask(settings.umask)
    ensure_schema(settings.database_url)
    runtime = Runtime.build(settings)
    set_runtime(runtime)
    account_name = global_options(ctx).account
    with create_session(settings.database_url) as session:
        account = get_or_create_account(session, settings, account_name, create)
        account_id = account.id
    return Workspace(settings, runtime, account_id, account_name)
