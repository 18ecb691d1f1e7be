"""`python -m services.launcher health web|worker|beat` and `... migrate`: what the containers run.

docker-compose.yml and the Dockerfile call these (the old spelling
`python -m services.cli.processes ...` still works).
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable

from shared.config import load_settings
from shared.db import ensure_schema
from shared.errors import GarminSyncError
from shared.redact import mask_url
from shared.storage import restrict_umask

from .commands import refuse
from .health import health


def migrate() -> int:
    """Upgrade the schema once, before the other containers start."""
    settings = load_settings()
    restrict_umask(settings.umask)  # in compose, this process creates garmin.db (and -wal, -shm)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    ensure_schema(settings.database_url)
    print(f"database schema is up to date ({mask_url(settings.database_url)})")
    return 0


def main(argv: list[str] | None = None, prog: str = "python -m services.launcher") -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    parser = argparse.ArgumentParser(prog=prog)
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("health", help="exit 0 when this container's process is healthy")
    check.add_argument("kind", choices=("web", "worker", "beat"))
    check.add_argument("--port", type=int, default=8080, help="web port inside the container")
    check.add_argument("--node", help="worker node name (default worker@%%h)")
    sub.add_parser("migrate", help="upgrade the database schema and exit")
    args = parser.parse_args(argv)
    commands: dict[str, Callable[[], int]] = {
        "health": lambda: health(args.kind, args.port, args.node),
        "migrate": migrate,
    }
    try:
        return commands[args.command]()
    except GarminSyncError as exc:
        return refuse(exc)
