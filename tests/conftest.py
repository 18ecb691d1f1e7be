"""Fixtures: the bundled simulator, a CLI runner with a clean environment, real servers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from services.simulator.server import SimulatorServer
from tests.servers import RedisServer, create_database, postgres_server

REPO = Path(__file__).resolve().parent.parent
# Real Garmin recordings, device FIT files and the Compose schema live beside the repository
# (../shared/fixtures), not in it: a fresh clone of the repository alone has none.
# GARMINSYNC_TEST_FIXTURES points elsewhere (a missing path shows what a fresh clone runs).
FIXTURES = Path(os.environ.get("GARMINSYNC_TEST_FIXTURES") or REPO.parent / "shared" / "fixtures")
FIXTURES_ABSENT = (
    f"reference fixtures absent at {FIXTURES} (../shared/fixtures beside the repository, "
    "not part of a fresh clone; GARMINSYNC_TEST_FIXTURES points elsewhere)"
)
GARMINSYNC = str(Path(sys.executable).with_name("garminsync"))

# Settings a developer's own environment might carry into the tests.
_OURS = ("GARMIN", "GARMINTOKENS", "GARMINSYNC_", "DATABASE_URL", "REDIS_URL")


def fixture_file(*parts: str) -> Path:
    """A file of the reference fixtures; skips the test, saying why, when they are absent."""
    path = FIXTURES.joinpath(*parts)
    if not path.is_file():
        pytest.skip(FIXTURES_ABSENT if not FIXTURES.is_dir() else f"{path} is missing from the fixtures")
    return path


def clean_environ() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(_OURS)}


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key in list(os.environ):
        if key.startswith(_OURS):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)  # no stray .env is read


@pytest.fixture
def simulator() -> Iterator[SimulatorServer]:
    with SimulatorServer(activities=40, seed=7) as sim:
        yield sim


@dataclass
class Cli:
    """Runs `garminsync` as a user would, against the simulator, in a fresh data dir."""

    env: dict[str, str]
    data_dir: Path
    runner: CliRunner = field(default_factory=CliRunner)

    def __call__(self, *args: str, input: str | None = None, **extra_env: str) -> Any:
        from services.cli.main import app

        env = {**self.env, **extra_env}
        return self.runner.invoke(app, list(args), env=env, input=input, catch_exceptions=False)

    def subprocess(self, *args: str, **extra_env: str) -> subprocess.CompletedProcess[str]:
        """Really exec the console script (exit codes and stderr as a shell sees them)."""
        env = {**clean_environ(), **self.env, **extra_env}
        return subprocess.run([GARMINSYNC, *args], env=env, capture_output=True, text=True, timeout=120)

    @property
    def db_url(self) -> str:
        return self.env.get("DATABASE_URL") or f"sqlite:///{self.data_dir / 'garmin.db'}"


def strict_json(text: str) -> Any:
    """JSON as other tools read it: `Infinity` and `NaN` are not JSON."""

    def refuse(constant: str) -> Any:
        raise ValueError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


TOKEN_KEYS = ("di_token", "di_refresh_token")


def token_values(env: dict[str, str]) -> set[str]:
    """The token values a user must never see anywhere: GARMINTOKENS' and every stored one, decrypted."""
    from sqlalchemy import select

    from shared.config import load_settings
    from shared.db import create_session
    from shared.models import Account
    from shared.tokens import TokenCipher, load_or_create_secret

    found: list[dict[str, Any]] = []
    inline = env.get("GARMINTOKENS", "")
    if inline.lstrip().startswith("{"):
        found.append(json.loads(inline))
    settings = load_settings(environ=env, env_file=os.devnull)
    cipher = TokenCipher(load_or_create_secret(settings.data_dir, settings.secret_key))
    with create_session(settings.database_url) as session:
        for blob in session.scalars(select(Account.token_blob).where(Account.token_blob.is_not(None))):
            found.append(json.loads(cipher.decrypt(blob)))
    values = {str(tokens[key]) for tokens in found for key in TOKEN_KEYS if tokens.get(key)}
    assert values, "no token to look for"
    return values


def assert_no_secret(secrets: set[str], where: str, text: str | bytes) -> None:
    """None of `secrets` (exact values, not names) appears in `text`."""
    haystack = text.decode(errors="replace") if isinstance(text, bytes) else text
    leaked = [secret[:12] + "…" for secret in secrets if secret in haystack]
    assert not leaked, f"{where} holds a secret in clear: {leaked}"


@dataclass(frozen=True)
class FilteredSet:
    """`--since/--until/--type` options and what they select in the simulator's catalogue."""

    options: list[str]
    matching: dict[int, str]  # activity id -> kind (fit, gpx, tcx, manual)

    @property
    def with_file(self) -> set[int]:
        return {i for i, kind in self.matching.items() if kind != "manual"}


