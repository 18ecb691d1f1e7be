"""A real stack for the integration tests: the simulator, Celery worker and beat processes, a store.

`Processes` starts `garminsync worker` / `beat` as a user would; `Stack` ties
them to the simulator, the CLI and the database, with the checks a user makes.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import redis
from sqlalchemy import select

from services.simulator.server import SimulatorServer
from shared.config import normalize_database_url
from shared.db import create_session
from shared.fit import check_fit
from shared.models import Account, Activity, ActivityFile, Base, SyncRun
from shared.storage import TMP_PREFIX
from tests.conftest import Cli, assert_no_secret, clean_environ, sim_env
from tests.servers import RedisServer

GARMINSYNC = str(Path(sys.executable).with_name("garminsync"))


class Processes:
    """`garminsync worker` and `garminsync beat` processes, each in its own process group."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env = env
        self.log_dir = log_dir
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        log_dir.mkdir(parents=True, exist_ok=True)

    def _spawn(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        log = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115  (kept open for the child)
        proc = subprocess.Popen(
            argv, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.procs[name] = proc
        return proc

    def worker(
        self,
        name: str,
        concurrency: int = 2,
        wait: bool = True,
        hostname: str | None = None,
        queues: str = "sync,downloads",
    ) -> subprocess.Popen[bytes]:
        """A worker logging to `<name>.log`, node `name@host` unless `hostname` says otherwise."""
        argv = [GARMINSYNC, "worker", "--concurrency", str(concurrency), "--queues", queues]
        argv += ["--hostname", hostname or f"{name}@%h"]
        proc = self._spawn(name, argv)
        if wait:
            self.wait_for_line(name, "ready.")
        return proc

    def beat(self, name: str = "beat", loglevel: str = "info") -> subprocess.Popen[bytes]:
        argv = [GARMINSYNC, "beat", "--loglevel", loglevel]
        return self._spawn(name, argv)

    def names(self) -> list[str]:
        """Every process started, running or not (their logs stay)."""
        return sorted(path.stem for path in self.log_dir.glob("*.log"))

    def log(self, name: str) -> str:
        path = self.log_dir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def wait_for_line(self, name: str, text: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log(name):
                return
            proc = self.procs.get(name)
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}:\n{self.log(name)[-3000:]}")
            time.sleep(0.1)
        raise TimeoutError(f"{name} never logged {text!r}:\n{self.log(name)[-3000:]}")

    def kill9(self, name: str) -> None:
        """SIGKILL the whole process group: the worker and its pool children die at once."""
        proc = self.procs.pop(name)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)

    def stop_one(self, name: str) -> None:
        """SIGTERM one process (a clean stop) and wait for it."""
        proc = self.procs.pop(name)
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for proc in self.procs.values():
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        self.procs.clear()


def redis_value(client: redis.Redis, key: bytes) -> object:
    """Whatever a key holds, whatever its type."""
    kind = client.type(key)
    reads: dict[bytes, Callable[[bytes], object]] = {
        b"string": client.get,
        b"hash": client.hgetall,
        b"list": lambda k: client.lrange(k, 0, -1),
        b"set": client.smembers,
        b"zset": lambda k: client.zrange(k, 0, -1, withscores=True),
        b"stream": lambda k: client.xrange(k),
    }
    return reads[kind](key) if kind in reads else None


def next_minute_cron(lead_s: float = 5.0) -> tuple[str, datetime]:
    """A daily cron (UTC) for the first whole minute at least `lead_s` from now, and that moment."""
    moment = (datetime.now(UTC) + timedelta(seconds=lead_s + 60)).replace(second=0, microsecond=0)
    return f"{moment.minute} {moment.hour} * * *", moment


def wait_until(predicate: object, timeout: float = 60.0, interval: float = 0.2, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(interval)
    raise TimeoutError(f"timed out waiting for {what or predicate}")


@dataclass
class Stack:
    cli: Cli
    sim: SimulatorServer
    procs: Processes
    redis: RedisServer
    db_url: str

    def states(self) -> dict[int, str]:
        with create_session(self.db_url) as session:
            return dict(session.execute(select(Activity.id, Activity.state)).tuples().all())

    def count(self, state: str) -> int:
        return sum(1 for value in self.states().values() if value == state)

    def print_post_mortem(self, lines: int = 60) -> None:
        """What a failed stack test leaves to read: states, runs and each process's last lines."""
        try:
            print(f"activity states: {Counter(self.states().values())}")
            print(f"runs: {[(run.id, run.status, run.message) for run in self.runs()]}")
        except Exception as exc:  # the store may be what broke
            print(f"store unreadable: {exc}")
        for name in self.procs.names():
            tail = self.procs.log(name).splitlines()[-lines:]
            print(f"--- {name}.log, last {len(tail)} lines ---", *tail, sep="\n")

    def storable(self) -> list[Any]:
        """Every account's simulated activities but those whose id exceeds 64 bits (skipped by design)."""
        return [
            a
            for email in self.sim.state.accounts()
            for a in self.sim.state.activities(account=email)
            if a.storable
        ]

    def with_file(self) -> int:
        return sum(1 for a in self.storable() if a.kind != "manual")

    def archived_all(self) -> bool:
        return self.count("downloaded") == self.with_file()

    def add_account(self, name: str, email: str, activities: int, **options: Any) -> None:
        """A second (third…) Garmin account in the simulator, logged in under `name`."""
        self.sim.state.add_account(email, activities=activities, **options)
        tokens = json.dumps(self.sim.state.issue_tokens(account=email))
        imported = self.cli.subprocess("--account", name, "login", "--tokens", tokens)
        assert imported.returncode == 0, imported.stderr

    def account_states(self, name: str) -> dict[int, str]:
        with create_session(self.db_url) as session:
            return dict(
                session.execute(select(Activity.id, Activity.state).join(Account).where(Account.name == name))
                .tuples()
                .all()
            )

    def runs(self) -> list[SyncRun]:
        with create_session(self.db_url) as session:
            return list(session.scalars(select(SyncRun).order_by(SyncRun.id)))

    def sync(self, *args: str, account: str = "default") -> dict[str, Any]:
        result = self.cli.subprocess("--account", account, "sync", "--json", *args)
        assert result.returncode == 0, result.stderr
        return dict(json.loads(result.stdout))

    def deliveries(self) -> int:
        """Download tasks the workers received, re-deliveries included (from their logs)."""
        pattern = re.compile(r"Task garminsync\.download_activity\[[0-9a-f-]+\] received")
        return sum(len(pattern.findall(self.procs.log(name))) for name in self.procs.names())

    def run(self, run_id: int) -> SyncRun:
        with create_session(self.db_url) as session:
            found = session.get(SyncRun, run_id)
            assert found is not None, f"no sync run #{run_id}"
            session.expunge(found)
            return found

    def wait_closed(self, run_id: int, timeout: float = 60.0) -> SyncRun:
        """The run once it has ended (success, partial or error)."""
        wait_until(lambda: self.run(run_id).status != "running", timeout, what=f"sync run #{run_id} closed")
        return self.run(run_id)

    def assert_no_secrets(self, secrets: set[str]) -> None:
        """No secret in any process log, any row of any table, or any Redis key or value."""
        for name in self.procs.names():
            assert_no_secret(secrets, f"the log of {name}", self.procs.log(name))
        with create_session(self.db_url) as session:
            for table in Base.metadata.sorted_tables:
                for row in session.execute(select(table)):
                    assert_no_secret(secrets, f"a row of {table.name}", repr(tuple(row)))
        client = redis.Redis.from_url(self.redis.url)
        for key in client.scan_iter(count=1000):
            assert_no_secret(secrets, "a Redis key", key)
            assert_no_secret(secrets, f"Redis {key!r}", repr(redis_value(client, key)))

    def assert_archive_sound(self) -> None:
        data = self.cli.data_dir
        assert [p for p in data.rglob("*") if p.name.startswith(TMP_PREFIX)] == []
        with create_session(self.db_url) as session:
            stored = session.execute(
                select(Activity.id, Activity.file_path, Activity.file_size).where(
                    Activity.state == "downloaded"
                )
            ).all()
            beside = session.execute(
                select(ActivityFile.activity_id, ActivityFile.path, ActivityFile.size).where(
                    ActivityFile.path.is_not(None)
                )
            ).all()
        assert len({path for _, path, _ in stored}) == len(stored)
        for activity_id, path, size in stored:
            payload = (data / path).read_bytes()
            assert len(payload) == size and str(activity_id) in path
            if path.endswith(".fit"):
                assert check_fit(payload).ok
        for activity_id, path, size in beside:  # sidecars, GPX/TCX exports
            assert (data / path).stat().st_size == size and str(activity_id) in path
        # Nothing else under final names.
        assert {p.relative_to(data).as_posix() for p in (data / "fit").iterdir()} == {
            path for _, path, _ in (*stored, *beside)
        }


def make_stack(
    tmp_path: Path,
    redis_server: RedisServer,
    redis_url: str,
    db_url: str,
    activities: int = 40,
    latency_ms: int = 50,
    **env: str,
) -> Stack:
    sim = SimulatorServer(activities=activities, seed=11, latency_ms=latency_ms).start()
    data = tmp_path / "data"
    base = sim_env(
        sim,
        data,
        REDIS_URL=redis_url,
        DATABASE_URL=db_url,
        GARMINSYNC_RATE_LIMIT="20/second",
        GARMINSYNC_SECRET_KEY="integration-secret",
        GARMINSYNC_MAX_WAIT="1",
        GARMINSYNC_VISIBILITY_TIMEOUT="8",
        GARMINSYNC_PAGE_SIZE="20",
    )
    base.update(env)
    cli = Cli(base, data)
    imported = cli.subprocess("login", "--tokens", base["GARMINTOKENS"])
    assert imported.returncode == 0, imported.stderr
    procs = Processes({**clean_environ(), **base}, tmp_path / "logs")
    return Stack(cli, sim, procs, redis_server, normalize_database_url(db_url))


StackFactory = Callable[..., Stack]
