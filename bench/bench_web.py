"""Dashboard latency at 100,000 activities, on SQLite and on PostgreSQL.

Seeds one account with N activities (plus sync runs and task history), builds
the dashboard with `create_app`, and times sequential requests to the
activities list (API and HTML, first page, random pages, filters) and to the
dashboard's data endpoints. Prints p50 / p95 / max per endpoint; the goal is
p95 under 50 ms for the activities list and the dashboard data.

    .venv/bin/python bench/bench_web.py                   # SQLite and PostgreSQL
    .venv/bin/python bench/bench_web.py --backend sqlite --rows 20000 --requests 200
    .venv/bin/python bench/bench_web.py --http            # over real HTTP (werkzeug, threaded)

Counts behind the pager are cached 10 s and the monthly chart while the
counts stand still, as in production; "cold" is the first request of each
endpoint, which pays for them.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402

from services.web.app import create_app  # noqa: E402
from shared.config import load_settings  # noqa: E402
from shared.db import create_session, ensure_schema, get_engine  # noqa: E402
from tests.web_factories import (  # noqa: E402
    TYPES,
    make_account,
    seed_activities,
    seed_runs,
    seed_schedule,
    seed_tasks,
)

GOAL_MS = 50.0


@dataclass
class Result:
    backend: str
    name: str
    samples: list[float]
    cold_ms: float

    def pct(self, p: float) -> float:
        ordered = sorted(self.samples)
        index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))
        return ordered[index]

    def as_dict(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "endpoint": self.name,
            "requests": len(self.samples),
            "p50_ms": round(self.pct(50), 2),
            "p95_ms": round(self.pct(95), 2),
            "max_ms": round(max(self.samples), 2),
            "mean_ms": round(statistics.fmean(self.samples), 2),
            "cold_ms": round(self.cold_ms, 2),
        }


def seed(url: str, rows: int) -> None:
    ensure_schema(url)
    started = time.perf_counter()
    with create_session(url) as session:
        account = make_account(session)
        seed_activities(session, account.id, rows)
        seed_runs(session, account.id, 1000)
        seed_tasks(session, account.id, 10_000)
        seed_schedule(session, account.id)
    engine = get_engine(url)
    if engine.dialect.name == "postgresql":
        # What autovacuum does soon after a bulk load (statistics, visibility map).
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    print(f"  seeded {rows:,} activities in {time.perf_counter() - started:.1f}s", file=sys.stderr)


def scenarios(rows: int, per_page: int = 50) -> dict[str, Callable[[random.Random], str]]:
    pages = max(1, rows // per_page)
    failed_pages = max(1, rows * 5 // 100 // per_page)
    return {
        "api activities, page 1": lambda r: "/api/activities",
        "api activities, random page": lambda r: f"/api/activities?page={r.randint(1, pages)}",
        "api activities, last page": lambda r: f"/api/activities?page={pages}",
        "api activities, state=failed, random page": lambda r: (
            f"/api/activities?state=failed&page={r.randint(1, failed_pages)}"
        ),
        "api activities, type + date range": lambda r: (
            f"/api/activities?type={r.choice(TYPES)}&since=2020-01-01&until=2025-12-31"
        ),
        "api activities, name search": lambda r: f"/api/activities?q={r.choice(['tempo', 'hill', 'swim'])}",
        "api activities, sort by distance": lambda r: "/api/activities?sort=distance",
        "html activities, random page": lambda r: f"/activities?page={r.randint(1, pages)}",
        "api dashboard": lambda r: "/api/dashboard",
        "api dashboard chart": lambda r: "/api/dashboard/chart",
        "html dashboard": lambda r: "/",
        "api tasks, page 1": lambda r: "/api/tasks",
    }


@contextmanager
def http_client(app: Any) -> Iterator[Callable[[str], int]]:
    import requests
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    session = requests.Session()
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        yield lambda path: session.get(base + path, timeout=30).status_code
    finally:
        server.shutdown()


@contextmanager
def test_client(app: Any) -> Iterator[Callable[[str], int]]:
    client = app.test_client()
    yield lambda path: client.get(path).status_code


def run_backend(
    backend: str, url: str, data_dir: Path, rows: int, requests_each: int, http: bool
) -> list[Result]:
    seed(url, rows)
    settings = load_settings(
        environ={"GARMINSYNC_DATA_DIR": str(data_dir), "DATABASE_URL": url}, env_file=data_dir / "none.env"
    )
    app = create_app(settings)
    rng = random.Random(42)
    results = []
    make_client = http_client if http else test_client
    with make_client(app) as get:
        for name, path_for in scenarios(rows).items():
            started = time.perf_counter()
            status = get(path_for(rng))
            cold = (time.perf_counter() - started) * 1000
            assert status == 200, (name, status)
            samples = []
            for _ in range(requests_each):
                path = path_for(rng)
                started = time.perf_counter()
                status = get(path)
                samples.append((time.perf_counter() - started) * 1000)
                assert status == 200, (name, path, status)
            results.append(Result(backend, name, samples, cold))
            print(f"  {name}: p95 {results[-1].pct(95):.1f} ms", file=sys.stderr)
    return results


def table(results: list[Result]) -> str:
    head = f"| backend | endpoint | p50 ms | p95 ms | max ms | cold ms | p95 < {GOAL_MS:.0f} ms |"
    lines = [head, "|---|---|---:|---:|---:|---:|:---:|"]
    for result in results:
        row = result.as_dict()
        ok = "yes" if row["p95_ms"] < GOAL_MS else "no"
        lines.append(
            f"| {row['backend']} | {row['endpoint']} | {row['p50_ms']:.1f} | {row['p95_ms']:.1f} | "
            f"{row['max_ms']:.1f} | {row['cold_ms']:.1f} | {ok} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=300, help="timed requests per endpoint")
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--http", action="store_true", help="real HTTP instead of Flask's test client")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)

    import logging

    logging.getLogger("garminsync.web").setLevel(logging.ERROR)
    results: list[Result] = []
    if args.backend in ("sqlite", "both"):
        with tempfile.TemporaryDirectory(prefix="gs-bench-web-") as tmp:
            print("SQLite:", file=sys.stderr)
            url = f"sqlite:///{tmp}/garmin.db"
            results += run_backend("sqlite", url, Path(tmp), args.rows, args.requests, args.http)
    if args.backend in ("postgres", "both"):
        from shared.config import normalize_database_url
        from tests.servers import postgres_available, postgres_server

        if not postgres_available():
            print("PostgreSQL is not installed: skipped", file=sys.stderr)
        else:
            with postgres_server() as pg_url, tempfile.TemporaryDirectory(prefix="gs-bench-web-") as tmp:
                print("PostgreSQL:", file=sys.stderr)
                url = normalize_database_url(pg_url)
                results += run_backend("postgres", url, Path(tmp), args.rows, args.requests, args.http)
    mode = "real HTTP (werkzeug, one client)" if args.http else "Flask test client"
    print(f"\n{args.rows:,} activities, {args.requests} sequential requests per endpoint, {mode}\n")
    print(table(results))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps([r.as_dict() for r in results], indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