def filtered_set(sim: SimulatorServer) -> FilteredSet:
    """The middle half of the catalogue's days (UTC) and its commonest type."""
    catalogue = [a for a in sim.state.activities() if a.storable]
    days = sorted({a.start_utc.date() for a in catalogue})
    since, until = days[len(days) // 4], days[3 * len(days) // 4]
    in_window = [a for a in catalogue if since <= a.start_utc.date() <= until]
    kind = max({a.type_key for a in in_window}, key=lambda t: sum(a.type_key == t for a in in_window))
    matching = {a.activity_id: a.kind for a in in_window if a.type_key == kind}
    options = ["--since", str(since), "--until", str(until), "--type", kind]
    return FilteredSet(options, matching)


def downloads_requested(sim: SimulatorServer) -> list[int]:
    """The activity ids of every download request the simulator answered."""
    return [int(r[2].rsplit("/", 1)[1]) for r in sim.state.stats()["requests"] if r[1] == "download"]


def sim_env(sim: SimulatorServer, data_dir: Path, **overrides: str) -> dict[str, str]:
    env = {
        "GARMINSYNC_DATA_DIR": str(data_dir),
        "GARMINSYNC_GARMIN_API_URL": sim.url,
        "GARMINTOKENS": json.dumps(sim.state.issue_tokens()),
        "GARMINSYNC_RATE_LIMIT": "200/second",
        "GARMINSYNC_RETRY_BASE": "0.05",
        "GARMINSYNC_COOLDOWN": "1",
        "GARMINSYNC_LOGIN_BACKOFF": "30",
        "GARMINSYNC_PAGE_SIZE": "10",  # several pages, so stopping early matters
    }
    env.update(overrides)
    return env


@pytest.fixture
def cli(simulator: SimulatorServer, tmp_path: Path) -> Cli:
    data_dir = tmp_path / "data"
    return Cli(sim_env(simulator, data_dir), data_dir)


# --- real servers ------------------------------------------------------------------


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    yield server
    server.cleanup()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    import redis

    if redis_server.proc is None or redis_server.proc.poll() is not None:
        redis_server.start()
    redis.Redis.from_url(redis_server.url).flushall()
    return redis_server.url


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    with postgres_server() as url:
        yield url


_pg_counter = iter(range(1_000_000))


@pytest.fixture
def pg_url(pg_admin_url: str) -> str:
    """A fresh, empty database on the session's PostgreSQL server."""
    return create_database(pg_admin_url.rsplit("/", 1)[0] + "/postgres", f"gs_test_{next(_pg_counter)}")


# --- the distributed stack ------------------------------------------------------------


# Stack tests run on both stores unless the store is not what they test (they take a minute each).
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The store of a stack test: each test runs on SQLite and on a real PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'data' / 'garmin.db'}"
    return str(request.getfixturevalue("pg_url"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The Docker tests first: with `-n 2` one process spends their minutes on the containers
    while the other runs the rest, instead of the whole run waiting for them at the end."""
    items.sort(key=lambda item: item.get_closest_marker("docker") is None)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Keep each phase's report on the item, so a stack's teardown knows the test failed."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


def _stacks(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    redis_server: RedisServer,
    redis_url: str,
    database_url: str,
) -> Iterator[Any]:
    from tests.stack import Stack, make_stack

    made: list[Stack] = []

    def build(**options: Any) -> Stack:
        made.append(make_stack(tmp_path, redis_server, redis_url, database_url, **options))
        return made[-1]

    yield build
    report = getattr(request.node, "report_call", None)
    for built in made:
        built.procs.stop()
        built.sim.stop()
        if report is not None and report.failed:
            built.print_post_mortem()  # CI keeps no files: the logs' tails go into the report


@pytest.fixture
def make(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    redis_server: RedisServer,
    redis_url: str,
    database_url: str,
) -> Iterator[Any]:
    """Build a stack with the given simulator size, latency and settings; stopped after the test."""
    yield from _stacks(request, tmp_path, redis_server, redis_url, database_url)


@pytest.fixture
def sqlite_make(
    request: pytest.FixtureRequest, tmp_path: Path, redis_server: RedisServer, redis_url: str
) -> Iterator[Any]:
    """The same on SQLite only, for tests where the store is not what is tested (half the time)."""
    yield from _stacks(
        request, tmp_path, redis_server, redis_url, f"sqlite:///{tmp_path / 'data' / 'garmin.db'}"
    )


@pytest.fixture
def stack(make: Any) -> Any:
    return make()
