#!/usr/bin/env python3
"""`make up`: the whole stack natively, for people without Docker (and for the integration tests).

Starts (or reuses) a local redis-server, then N workers, beat and the web
dashboard with the same options as `garminsync worker/beat/daemon`
(services/launcher/), optionally Flower and the bundled Garmin
simulator. Prints `started NAME pid=PID: COMMAND` per process and, once every
process answers, one line

    READY web=http://HOST:PORT redis=redis://HOST:PORT/DB [simulator=URL] [flower=URL]

on stdout (no `web=` under --no-web; a Redis password shows as ***). The
processes' own logs go to stderr, or to --log-dir. Ctrl-C or SIGTERM stops
everything it started, apps first and Redis last; if any process dies, the
others are stopped and the exit code is non-zero.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from services.launcher.argv import beat_argv, celery_argv, web_argv, worker_argv  # noqa: E402
from services.launcher.health import beat_running, web_serving, workers_answering  # noqa: E402
from services.launcher.preflight import check_redis  # noqa: E402
from services.launcher.supervisor import Supervisor  # noqa: E402
from shared.errors import BrokerUnavailable, GarminSyncError  # noqa: E402
from shared.outcomes import EXIT_CODES, Kind, kind_of  # noqa: E402
from shared.redact import mask_url  # noqa: E402

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
# The demo login the bundled simulator is started with (a test double, not a secret).
DEMO_EMAIL = "athlete@example.com"
DEMO_PASSWORD = "demo-password"  # noqa: S105


class StartupError(Exception):
    """Something did not come up; carries the exit code."""

    def __init__(self, message: str, code: int = EXIT_CODES[Kind.ENVIRONMENT]) -> None:
        super().__init__(message)
        self.code = code


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="scripts/up.py",
        description=(
            "Run GarminSync natively: redis-server, workers, beat and the dashboard (make up). "
            "Prints 'READY web=URL redis=URL' on stdout when everything answers; "
            "Ctrl-C stops it all."
        ),
    )
    p.add_argument("--data-dir", type=Path, help="GARMINSYNC_DATA_DIR for every process (default: settings)")
    p.add_argument("--host", default="127.0.0.1", help="dashboard address (default: %(default)s)")
    p.add_argument("--port", type=int, default=8080, help="dashboard port (default: %(default)s)")
    p.add_argument(
        "--redis-port",
        type=int,
        help="local Redis port (default: REDIS_URL's port, else 6379); reused if a Redis already runs there",
    )
    p.add_argument("--workers", type=int, default=1, help="worker processes (default: %(default)s)")
    p.add_argument(
        "--concurrency", type=int, default=2, help="pool processes per worker (default: %(default)s)"
    )
    p.add_argument("--loglevel", default="info", help="Celery log level (default: %(default)s)")
    p.add_argument("--flower", action="store_true", help="also run Celery Flower (dev extras)")
    p.add_argument("--flower-port", type=int, default=5555, help="(default: %(default)s)")
    p.add_argument(
        "--simulator",
        action="store_true",
        help="demo mode: start the bundled Garmin simulator, point GARMINSYNC_GARMIN_API_URL at it and "
        "log in to it (default data dir ./demo-data)",
    )
    p.add_argument(
        "--simulator-port", type=int, default=8765, help="0 picks a free port (default: %(default)s)"
    )
    p.add_argument("--activities", type=int, default=300, help="simulated activities (default: %(default)s)")
    p.add_argument("--no-beat", action="store_true", help="do not start beat")
    p.add_argument("--no-web", action="store_true", help="do not start the dashboard")
    p.add_argument(
        "--log-dir", type=Path, help="write each process's output to DIR/NAME.log instead of stderr"
    )
    p.add_argument(
        "--timeout", type=float, default=90.0, help="seconds to wait for READY (default: %(default)s)"
    )
    return p


# --- Redis ---------------------------------------------------------------------------


def _with_port(url: str, port: int) -> str:
    parts = urlsplit(url)
    auth = parts.netloc.rpartition("@")[0]
    netloc = (auth + "@" if auth else "") + f"127.0.0.1:{port}"
    return urlunsplit((parts.scheme or "redis", netloc, parts.path or "/0", parts.query, ""))


def plan_redis(configured: str | None, port: int | None) -> tuple[str, bool]:
    """(the Redis URL every process gets, whether a local redis-server may be started for it)."""
    if port is not None:
        return _with_port(configured or "redis://127.0.0.1/0", port), True
    if configured is None:
        return "redis://127.0.0.1:6379/0", True
    parts = urlsplit(configured)
    if parts.scheme == "redis" and (parts.hostname or "127.0.0.1") in LOCAL_HOSTS:
        return _with_port(configured, parts.port or 6379), True
    return configured, False  # a remote Redis, rediss:// or a unix socket: use it as it is


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1.0)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def start_redis(sup: Supervisor, url: str, data_dir: Path, output: Callable[[str], Any]) -> None:
    """Reuse a Redis that answers on the port, or start redis-server with noeviction and AOF."""
    try:
        check_redis(url, timeout=1.0)
        print(f"using the Redis already running at {mask_url(url)}", flush=True)
        return
    except BrokerUnavailable:
        pass
    parts = urlsplit(url)
    port = parts.port or 6379
    if _port_open(port):
        raise StartupError(
            f"port {port} is in use by something that does not answer as Redis at {mask_url(url)}"
        )
    binary = shutil.which("redis-server")
    if binary is None:
        raise StartupError(
            "redis-server is not installed (apt-get install redis-server, or brew install redis), "
            "or point REDIS_URL at a running Redis"
        )
    redis_dir = data_dir / "redis"
    redis_dir.mkdir(parents=True, exist_ok=True)
    argv = [
        binary,
        "--port", str(port),
        "--bind", "127.0.0.1",
        "--maxmemory-policy", "noeviction",
        "--appendonly", "yes",
        "--dir", str(redis_dir),
        "--daemonize", "no",
    ]  # fmt: skip
    if parts.password:
        argv += ["--requirepass", parts.password]
    sup.start("redis", argv, stage=0, **output("redis"))
    deadline = time.monotonic() + 15
    while True:
        try:
            check_redis(url, timeout=1.0)
            return
        except BrokerUnavailable as exc:
            if sup.exited() or time.monotonic() > deadline:
                raise StartupError(f"redis-server did not start: {exc}") from None
            time.sleep(0.1)


# --- simulator -------------------------------------------------------------------------


def start_simulator(
    sup: Supervisor, args: argparse.Namespace, data_dir: Path, output: Callable[[str], Any]
) -> str:
    port_file = data_dir / "simulator.port"
    port_file.unlink(missing_ok=True)
    argv = [
        sys.executable, "-m", "services.simulator",
        "--host", "127.0.0.1",
        "--port", str(args.simulator_port),
        "--activities", str(args.activities),
        "--email", DEMO_EMAIL,
        "--password", DEMO_PASSWORD,
        "--port-file", str(port_file),
    ]  # fmt: skip
    sup.start("simulator", argv, stage=0, **output("simulator"))
    deadline = time.monotonic() + 30
    while not port_file.is_file():
        if sup.exited() or time.monotonic() > deadline:
            raise StartupError("the simulator did not start", EXIT_CODES[Kind.UNEXPECTED])
        time.sleep(0.1)
    return f"http://127.0.0.1:{int(port_file.read_text().strip())}"


def demo_login(env: dict[str, str], log: IO[str]) -> None:
    """Log in to the simulator once, as `garminsync login` would, so the workers have tokens."""
    result = subprocess.run(
        [sys.executable, "-m", "services.cli.main", "login"],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no message"])[-1]
        print(f"warning: demo login failed (exit {result.returncode}): {last}", file=log, flush=True)


# --- the stack ---------------------------------------------------------------------------


def child_environment(args: argparse.Namespace) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    data_dir = args.data_dir
    if data_dir is None and args.simulator and not env.get("GARMINSYNC_DATA_DIR"):
        data_dir = Path("demo-data")
    if data_dir is not None:
        env["GARMINSYNC_DATA_DIR"] = str(data_dir.expanduser().absolute())
    return env


def wait_ready(
    sup: Supervisor,
    checks: dict[str, Callable[[], bool]],
    timeout: float,
) -> None:
    """Poll every check until all pass; fail fast if a process dies or a signal arrives."""
    pending = dict(checks)
    deadline = time.monotonic() + timeout
    while pending:
        if sup.stop_requested:
            raise StartupError("interrupted while starting", 130)
        dead = sup.exited()
        if dead is not None:
            raise StartupError("", sup.report_death(dead))
        for name, check in list(pending.items()):
            if check():
                del pending[name]
        if pending and time.monotonic() > deadline:
            waiting = ", ".join(pending)
            raise StartupError(f"not ready after {timeout:.0f}s: {waiting}", EXIT_CODES[Kind.UNEXPECTED])
        if pending:
            time.sleep(0.25)


def run(args: argparse.Namespace, sup: Supervisor) -> int:
    from celery.utils.nodenames import host_format

    from shared.config import load_settings
    from shared.db import ensure_schema
    from shared.storage import restrict_umask

    env = child_environment(args)
    settings = load_settings(environ=env)
    restrict_umask(settings.umask)  # every process started below inherits it
    redis_url, local = plan_redis(settings.redis_url, args.redis_port)
    env["REDIS_URL"] = redis_url
    data_dir = settings.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)

    log_dir: Path | None = args.log_dir
    if log_dir is not None:
        log_dir.mkdir(parents=True, exist_ok=True)

    def output(name: str) -> dict[str, Any]:
        if log_dir is None:
            return {"stdout": sys.stderr, "stderr": subprocess.STDOUT}
        return {"stdout": (log_dir / f"{name}.log").open("ab"), "stderr": subprocess.STDOUT}

    if local:
        start_redis(sup, redis_url, data_dir, output)
    else:
        check_redis(redis_url)

    extra: list[str] = []
    if args.simulator:
        api_url = start_simulator(sup, args, data_dir, output)
        env["GARMINSYNC_GARMIN_API_URL"] = api_url
        env["GARMIN_EMAIL"] = DEMO_EMAIL
        env["GARMIN_PASSWORD"] = DEMO_PASSWORD
        env["GARMINTOKENS"] = str(data_dir / "tokens")  # never overwrite a real token store
        extra.append(f"simulator={api_url}")

    ensure_schema(load_settings(environ=env).database_url)  # once, before the processes race to it
    if args.simulator:
        demo_login(env, sys.stderr)

    nodes = [host_format(f"worker{i}@%h") for i in range(1, args.workers + 1)]
    worker_cmds = [worker_argv(args.concurrency, loglevel=args.loglevel, hostname=f"worker{i}@%h")
                   for i in range(1, args.workers + 1)]  # fmt: skip
    checks: dict[str, Callable[[], bool]] = {
        "workers": lambda: set(nodes) <= workers_answering(redis_url, nodes),
    }
    for i, cmd in enumerate(worker_cmds, start=1):
        sup.start(f"worker{i}", cmd, env=env, **output(f"worker{i}"))
    if not args.no_beat:
        sup.start("beat", beat_argv(args.loglevel), env=env, **output("beat"))
        checks["beat"] = lambda: beat_running(redis_url)
    web_host = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host  # noqa: S104
    web_url = f"http://{web_host}:{args.port}"
    if not args.no_web:
        sup.start("web", web_argv(args.host, args.port), env=env, **output("web"))
        checks["web"] = lambda: web_serving(f"{web_url}/healthz", timeout=2.0)
    if args.flower:
        flower_url = f"http://127.0.0.1:{args.flower_port}"
        flower = celery_argv("flower", "--address=127.0.0.1", f"--port={args.flower_port}")
        sup.start("flower", flower, env=env, **output("flower"))
        checks["flower"] = lambda: web_serving(f"{flower_url}/healthcheck", timeout=2.0)
        extra.append(f"flower={flower_url}")

    wait_ready(sup, checks, args.timeout)
    web_part = [] if args.no_web else [f"web={web_url}"]
    print(" ".join(["READY", *web_part, f"redis={mask_url(redis_url)}", *extra]), flush=True)
    return sup.run()


def _validate(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    if args.concurrency < 1:
        parser.error("--concurrency must be at least 1")
    for name in ("port", "redis_port", "flower_port"):
        value = getattr(args, name)
        if value is not None and not 0 < value < 65536:
            parser.error(f"--{name.replace('_', '-')} must be between 1 and 65535")
    if args.flower and importlib.util.find_spec("flower") is None:
        parser.error("--flower needs Flower: pip install -e '.[dev]'")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _validate(args, parser)
    with Supervisor(grace_s=30.0) as sup:
        try:
            return run(args, sup)
        except StartupError as exc:
            if str(exc):
                print(f"error: {exc}", file=sys.stderr, flush=True)
            return exc.code
        except GarminSyncError as exc:
            print(f"error: {exc}", file=sys.stderr, flush=True)
            return EXIT_CODES[kind_of(exc)]


if __name__ == "__main__":
    sys.exit(main())
