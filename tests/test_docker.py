"""`docker compose up` for real: the image built from this working tree, the stack on a Docker engine.

What a user of docker-compose.yml checks, on real containers: every service
healthy; the dashboard on the published port, and only for this machine
without a password; the one-command demo archives every simulated activity
through the worker containers; a worker restart in the middle of a sync loses
nothing; the volume keeps the archive and the schedule across `down`/`up`;
non-root processes and a private archive; `down -v` leaves nothing; and the
`postgres` profile, with the login through `docker compose run`.

Each stack runs under its own project name, in its own project directory
(with a `.env` made from .env.example, as a user makes it) and on a free
port, so a developer's own `.env`, stacks and images are never touched. The
image is built with the legacy builder and the host's network (what works on
an engine without IP forwarding, such as `docker-standins`), then the stack
starts with `--no-build`. Skipped only where no Docker engine answers.
"""

from __future__ import annotations

import io
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import tarfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
COMPOSE_FILE = REPO / "docker-compose.yml"
# One compose stack at a time: the tests share the engine, its images and host ports.
pytestmark = [pytest.mark.docker, pytest.mark.timeout(900), pytest.mark.xdist_group("docker")]

# The demo profile's settings: a per-second budget keeps the demo to a minute; at the
# default 30/minute the same 300 activities take ~11 minutes (docs/DEPLOYMENT.md).
DEMO_RATE_LIMIT = "20/second"
DEMO_ACTIVITIES = 150  # the default is 300; half keeps the module near 4 minutes
RESTART_BACKLOG = 200  # new activities for the worker-restart test: about 10 s at the demo budget
SIM_URL = "http://simulator:8765"
APP_UID = "10001"
APP_SERVICES = ("worker", "beat", "web")
# Settings from the developer's shell that would leak into the stacks through interpolation.
_OURS = ("GARMIN", "DATABASE_URL", "REDIS_URL", "POSTGRES_", "COMPOSE_", "FLOWER_")


def _why_no_engine() -> str | None:
    """The reason the module cannot run here, or None when a Docker engine answers."""
    if shutil.which("docker") is None:
        return "no `docker` command on PATH (Debian: ../shared/tools/docker-standins up)"
    try:
        info = subprocess.run(
            ["docker", "info", "--format", "{{.ServerVersion}}"], capture_output=True, text=True, timeout=30
        )
    except subprocess.TimeoutExpired:
        return "no Docker engine answers: `docker info` took over 30 s"
    if info.returncode != 0 or not info.stdout.strip():
        lines = (info.stderr.strip() or "no server version").splitlines()
        return f"no Docker engine answers: {lines[-1]}"
    return None


def _require_compose() -> None:
    """The engine answers: a missing or old Compose is a failure, not a reason to skip."""
    result = subprocess.run(["docker", "compose", "version", "--short"], capture_output=True, text=True)
    found = re.match(r"v?(\d+)\.(\d+)", result.stdout.strip())
    if result.returncode != 0 or not found or (int(found[1]), int(found[2])) < (2, 24):
        pytest.fail(
            "a Docker engine answers but Docker Compose v2 >= 2.24 is missing "
            f"(`docker compose version`: {(result.stdout or result.stderr).strip() or 'nothing'})"
        )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env_file(settings: dict[str, str]) -> str:
    """.env.example with these settings filled in: what `cp .env.example .env` and an edit give."""
    lines = []
    left = dict(settings)
    for line in (REPO / ".env.example").read_text().splitlines():
        key = line.split("=", 1)[0]
        lines.append(f"{key}={left.pop(key)}" if "=" in line and key in left else line)
    lines += [f"{key}={value}" for key, value in left.items()]
    return "\n".join(lines) + "\n"


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.splitlines()[-lines:])


# Run inside a container of the stack: HTTP requests as another machine makes them,
# in one session (cookies, CSRF header). argv[1] is a JSON list of [method, url, body].
HTTP_CLIENT = """
import http.cookiejar, json, sys, urllib.error, urllib.request
opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
answers, csrf = [], ""
for method, url, body in json.loads(sys.argv[1]):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    request.add_header("X-CSRFToken", csrf)
    try:
        with opener.open(request, timeout=20) as response:
            status, text = response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        status, text = error.code, error.read().decode()
    if url.endswith("/api/csrf") and status == 200:
        csrf = json.loads(text)["csrf_token"]
    answers.append([status, text])
print(json.dumps(answers))
"""


