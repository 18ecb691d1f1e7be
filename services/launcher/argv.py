"""The command lines every deployment runs.

Worker options, and why:
- prefork pool, `--prefetch-multiplier 1` and `-O fair`: a worker reserves one
  task per free process, so a long download never holds a queue of others
  hostage while another worker is idle (and acks_late re-delivers only that one).
- `--without-gossip`: workers do not need to see each other's events; gossip
  costs O(workers²) messages. Mingle stays on: a worker that starts late learns
  the revoked task ids from the others (the dashboard can revoke), for ~1 s of
  start-up.
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Sequence

from services.worker.names import QUEUES
from shared.errors import UsageError

CELERY_APP = "services.worker.celery_app:app"
BEAT_SCHEDULER = "services.worker.beat:GarminSyncScheduler"
LOGLEVELS = ("debug", "info", "warning", "error", "critical")


def check_loglevel(loglevel: str) -> str:
    level = loglevel.lower()
    if level not in LOGLEVELS:
        raise UsageError(f"unknown log level {loglevel!r}: choose from {', '.join(LOGLEVELS)}")
    return level


def parse_queues(queues: str) -> list[str]:
    """`sync,downloads` → names; an unknown name is a usage error (a typo would idle a worker)."""
    names = [name.strip() for name in queues.split(",") if name.strip()]
    if not names:
        raise UsageError("--queues needs at least one of: " + ", ".join(QUEUES))
    unknown = [name for name in names if name not in QUEUES]
    if unknown:
        raise UsageError(f"unknown queue {unknown[0]!r}: choose from {', '.join(QUEUES)}")
    return list(dict.fromkeys(names))


def celery_argv(*args: str) -> list[str]:
    """`python -m celery -A <app> ...` from this interpreter (the venv's Celery)."""
    return [sys.executable, "-m", "celery", "-A", CELERY_APP, *args]


def worker_argv(
    concurrency: int = 2,
    queues: str = ",".join(QUEUES),
    loglevel: str = "info",
    hostname: str | None = None,
) -> list[str]:
    """The Celery worker command line every deployment uses."""
    if concurrency < 1:
        raise UsageError(f"--concurrency must be at least 1, got {concurrency}")
    return celery_argv(
        "worker",
        "--pool=prefork",
        f"--concurrency={concurrency}",
        f"--queues={','.join(parse_queues(queues))}",
        "--prefetch-multiplier=1",
        "-O",
        "fair",
        "--without-gossip",
        f"--hostname={hostname or 'worker@%h'}",
        f"--loglevel={check_loglevel(loglevel)}",
    )


def beat_argv(loglevel: str = "info") -> list[str]:
    """celery beat with the RedBeat scheduler that restores schedules from the database."""
    return celery_argv(
        "beat",
        f"--scheduler={BEAT_SCHEDULER}",
        "--max-interval=5",
        f"--loglevel={check_loglevel(loglevel)}",
    )


def web_argv(host: str, port: int) -> list[str]:
    """The dashboard under gunicorn (`services/web/serve.py`)."""
    return [sys.executable, "-m", "services.web", "--host", host, "--port", str(port)]


def describe(argv: Sequence[str]) -> str:
    """A command line for humans: `python` instead of the interpreter's full path."""
    shown = ["python" if arg == sys.executable else arg for arg in argv]
    return shlex.join(shown)
