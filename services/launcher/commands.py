"""`garminsync worker|beat|web|daemon`: refuse with one line and an exit code, or run.

`worker`, `beat` and `web` become the process they start (exec, same pid);
`daemon` runs all three as children of one supervisor and checks everything
each needs — Redis, the data dir, the schema, the dashboard's address and
port — before it starts any of them.
"""

from __future__ import annotations

import os
import sys
from typing import NoReturn

from services.worker.names import QUEUES
from shared.errors import GarminSyncError, UsageError
from shared.listen import check_bind, check_port_free
from shared.outcomes import EXIT_CODES, Kind, kind_of

from .argv import beat_argv, web_argv, worker_argv
from .preflight import check_beat_scheduler, preflight
from .supervisor import Supervisor


def refuse(error: BaseException) -> int:
    """One line on stderr; the error's exit code (README, Exit codes)."""
    print(f"error: {error}", file=sys.stderr)
    return EXIT_CODES[kind_of(error)]


def worker(
    concurrency: int = 2, queues: str = ",".join(QUEUES), loglevel: str = "info", hostname: str | None = None
) -> int:
    """Run a Celery worker in the foreground (this process becomes Celery); an exit code on refusal."""
    try:
        argv = worker_argv(concurrency, queues, loglevel, hostname)
        preflight()
    except GarminSyncError as exc:
        return refuse(exc)
    _exec(argv)


def beat(loglevel: str = "info") -> int:
    """Run celery beat with the GarminSync RedBeat scheduler; an exit code on refusal."""
    try:
        argv = beat_argv(loglevel)
        preflight()
        check_beat_scheduler()
    except GarminSyncError as exc:
        return refuse(exc)
    _exec(argv)


def web(host: str = "127.0.0.1", port: int = 8080) -> NoReturn:
    """Become the dashboard (`python -m services.web`), which checks its address and port itself."""
    _exec(web_argv(host, port))


def daemon(concurrency: int = 2, host: str = "127.0.0.1", port: int = 8080) -> int:
    """Worker, beat and web as children of one process, for one machine.

    Exits when any child dies (stopping the others) with a non-zero code, and
    with 0 after SIGTERM/SIGINT once every child has stopped.
    """
    try:
        if not 0 < port < 65536:
            raise UsageError(f"--port must be between 1 and 65535, got {port}")
        worker_cmd = worker_argv(concurrency)
        beat_cmd = beat_argv()
        settings = preflight()
        check_beat_scheduler()
        check_bind(host, settings)
        check_port_free(host, port)
    except GarminSyncError as exc:
        return refuse(exc)
    with Supervisor() as supervisor:
        try:
            supervisor.start("worker", worker_cmd)
            supervisor.start("beat", beat_cmd)
            supervisor.start("web", web_argv(host, port))
        except OSError as exc:
            print(f"error: cannot start a process: {exc}", file=sys.stderr)
            return EXIT_CODES[Kind.UNEXPECTED]
        return supervisor.run()


def _exec(argv: list[str]) -> NoReturn:
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(argv[0], argv)  # noqa: S606 - a fixed argv built above, no shell