@dataclass
class Stack:
    """One compose project: `docker compose` as a user types it, in its own project directory."""

    name: str
    directory: Path
    env: dict[str, str]
    port: int
    profiles: tuple[str, ...] = ()
    removed: bool = False

    def argv(self, *args: str) -> list[str]:
        profiles = [arg for profile in self.profiles for arg in ("--profile", profile)]
        return [
            "docker",
            "compose",
            "-f",
            str(COMPOSE_FILE),
            "--project-directory",
            str(self.directory),
            "-p",
            self.name,
            *profiles,
            *args,
        ]

    def compose(
        self, *args: str, timeout: float = 300, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return self._run(args, timeout, check, text=True)

    def compose_bytes(self, *args: str, timeout: float = 300) -> bytes:
        """stdout as bytes: an archive streamed out of a container."""
        return bytes(self._run(args, timeout, True, text=False).stdout)

    def _run(
        self, args: tuple[str, ...], timeout: float, check: bool, text: bool
    ) -> subprocess.CompletedProcess[Any]:
        result = subprocess.run(
            self.argv(*args),
            env=self.env,
            capture_output=True,
            text=text,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        if check and result.returncode != 0:
            out, err = (
                (result.stdout, result.stderr) if text else ("", result.stderr.decode(errors="replace"))
            )
            raise AssertionError(
                f"`docker compose {' '.join(args)}` exited with {result.returncode}:\n"
                f"{_tail(out)}\n{_tail(err)}\n{self.logs()}"
            )
        return result

    def logs(self, lines: int = 30) -> str:
        result = subprocess.run(
            self.argv("logs", "--no-color", "--tail", str(lines)),
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )
        return f"--- docker compose logs --tail {lines} ---\n{result.stdout}{result.stderr}"

    def garminsync(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """`docker compose exec worker garminsync ...`, as the README shows."""
        return self.compose("exec", "-T", "worker", "garminsync", *args, timeout=timeout)

    def garminsync_json(self, *args: str, timeout: float = 120) -> Any:
        return json.loads(self.garminsync(*args, "--json", timeout=timeout).stdout)

    def sh(self, service: str, script: str) -> str:
        return self.compose("exec", "-T", service, "sh", "-c", script).stdout

    def http_from(self, service: str, *requests: tuple[str, str, Any]) -> list[tuple[int, str]]:
        """Requests made from another container of the stack: another machine, to the web."""
        out = self.compose("exec", "-T", service, "python", "-c", HTTP_CLIENT, json.dumps(requests)).stdout
        return [(status, text) for status, text in json.loads(out)]

    def simulator(self, method: str, path: str, body: Any = None) -> Any:
        """The simulator's control API (it is not published on the host)."""
        [(status, text)] = self.http_from("simulator", (method, f"http://127.0.0.1:8765{path}", body))
        assert status == 200, f"{method} {path}: {status} {text}"
        return json.loads(text)

    def services(self) -> dict[str, dict[str, Any]]:
        """`docker compose ps -a` by service name (the JSON is one object per line in Compose >= 2.21)."""
        out = self.compose("ps", "-a", "--format", "json").stdout.strip()
        rows = json.loads(out) if out.startswith("[") else [json.loads(line) for line in out.splitlines()]
        return {row["Service"]: row for row in rows}

    def labelled(self, kind: str) -> list[str]:
        """Names of the containers, volumes or networks Docker still holds for this project."""
        label = f"label=com.docker.compose.project={self.name}"
        command = ["docker", kind, "ls", "-q", "--filter", label]
        if kind == "container":
            command.insert(3, "-a")
        result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=True)
        return result.stdout.split()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def down(self) -> None:
        """Everything goes, whatever the tests left; the stack's logs are kept for a failure."""
        if self.removed:
            return
        (self.directory / "stack.log").write_text(self.logs(200))
        self.compose("down", "-v", "--remove-orphans", "--timeout", "20", check=False, timeout=180)
        self.removed = True


def _new_stack(
    root: Path, image: str, name: str, settings: dict[str, str], profiles: tuple[str, ...]
) -> Stack:
    directory = root / name
    directory.mkdir()
    (directory / ".env").write_text(_env_file(settings))
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(_OURS)}
    env.update(GARMINSYNC_IMAGE=image, GARMINSYNC_PUBLISH_PORT=str(port))
    return Stack(f"garminsync-test-{name}-{secrets.token_hex(3)}", directory, env, port, profiles)


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=20) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def _answers(url: str) -> bool:
    try:
        return _get(url)[0] == 200
    except OSError:  # not listening yet
        return False


