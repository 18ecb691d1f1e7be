"""`garminsync worker/beat/daemon` and `scripts/up.py`: the right options, clear refusals, clean stops.

The heavy tests (several workers against the simulator) live with the
integration suite; these stay fast. One smoke test starts the real stack
through scripts/up.py when redis-server is installed.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
import requests

from services.launcher import commands, container, health
from services.launcher.argv import beat_argv, worker_argv
from services.launcher.supervisor import Supervisor
from services.simulator.server import SimulatorServer
from shared.redact import mask_url
from tests.conftest import GARMINSYNC, REPO, clean_environ, sim_env
from tests.servers import RedisServer, free_port, redis_binary
from tests.stack import wait_until

UP = REPO / "scripts" / "up.py"


def _closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _alive(pid: int, group: bool = False) -> bool:
    """The process `pid` runs (with `group`: some process of the group it leads, pool children too)."""
    try:
        (os.killpg if group else os.kill)(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _load_up() -> ModuleType:
    spec = importlib.util.spec_from_file_location("garminsync_up", UP)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


COMMANDS: dict[str, Callable[[], int]] = {
    "worker": commands.worker,
    "beat": commands.beat,
    "daemon": commands.daemon,
}


# --- refusals --------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_embedded_mode_is_refused(
    name: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GARMINSYNC_DATA_DIR", str(tmp_path / "data"))
    assert COMMANDS[name]() == 5
    err = capsys.readouterr().err
    assert err.strip() == "error: workers need REDIS_URL; without it the CLI runs jobs in-process"
    assert not (tmp_path / "data").exists(), "nothing is created before the refusal"


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_unreachable_redis_is_one_line_and_exit_5(
    name: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GARMINSYNC_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("REDIS_URL", f"redis://:hunter2@127.0.0.1:{_closed_port()}/0")
    started = time.monotonic()
    assert COMMANDS[name]() == 5
    assert time.monotonic() - started < 10
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert "cannot reach Redis at redis://:***@127.0.0.1:" in err
    assert "hunter2" not in err


def test_unreachable_redis_as_a_process_has_no_traceback(tmp_path: Path) -> None:
    env = {
        **clean_environ(),
        "GARMINSYNC_DATA_DIR": str(tmp_path / "data"),
        "REDIS_URL": f"redis://127.0.0.1:{_closed_port()}/0",
    }
    code = "import sys; from services.launcher.commands import worker; sys.exit(worker(concurrency=3))"
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 5
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert result.stderr.startswith("error: cannot reach Redis")
    assert "Traceback" not in result.stderr


@pytest.mark.skipif(redis_binary() is None, reason="redis-server is not installed")
def test_a_data_dir_that_cannot_be_created_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a-file").write_text("")
    redis = RedisServer()
    redis.start()
    try:
        monkeypatch.setenv("REDIS_URL", redis.url)
        monkeypatch.setenv("GARMINSYNC_DATA_DIR", str(tmp_path / "a-file" / "data"))
        assert commands.worker() == 5
    finally:
        redis.cleanup()
    err = capsys.readouterr().err
    assert err.startswith("error: cannot create the data directory")
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"queues": "sync,download"}, "unknown queue 'download'"),
        ({"queues": " , "}, "--queues needs"),
        ({"concurrency": 0}, "--concurrency must be at least 1"),
        ({"loglevel": "loud"}, "unknown log level"),
    ],
)
def test_worker_usage_errors(
    kwargs: dict[str, object],
    message: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{_closed_port()}/0")
    assert commands.worker(**kwargs) == 2  # type: ignore[arg-type]
    assert message in capsys.readouterr().err


@pytest.mark.skipif(redis_binary() is None, reason="redis-server is not installed")
def test_daemon_checks_the_dashboard_address_before_starting_anything(
    redis_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("GARMINSYNC_DATA_DIR", str(tmp_path / "data"))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert commands.daemon(port=port) == 5
    assert commands.daemon(host="0.0.0.0", port=free_port()) == 2  # noqa: S104 - no password
    captured = capsys.readouterr()
    assert "started" not in captured.out, "no worker or beat was started"
    lines = captured.err.splitlines()
    assert lines[0] == f"error: cannot listen on 127.0.0.1:{port}: Address already in use"
    assert lines[1].startswith("error: refusing to listen on 0.0.0.0 without a dashboard password")
    assert len(lines) == 2


# --- the options every deployment shares --------------------------------------------------


def test_worker_argv_has_the_options_the_design_relies_on() -> None:
    argv = worker_argv(concurrency=4, queues="downloads", loglevel="WARNING", hostname="w1@%h")
    assert argv[:5] == [sys.executable, "-m", "celery", "-A", "services.worker.celery_app:app"]
    assert argv[5] == "worker"
    for option in (
        "--pool=prefork",
        "--concurrency=4",
        "--queues=downloads",
        "--prefetch-multiplier=1",
        "--hostname=w1@%h",
        "--loglevel=warning",
        "--without-gossip",
    ):
        assert option in argv
    assert argv[argv.index("-O") + 1] == "fair"
    assert "--queues=sync,downloads,notify" in worker_argv()
    assert "--hostname=worker@%h" in worker_argv()


def test_beat_argv_uses_the_garminsync_scheduler() -> None:
    argv = beat_argv()
    assert argv[5] == "beat"
    assert "--scheduler=services.worker.beat:GarminSyncScheduler" in argv
    assert "--max-interval=5" in argv


def test_mask_url_hides_passwords_only() -> None:
    assert mask_url("redis://:pw@host:6379/0") == "redis://:***@host:6379/0"
    assert mask_url("postgresql://gs:pw@db/gs") == "postgresql://gs:***@db/gs"
    assert mask_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"


def test_web_healthcheck_fails_when_nothing_listens() -> None:
    assert health.health("web", port=_closed_port()) == 1


def test_beat_and_worker_healthchecks_fail_without_redis(monkeypatch: pytest.MonkeyPatch) -> None:
    assert health.health("beat") == 1  # embedded: no Redis, nothing to check against
    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{_closed_port()}/0")
    assert health.health("beat") == 1
    assert health.health("worker") == 1


def test_migrate_creates_the_schema(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GARMINSYNC_DATA_DIR", str(tmp_path / "data"))
    assert container.main(["migrate"]) == 0
    assert (tmp_path / "data" / "garmin.db").is_file()


# --- supervising children ----------------------------------------------------------------

SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]


def test_supervisor_stops_the_others_when_a_child_dies() -> None:
    out = io.StringIO()
    with Supervisor(out=out, grace_s=5) as sup:
        sleeper = sup.start("sleeper", SLEEPER)
        sup.start("crasher", [sys.executable, "-c", "import time, sys; time.sleep(0.3); sys.exit(3)"])
        started = time.monotonic()
        assert sup.run(poll_s=0.05) == 3
        assert time.monotonic() - started < 10
        assert sleeper.poll() is not None
    lines = out.getvalue().splitlines()
    assert lines[0].startswith(f"started sleeper pid={sleeper.pid}: python -c ")
    assert lines[1].startswith("started crasher pid=")


def test_supervisor_a_child_exiting_0_is_still_a_failure() -> None:
    with Supervisor(out=io.StringIO(), grace_s=5) as sup:
        sup.start("sleeper", SLEEPER)
        sup.start("quitter", [sys.executable, "-c", "pass"])
        assert sup.run(poll_s=0.05) == 1


def test_supervisor_forwards_sigterm_and_exits_0() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with Supervisor(out=io.StringIO(), grace_s=5) as sup:
        children = [sup.start(f"sleeper{i}", SLEEPER) for i in range(2)]
        threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGTERM)).start()
        assert sup.run(poll_s=0.05) == 0
        assert all(child.poll() == -signal.SIGTERM for child in children)
    assert signal.getsignal(signal.SIGTERM) is before


def test_supervisor_kills_a_child_that_ignores_sigterm() -> None:
    stubborn = [
        sys.executable,
        "-c",
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('x', flush=True); "
        "time.sleep(60)",
    ]
    with Supervisor(out=io.StringIO(), grace_s=0.5) as sup:
        child = sup.start("stubborn", stubborn, stdout=subprocess.PIPE)
        assert child.stdout is not None
        child.stdout.readline()  # the handler is installed
        sup.stop()
        assert child.poll() == -signal.SIGKILL


# --- scripts/up.py -----------------------------------------------------------------------------


def test_up_help_documents_the_options() -> None:
    result = subprocess.run(
        [sys.executable, str(UP), "--help"], capture_output=True, text=True, timeout=60, env=clean_environ()
    )
    assert result.returncode == 0, result.stderr
    for option in ("--data-dir", "--port", "--redis-port", "--concurrency", "--workers", "--flower",
                   "--simulator", "READY"):  # fmt: skip
        assert option in result.stdout


def test_up_rejects_bad_options() -> None:
    result = subprocess.run(
        [sys.executable, str(UP), "--workers", "0"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "--workers must be at least 1" in result.stderr


def test_up_with_an_unreachable_redis_exits_5(tmp_path: Path) -> None:
    env = {
        **clean_environ(),
        "GARMINSYNC_DATA_DIR": str(tmp_path / "data"),
        "REDIS_URL": f"rediss://127.0.0.1:{_closed_port()}/0",  # TLS: a Redis up.py will not start itself
    }
    result = subprocess.run(
        [sys.executable, str(UP)], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 5, result.stderr
    assert result.stderr.strip().startswith("error: cannot reach Redis")
    assert "Traceback" not in result.stderr
    assert "READY" not in result.stdout


def test_up_plans_redis_from_the_settings() -> None:
    up = _load_up()
    assert up.plan_redis(None, None) == ("redis://127.0.0.1:6379/0", True)
    assert up.plan_redis("redis://localhost:6390/2", None) == ("redis://127.0.0.1:6390/2", True)
    assert up.plan_redis("redis://localhost:6390/2", 7000) == ("redis://127.0.0.1:7000/2", True)
    assert up.plan_redis("redis://:pw@localhost/0", None) == ("redis://:pw@127.0.0.1:6379/0", True)
    assert up.plan_redis("redis://cache.lan:6379/0", None) == ("redis://cache.lan:6379/0", False)


@pytest.mark.integration
@pytest.mark.skipif(redis_binary() is None, reason="redis-server is not installed")
def test_up_starts_the_stack_prints_ready_and_stops_everything(tmp_path: Path) -> None:
    redis_port = free_port()
    env = {**clean_environ(), "PYTHONUNBUFFERED": "1"}
    argv = [
        sys.executable, str(UP), "--data-dir", str(tmp_path / "data"), "--redis-port", str(redis_port),
        "--workers", "2", "--concurrency", "1", "--no-web", "--log-dir", str(tmp_path / "logs"),
    ]  # fmt: skip
    proc = subprocess.Popen(argv, env=env, cwd=tmp_path, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line.strip())
            if line.startswith("READY"):
                break
        assert lines and lines[-1] == f"READY redis=redis://127.0.0.1:{redis_port}/0", lines
        pids = {line.split()[1]: int(line.split()[2].split("=")[1].rstrip(":")) for line in lines
                if line.startswith("started ")}  # fmt: skip
        assert set(pids) == {"redis", "worker1", "worker2", "beat"}
        assert (tmp_path / "data" / "redis" / "appendonlydir").is_dir(), "AOF is on"
        health_env = {"REDIS_URL": f"redis://127.0.0.1:{redis_port}/0"}
        with pytest.MonkeyPatch.context() as mp:
            for key, value in health_env.items():
                mp.setenv(key, value)
            assert health.health("worker", node="worker2@%h") == 0
            assert health.health("beat") == 0
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
        still_running = [name for name, pid in pids.items() if _alive(pid)]
        assert not still_running
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# --- garminsync daemon -----------------------------------------------------------------------


def _started(log: Path) -> dict[str, int]:
    """The children the supervisor reported: `started NAME pid=PID: ...` lines."""
    found = re.findall(r"^started (\w+) pid=(\d+):", log.read_text(errors="replace"), re.MULTILINE)
    return {name: int(pid) for name, pid in found}


@pytest.mark.integration
@pytest.mark.skipif(redis_binary() is None, reason="redis-server is not installed")
def test_daemon_runs_worker_beat_and_web_and_stops_all_on_sigterm(
    tmp_path: Path, redis_url: str, simulator: SimulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    env = {
        **clean_environ(),
        **sim_env(simulator, tmp_path / "data", REDIS_URL=redis_url, GARMINSYNC_SECRET_KEY="daemon-test"),
        "PYTHONUNBUFFERED": "1",
    }
    imported = subprocess.run(
        [GARMINSYNC, "login", "--tokens", env["GARMINTOKENS"]], env=env, cwd=tmp_path, capture_output=True
    )
    assert imported.returncode == 0, imported.stderr
    log = tmp_path / "daemon.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [GARMINSYNC, "daemon", "--port", str(port), "--concurrency", "2"],
            env=env,
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    children: dict[str, int] = {}
    try:
        wait_until(lambda: len(_started(log)) == 3, 60, what="three children started")
        children = _started(log)
        assert set(children) == {"worker", "beat", "web"}
        base = f"http://127.0.0.1:{port}"
        wait_until(lambda: health.web_serving(base + "/healthz"), 60, what="the dashboard answering")
        monkeypatch.setenv("REDIS_URL", redis_url)
        wait_until(lambda: health.health("worker") == 0, 60, what="the worker answering a ping")
        wait_until(lambda: health.health("beat") == 0, 60, what="beat holding its lock")
        # It does the job: "Sync now" on its dashboard, the worker archives everything.
        browser = requests.Session()
        token = browser.get(base + "/api/csrf", timeout=10).json()["csrf_token"]
        sync = browser.post(base + "/api/sync", json={}, headers={"X-CSRFToken": token}, timeout=10)
        assert sync.status_code == 202, sync.text
        run_url = f"{base}/api/runs/{sync.json()['run_id']}"
        wait_until(lambda: browser.get(run_url, timeout=10).json()["status"] != "running", 60, what="the run")
        assert browser.get(run_url, timeout=10).json()["status"] == "success"
        archived = browser.get(base + "/api/dashboard", timeout=10).json()["counters"]["archived"]
        assert archived == sum(1 for a in simulator.state.activities() if a.storable and a.kind != "manual")

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(90) == 0, log.read_text()[-3000:]
        assert [name for name, pid in children.items() if _alive(pid, group=True)] == []
        assert not health.web_serving(base + "/healthz")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        for pid in children.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
