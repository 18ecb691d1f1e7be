"""Start the long-running processes (worker, beat, the one-machine daemon) with the right options.

The options live here, not in each deployment file, so `garminsync worker`,
`garminsync daemon`, `make up` (scripts/up.py) and the Docker image all run
Celery the same way. `python -m services.cli.processes health web|worker|beat`
and `... migrate` are the container healthchecks and the one-shot schema
upgrade used by docker-compose.yml.

Worker options, and why:
- prefork pool, `--prefetch-multiplier 1` and `-O fair`: a worker reserves one
  task per free process, so a long download never holds a queue of others
  hostage while another worker is idle (and acks_late re-delivers only that one).
- `--without-gossip`: workers do not need to see each other's events; gossip
  costs O(workers²) messages. Mingle stays on: a worker that starts late learns
  the revoked task ids from the others (the dashboard can revoke), for ~1 s of
  start-up.
- `worker` and `beat` exec Celery (same pid): `docker stop`, systemd and
  `kill -9` in the tests reach the real Celery process, never a wrapper.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import FrameType
from typing import IO, TYPE_CHECKING, Any, NoReturn

import typer

from services.cli import exit_codes
from services.worker.names import QUEUES
from shared.errors import BrokerUnavailable, ConfigError, GarminSyncError, StorageError, UsageError
from shared.redact import mask_url
from shared.storage import restrict_umask

if TYPE_CHECKING:
    from shared.config import Settings

CELERY_APP = "services.worker.celery_app:app"
BEAT_SCHEDULER = "services.worker.beat:GarminSyncScheduler"
LOGLEVELS = ("debug", "info", "warning", "error", "critical")
REDIS_TIMEOUT_S = 3.0
STOP_GRACE_S = 30.0  # a warm worker shutdown finishes its current downloads
EMBEDDED_MESSAGE = "workers need REDIS_URL; without it the CLI runs jobs in-process"


# --- checks --------------------------------------------------------------------------


def check_redis(url: str, timeout: float = REDIS_TIMEOUT_S) -> None:
    """PING Redis once; raise BrokerUnavailable with one line if it does not answer in time."""
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    try:
        client.ping()
    except redis.RedisError as exc:
        raise BrokerUnavailable(f"cannot reach Redis at {mask_url(url)}: {exc}") from None
    finally:
        client.close()


def preflight(schema: bool = True) -> Settings:
    """Settings, Redis and the schema checked before any process starts.

    Raises GarminSyncError subclasses, so callers turn them into one line and an
    exit code; upgrading the schema here keeps several processes that start at
    once from racing to migrate the same database.
    """
    from shared.config import load_settings

    settings = load_settings()
    restrict_umask(settings.umask)  # Celery, exec'd next, and its pool inherit it
    if settings.redis_url is None:
        raise ConfigError(EMBEDDED_MESSAGE)
    check_redis(settings.redis_url)
    _check_data_dir(settings)
    if schema:
        from shared.db import ensure_schema

        ensure_schema(settings.database_url)
    return settings


def _check_data_dir(settings: Settings) -> None:
    """Workers write the files there: a read-only mount should stop them at start, not per task."""
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError(f"cannot create the data directory {settings.data_dir}: {exc.strerror}") from None
    if not os.access(settings.data_dir, os.W_OK | os.X_OK):
        raise StorageError(f"the data directory {settings.data_dir} is not writable by this user")


def _fail(message: str, code: int) -> int:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return code


def _check_loglevel(loglevel: str) -> str:
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


# --- argv ------------------------------------------------------------------------------


def celery_argv(*args: str) -> list[str]:
    """`python -m celery -A <app> ...` from this interpreter (the venv's Celery)."""
    return [sys.executable, "-m", "celery", "-A", CELERY_APP, *args]


def worker_argv(
    concurrency: int = 2,
    queues: str = "sync,downloads",
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
        f"--loglevel={_check_loglevel(loglevel)}",
    )


def beat_argv(loglevel: str = "info") -> list[str]:
    """celery beat with the RedBeat scheduler that restores schedules from the database."""
    return celery_argv(
        "beat",
        f"--scheduler={BEAT_SCHEDULER}",
        "--max-interval=5",
        f"--loglevel={_check_loglevel(loglevel)}",
    )


def web_argv(host: str, port: int) -> list[str]:
    return [sys.executable, "-m", "services.cli.main", "web", "--host", host, "--port", str(port)]


def describe(argv: Sequence[str]) -> str:
    """A command line for humans: `python` instead of the interpreter's full path."""
    shown = ["python" if arg == sys.executable else arg for arg in argv]
    return shlex.join(shown)


def _exec(argv: list[str]) -> NoReturn:
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(argv[0], argv)  # noqa: S606 - a fixed argv built above, no shell


def _check_beat_scheduler() -> None:
    module = BEAT_SCHEDULER.split(":", 1)[0]
    try:
        found = importlib.util.find_spec(module) is not None
    except ImportError:
        found = False
    if not found:
        raise ConfigError(f"the beat scheduler module {module} is missing from this installation")


# --- commands ----------------------------------------------------------------------------


def worker(
    concurrency: int = 2,
    queues: str = "sync,downloads",
    loglevel: str = "info",
    hostname: str | None = None,
) -> int:
    """Run a Celery worker in the foreground (this process becomes Celery); an exit code on refusal."""
    try:
        argv = worker_argv(concurrency, queues, loglevel, hostname)
        preflight()
    except GarminSyncError as exc:
        return _fail(str(exc), exit_codes.code_for(exc))
    _exec(argv)


def beat(loglevel: str = "info") -> int:
    """Run celery beat with the GarminSync RedBeat scheduler; an exit code on refusal."""
    try:
        argv = beat_argv(loglevel)
        preflight()
        _check_beat_scheduler()
    except GarminSyncError as exc:
        return _fail(str(exc), exit_codes.code_for(exc))
    _exec(argv)


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
        preflight()
        _check_beat_scheduler()
    except GarminSyncError as exc:
        return _fail(str(exc), exit_codes.code_for(exc))
    with Supervisor() as supervisor:
        try:
            supervisor.start("worker", worker_cmd)
            supervisor.start("beat", beat_cmd)
            supervisor.start("web", web_argv(host, port))
        except OSError as exc:
            return _fail(f"cannot start a process: {exc}", exit_codes.UNEXPECTED)
        return supervisor.run()


# --- supervising children ----------------------------------------------------------------


def _child_setup() -> None:  # pragma: no cover - runs in the forked child
    """Linux: the child gets SIGTERM if the supervisor dies (even by kill -9), so nothing is orphaned."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)


@dataclass
class Child:
    name: str
    proc: subprocess.Popen[bytes]
    stage: int  # higher stages stop first: apps (1) before the Redis and simulator they use (0)
    reported: bool = False


@dataclass
class Supervisor:
    """Starts named children, forwards SIGTERM/SIGINT to all, and stops them in stages.

    Each child runs in its own process group, so a terminal's Ctrl-C reaches only
    the supervisor, which then sends one SIGTERM to each child (Celery treats a
    second signal as a cold shutdown). A second Ctrl-C kills what is left.
    """

    out: IO[str] = field(default_factory=lambda: sys.stdout)
    grace_s: float = STOP_GRACE_S
    children: list[Child] = field(default_factory=list)
    signals: int = 0
    _previous: dict[int, Any] = field(default_factory=dict)

    def __enter__(self) -> Supervisor:
        for signum in (signal.SIGTERM, signal.SIGINT):
            self._previous[signum] = signal.signal(signum, self._on_signal)
        return self

    def __exit__(self, *_exc: object) -> None:
        try:
            self.stop()
        finally:
            for signum, handler in self._previous.items():
                signal.signal(signum, handler)
            self._previous.clear()

    def _on_signal(self, _signum: int, _frame: FrameType | None) -> None:
        self.signals += 1
        if self.signals > 1:
            self.kill_all()

    @property
    def stop_requested(self) -> bool:
        return self.signals > 0

    def start(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: dict[str, str] | None = None,
        stage: int = 1,
        stdout: IO[Any] | int | None = None,
        stderr: IO[Any] | int | None = None,
    ) -> subprocess.Popen[bytes]:
        """Start a child and print `started NAME pid=PID: COMMAND`."""
        proc = subprocess.Popen(
            list(argv),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            process_group=0,
            preexec_fn=_child_setup,  # safe: the supervisor runs no threads while it forks
        )
        self.children.append(Child(name, proc, stage))
        print(f"started {name} pid={proc.pid}: {describe(argv)}", file=self.out, flush=True)
        return proc

    def exited(self) -> Child | None:
        """The first child that died on its own, if any."""
        for child in self.children:
            if child.proc.poll() is not None:
                return child
        return None

    def run(self, poll_s: float = 0.2) -> int:
        """Supervise until a signal (0) or a child's death (its code, at least 1)."""
        while not self.stop_requested:
            dead = self.exited()
            if dead is not None:
                return self.report_death(dead)
            time.sleep(poll_s)
        self.stop()
        return exit_codes.OK

    def report_death(self, child: Child) -> int:
        """Say which child died, stop the others, return a non-zero exit code."""
        code = child.proc.returncode
        how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
        child.reported = True
        print(f"error: {child.name} (pid {child.proc.pid}) {how}; stopping the others", file=sys.stderr)
        self.stop()
        return code if code > 0 else exit_codes.UNEXPECTED

    def stop(self) -> None:
        """SIGTERM each stage's children (apps first), wait up to the grace period, then SIGKILL."""
        for stage in sorted({child.stage for child in self.children}, reverse=True):
            group = [c for c in self.children if c.stage == stage and c.proc.poll() is None]
            for child in group:
                with contextlib.suppress(ProcessLookupError):
                    child.proc.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + self.grace_s
            for child in group:
                remaining = max(0.0, deadline - time.monotonic())
                try:
                    child.proc.wait(remaining)
                except subprocess.TimeoutExpired:
                    print(f"{child.name} did not stop in {self.grace_s:.0f}s; killing it", file=sys.stderr)
                    self._kill(child)
            for child in group:  # pool processes of a Celery worker share its process group
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(child.proc.pid, signal.SIGKILL)

    def kill_all(self) -> None:
        for child in self.children:
            if child.proc.poll() is None:
                self._kill(child)

    @staticmethod
    def _kill(child: Child) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.proc.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            child.proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.proc.wait(5)


# --- readiness and container healthchecks -----------------------------------------------


def web_serving(url: str, timeout: float = 3.0) -> bool:
    """The web server answers `url` with anything but a 5xx."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - our own URL
            return int(response.status) < 500
    except urllib.error.HTTPError as exc:
        return exc.code < 500
    except (OSError, ValueError):
        return False


def workers_answering(redis_url: str, nodes: Sequence[str], timeout: float = 1.0) -> set[str]:
    """Which of `nodes` (Celery node names) answer a control ping."""
    from celery import Celery

    probe = Celery("garminsync-probe", broker=redis_url)
    try:
        replies = probe.control.ping(destination=list(nodes), timeout=timeout, limit=len(nodes))
    except Exception:  # any broker trouble means "not answering"
        return set()
    finally:
        probe.close()
    return {name for reply in replies or [] for name in reply}


def beat_lock_key() -> str:
    """RedBeat's lock key as the Celery app configures it (RedBeatConfig's rule, without its warnings)."""
    from services.worker.celery_app import app

    prefix = str(app.conf.get("redbeat_key_prefix") or "redbeat:")
    key = str(app.conf.get("redbeat_lock_key") or prefix + ":lock")
    return key if key.startswith(prefix) else prefix + key


def beat_running(redis_url: str) -> bool:
    """A beat holds the RedBeat lock (it renews it every tick; a hung beat lets it expire)."""
    import redis

    client = redis.Redis.from_url(redis_url, socket_connect_timeout=3, socket_timeout=3)
    try:
        return bool(client.exists(beat_lock_key()))
    except redis.RedisError:
        return False
    finally:
        client.close()


def health(kind: str, port: int = 8080, node: str | None = None) -> int:
    """0 when this container's process is healthy, 1 otherwise (Docker reserves other codes)."""
    if kind == "web":
        return 0 if web_serving(f"http://127.0.0.1:{port}/healthz") else 1
    if kind not in ("worker", "beat"):
        raise UsageError(f"unknown process kind {kind!r}")
    from celery.utils.nodenames import host_format

    from shared.config import load_settings

    try:
        redis_url = load_settings().redis_url
    except GarminSyncError:
        return 1
    if redis_url is None:
        return 1
    try:
        check_redis(redis_url)
    except BrokerUnavailable:
        return 1
    if kind == "worker":
        name = host_format(node or "worker@%h")
        return 0 if name in workers_answering(redis_url, [name], timeout=5.0) else 1
    return 0 if beat_running(redis_url) else 1


def migrate() -> int:
    """Upgrade the schema once, before the other containers start."""
    from shared.config import load_settings
    from shared.db import ensure_schema

    settings = load_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    ensure_schema(settings.database_url)
    print(f"database schema is up to date ({mask_url(settings.database_url)})")
    return exit_codes.OK


def _main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m services.cli.processes")
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
        return _fail(str(exc), exit_codes.code_for(exc))


if __name__ == "__main__":
    import logging

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    sys.exit(_main())