def _wait(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(1)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def _status(stack: Stack) -> dict[str, Any]:
    return stack.garminsync_json("status")


def _catalogue(stack: Stack) -> tuple[int, int]:
    """(activities, of which manual: no file) in the simulator's catalogue; an id beyond a
    signed 64-bit integer, which a client must skip, does not count."""
    activities = [a for a in stack.simulator("GET", "/__sim/activities") if a["activityId"] < 2**63]
    return len(activities), sum(1 for a in activities if a["kind"] == "manual")


def _assert_all_archived(stack: Stack) -> dict[str, Any]:
    """Every simulated activity archived (or known to have no file), the files verified."""
    total, manual = _catalogue(stack)
    status = _status(stack)
    counts = status["counts"]
    assert status["total"] == total, status
    assert (counts["downloaded"], counts["no_file"]) == (total - manual, manual), counts
    _assert_verified(stack, status)
    return status


def _assert_verified(stack: Stack, status: dict[str, Any]) -> None:
    """Nothing pending or failed; every archived file intact, and no other file (a partial
    download left behind) beside them."""
    counts = status["counts"]
    assert counts["missing"] == counts["queued"] == counts["downloading"] == counts["failed"] == 0, counts
    verify = stack.garminsync_json("verify")
    assert verify == {"checked": counts["downloaded"], "problems": []}
    originals = stack.sh("worker", "find /data/fit -type f ! -name '*.json' | wc -l").strip()
    assert originals == str(counts["downloaded"]), "originals in /data/fit"
    sidecars = stack.sh("worker", "find /data/fit -type f -name '*.json' | wc -l").strip()
    assert sidecars == str(counts["downloaded"] + counts["no_file"]), "sidecars in /data/fit"


# --- the image ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The image built from the working tree under a tag of its own (other runs may share the engine)."""
    why = _why_no_engine()
    if why:
        pytest.skip(why)
    _require_compose()
    tag = f"garminsync-test:{secrets.token_hex(4)}"
    log = tmp_path_factory.mktemp("docker-build") / "build.log"
    started = time.monotonic()
    with log.open("w") as out:
        build = subprocess.run(
            ["docker", "build", "--network", "host", "-t", tag, str(REPO)],
            env={**os.environ, "DOCKER_BUILDKIT": "0"},
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            timeout=900,
        )
    if build.returncode != 0:
        pytest.fail(f"docker build exited with {build.returncode}:\n{_tail(log.read_text(), 60)}")
    size = int(
        subprocess.run(
            ["docker", "image", "inspect", "-f", "{{.Size}}", tag], capture_output=True, text=True, check=True
        ).stdout
    )
    print(f"\nimage {tag}: built in {time.monotonic() - started:.0f} s, {size / 1e6:.0f} MB")
    yield tag
    # --no-prune keeps the parent layers: the next build reuses them from the cache.
    subprocess.run(["docker", "rmi", "--no-prune", tag], capture_output=True, timeout=120)


# --- the SQLite stack and its one-command demo ---------------------------------------------------


@pytest.fixture(scope="module")
def pg_started(
    image: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Stack, subprocess.Popen[str]]]:
    """The PostgreSQL stack starting in the background while the SQLite stack is tested: its
    start-up is mostly waiting for healthchecks."""
    postgres_password = secrets.token_urlsafe(16)
    stack = _new_stack(
        tmp_path_factory.mktemp("docker-pg"),
        image,
        "pg",
        {
            "GARMIN_EMAIL": "athlete@example.com",
            "GARMIN_PASSWORD": "correct-horse",
            "POSTGRES_PASSWORD": postgres_password,
            "DATABASE_URL": f"postgresql://garminsync:{postgres_password}@postgres/garminsync",
            "GARMINSYNC_WEB_PASSWORD": secrets.token_urlsafe(12),
            "GARMINSYNC_GARMIN_API_URL": SIM_URL,
            "GARMINSYNC_RATE_LIMIT": DEMO_RATE_LIMIT,
            "GARMINSYNC_DEMO_ACTIVITIES": "120",
            "COMPOSE_PROFILES": "postgres,demo",
        },
        profiles=(),
    )
    up = subprocess.Popen(
        stack.argv("up", "-d", "--no-build", "--wait"),
        env=stack.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    yield stack, up
    if up.poll() is None:
        up.terminate()
        up.wait(60)
    stack.down()


@dataclass
class Demo:
    stack: Stack
    result: subprocess.CompletedProcess[str]
    seconds: float


@pytest.fixture(scope="module")
def demo(image: str, tmp_path_factory: pytest.TempPathFactory, pg_started: Any) -> Iterator[Demo]:
    """The README's one-command demo, run as written (its variables set on every command)."""
    stack = _new_stack(tmp_path_factory.mktemp("docker-demo"), image, "demo", {}, profiles=("demo",))
    stack.env.update(
        GARMINSYNC_GARMIN_API_URL=SIM_URL,
        GARMINSYNC_RATE_LIMIT=DEMO_RATE_LIMIT,
        GARMINSYNC_DEMO_ACTIVITIES=str(DEMO_ACTIVITIES),
    )
    started = time.monotonic()
    result = stack.compose("run", "--rm", "demo", check=False, timeout=600)
    seconds = time.monotonic() - started
    print(f"\ndemo: `docker compose run --rm demo` took {seconds:.0f} s")
    yield Demo(stack, result, seconds)
    stack.down()


def test_the_one_command_demo_archives_every_simulated_activity(demo: Demo) -> None:
    out = demo.result.stdout + demo.result.stderr
    assert demo.result.returncode == 0, f"{_tail(out, 60)}\n{demo.stack.logs()}"
    status = _assert_all_archived(demo.stack)
    assert (status["mode"], status["rate_limit"]) == ("redis", DEMO_RATE_LIMIT)
    assert status["last_run"]["status"] == "success"
    assert f"Checked {status['counts']['downloaded']} files: 0 problem(s)." in out
    assert f"Dashboard: http://127.0.0.1:{demo.stack.port}" in out


def test_every_service_is_healthy(demo: Demo) -> None:
    services = demo.stack.services()
    for name in ("redis", "simulator", *APP_SERVICES):
        assert services[name]["State"] == "running", services[name]
        assert services[name]["Health"] == "healthy", services[name]
    migrate = services["migrate"]
    assert (migrate["State"], migrate["ExitCode"]) == ("exited", 0), migrate


def test_the_dashboard_answers_this_machine_only_without_a_password(demo: Demo) -> None:
    stack = demo.stack
    status, page = _get(stack.url("/"))
    assert status == 200 and "GarminSync" in page
    status, body = _get(stack.url("/api/dashboard"))
    assert status == 200
    assert json.loads(body)["counters"]["archived"] == _status(stack)["counts"]["downloaded"]
    # Published on the host's loopback only: the host's other addresses do not answer.
    assert stack.compose("port", "web", "8080").stdout.strip() == f"127.0.0.1:{stack.port}"
    network = f"{stack.name}_default"
    gateway = subprocess.run(
        ["docker", "network", "inspect", "-f", "{{(index .IPAM.Config 0).Gateway}}", network],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    with pytest.raises(OSError), socket.create_connection((gateway, stack.port), timeout=5):
        pass
    # Another machine (here: another container) is refused, with the reason.
    [(page_status, page), (api_status, api)] = stack.http_from(
        "simulator", ("GET", "http://web:8080/", None), ("GET", "http://web:8080/api/dashboard", None)
    )
    assert page_status == 403 and "GARMINSYNC_WEB_PASSWORD" in page
    assert api_status == 403 and "GARMINSYNC_WEB_PASSWORD" in json.loads(api)["error"]


def test_the_processes_run_as_a_user_who_cannot_change_the_code(demo: Demo) -> None:
    stack = demo.stack
    top = stack.compose("top", *APP_SERVICES, "simulator").stdout
    uids = [
        line.split()[0]
        for line in top.splitlines()
        if line and not line.startswith(("UID", "garminsync-test"))
    ]
    assert uids and set(uids) == {APP_UID}, top
    assert stack.sh("worker", "id -u").strip() == APP_UID
    denied = stack.compose("exec", "-T", "worker", "touch", "/app/shared/x.py", check=False)
    assert denied.returncode != 0 and "Permission denied" in denied.stderr


def test_the_archive_is_private(demo: Demo) -> None:
    """The data dir 0700 and every file 0600 (docs/DESIGN: GPS tracks show where people live)."""
    modes = demo.stack.sh("worker", "stat -c '%a %n' /data; find /data -type f -exec stat -c '%a %n' {} +")
    data_dir, *files = modes.splitlines()
    assert data_dir == "700 /data"
    readable = [line for line in files if not line.startswith("600 ")]
    assert files and not readable, f"{len(readable)} of {len(files)} files not 0600, e.g. {readable[:3]}"


def test_restarting_the_worker_in_the_middle_of_a_sync_loses_nothing(demo: Demo) -> None:
    stack = demo.stack
    before = _status(stack)["counts"]["downloaded"]
    stack.simulator("POST", "/__sim/activities", {"count": RESTART_BACKLOG})
    run_id = stack.garminsync_json("sync")["run_id"]

    def some_downloaded() -> bool:
        return bool(_status(stack)["counts"]["downloaded"] >= before + 20)

    _wait(some_downloaded, 120, "the first downloads of the new backlog")
    stack.compose("restart", "worker", timeout=120)
    during = _status(stack)
    assert during["last_run"]["id"] == run_id
    assert during["last_run"]["status"] == "running", (
        "the sync ended before the restart: raise RESTART_BACKLOG"
    )
    assert during["counts"]["queued"] + during["counts"]["downloading"] > 0

    def run_ended() -> dict[str, Any] | None:
        last = _status(stack)["last_run"]
        return last if last["status"] != "running" else None

    run = _wait(run_ended, 240, f"sync run #{run_id} to end after the restart")
    assert run["status"] == "success", run
    assert run["downloaded"] + run["no_file"] == RESTART_BACKLOG, run
    _assert_all_archived(stack)


def test_the_volume_keeps_the_archive_and_the_schedule_across_down_and_up(demo: Demo) -> None:
    stack = demo.stack
    stack.garminsync("schedule", "set", "17 3 * * *")
    before = _status(stack)
    # docs/DEPLOYMENT.md's backup of the volume, on the way.
    stack.compose("stop", "worker", "beat", "web", timeout=180)
    backup = stack.compose_bytes(
        "run", "--rm", "--no-deps", "-T", "--entrypoint", "tar", "worker", "czf", "-", "-C", "/data", "."
    )
    stack.compose("start", "worker", "beat", "web")
    with tarfile.open(fileobj=io.BytesIO(backup)) as archive:
        names = archive.getnames()
    assert {"./garmin.db", "./secret.key", "./tokens/garmin_tokens.json"} <= set(names)
    originals = [name for name in names if name.startswith("./fit/activity_") and not name.endswith(".json")]
    assert len(originals) == before["counts"]["downloaded"]
    assert "./manifest.json" in names
    stack.compose("down", timeout=180)
    assert stack.labelled("container") == []
    assert len(stack.labelled("volume")) == 2  # garminsync-data and redis-data stay
    # Health was checked after the first start; here what the volume kept matters.
    stack.compose("up", "-d", "--no-build", timeout=300)
    _wait(lambda: _answers(stack.url("/healthz")), 60, "the dashboard after `up`")
    after = _status(stack)
    assert after["counts"] == before["counts"]
    assert after["last_run"] == before["last_run"]
    _assert_verified(stack, after)
    schedule = stack.garminsync_json("schedule", "show")
    assert (schedule["cron"], schedule["enabled"]) == ("17 3 * * *", True)
    entry = json.loads(
        stack.compose(
            "exec", "-T", "redis", "redis-cli", "hget", "garminsync:redbeat:sync-account-1", "definition"
        ).stdout
    )
    assert (entry["schedule"]["minute"], entry["schedule"]["hour"], entry["enabled"]) == ("17", "3", True)
    _, body = _get(stack.url("/api/dashboard"))
    assert json.loads(body)["schedule"]["cron"] == "17 3 * * *"


def test_down_v_removes_containers_volumes_and_network(demo: Demo) -> None:
    demo.stack.compose("down", "-v", timeout=180)
    assert demo.stack.labelled("container") == []
    assert demo.stack.labelled("volume") == []
    assert demo.stack.labelled("network") == []


# --- the postgres profile ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def pg(pg_started: tuple[Stack, subprocess.Popen[str]]) -> Stack:
    stack, up = pg_started
    out, _ = up.communicate(timeout=600)
    assert up.returncode == 0, f"`docker compose up -d --wait` exited with {up.returncode}:\n{_tail(out)}"
    return stack


def test_the_stack_runs_on_postgresql_after_a_login_through_compose_run(pg: Stack) -> None:
    services = pg.services()
    for name in ("postgres", "redis", "simulator", *APP_SERVICES):
        assert services[name]["Health"] == "healthy", services[name]
    login = pg.compose("run", "--rm", "worker", "login", timeout=180)
    assert "Logged in as" in login.stdout
    summary = pg.garminsync_json("sync", "--wait", timeout=300)
    assert summary["status"] == "success" and summary["failed"] == 0, summary
    status = _assert_all_archived(pg)
    assert status["database"].startswith("postgresql")


def test_no_secret_reaches_the_logs_or_the_status(pg: Stack) -> None:
    secrets_in_env = [
        line.split("=", 1)[1]
        for line in (pg.directory / ".env").read_text().splitlines()
        if line.startswith(("POSTGRES_PASSWORD=", "GARMINSYNC_WEB_PASSWORD=", "GARMIN_PASSWORD="))
    ]
    seen = pg.compose("logs", "--no-color").stdout + pg.garminsync("status").stdout
    for secret in secrets_in_env:
        assert secret not in seen


def test_with_a_password_other_machines_reach_the_dashboard_after_login(pg: Stack) -> None:
    password = next(
        line.split("=", 1)[1]
        for line in (pg.directory / ".env").read_text().splitlines()
        if line.startswith("GARMINSYNC_WEB_PASSWORD=")
    )
    answers = pg.http_from(
        "simulator",
        ("GET", "http://web:8080/api/dashboard", None),
        ("GET", "http://web:8080/api/csrf", None),
        ("POST", "http://web:8080/api/login", {"password": "not-the-password"}),
        ("POST", "http://web:8080/api/login", {"password": password}),
        ("GET", "http://web:8080/api/dashboard", None),
    )
    assert [status for status, _ in answers] == [401, 200, 401, 200, 200], answers
    assert json.loads(answers[-1][1])["counters"]["archived"] == _status(pg)["counts"]["downloaded"]


def test_an_upgrade_migrates_first_and_keeps_the_data(pg: Stack, image: str) -> None:
    """A rebuilt image (here: the same one under a new tag) recreates every app container;
    `migrate` runs again before them, and the PostgreSQL volume keeps everything."""
    before = _status(pg)
    dump = pg.compose("exec", "-T", "postgres", "pg_dump", "-U", "garminsync", "garminsync").stdout
    assert "CREATE TABLE public.activities" in dump and "COPY public.activities" in dump
    old = {name: row["ID"] for name, row in pg.services().items()}
    upgraded = f"{image}-upgraded"
    subprocess.run(["docker", "tag", image, upgraded], check=True)
    try:
        pg.env["GARMINSYNC_IMAGE"] = upgraded
        pg.compose("up", "-d", "--no-build", timeout=300)
        services = pg.services()
        for name in ("migrate", *APP_SERVICES):
            assert services[name]["ID"] != old[name] and services[name]["Image"] == upgraded
        assert services["postgres"]["ID"] == old["postgres"]
        assert (services["migrate"]["State"], services["migrate"]["ExitCode"]) == ("exited", 0)
        after = _status(pg)
        assert after["counts"] == before["counts"]
        _assert_verified(pg, after)
    finally:
        pg.down()
        subprocess.run(["docker", "rmi", "--no-prune", upgraded], capture_output=True, timeout=120)
    assert pg.labelled("container") == pg.labelled("volume") == []
