"""`garminsync worker|beat|web|daemon`: the long-running processes, started by `services.launcher`."""

from __future__ import annotations

from typing import Annotated

import typer

from services.worker.names import QUEUES

from ..options import LogLevel

Port = Annotated[int, typer.Option(min=1, max=65535, help="Dashboard port.")]


def worker(
    concurrency: Annotated[int, typer.Option(min=1, help="Parallel tasks in this worker.")] = 2,
    queues: Annotated[str, typer.Option(help="Queues to consume.")] = ",".join(QUEUES),
    loglevel: LogLevel = "info",
    hostname: Annotated[str | None, typer.Option(help="Node name (default worker@HOST).")] = None,
) -> None:
    """A Celery worker for syncs and downloads (needs REDIS_URL)."""
    from services.launcher import commands

    raise typer.Exit(commands.worker(concurrency, queues, loglevel, hostname))


def beat(loglevel: LogLevel = "info") -> None:
    """The scheduler: enqueues syncs from the schedules (needs REDIS_URL)."""
    from services.launcher import commands

    raise typer.Exit(commands.beat(loglevel))


def web(
    host: Annotated[str, typer.Option(help="Address to bind; other than localhost needs a password.")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8080,
) -> None:
    """The dashboard (GARMINSYNC_WEB_PASSWORD protects it; without one it stays on localhost)."""
    from services.launcher import commands

    commands.web(host, port)


def daemon(
    concurrency: Annotated[int, typer.Option(min=1, help="Worker concurrency.")] = 2,
    host: Annotated[str, typer.Option(help="Dashboard address.")] = "127.0.0.1",
    port: Port = 8080,
) -> None:
    """Worker, beat and dashboard in one command, for one machine (needs REDIS_URL)."""
    from services.launcher import commands

    raise typer.Exit(commands.daemon(concurrency, host, port))
