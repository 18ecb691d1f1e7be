"""An unchanged sync of an account with 10,000 activities: requests and time.

Setup: the simulator (10,000 activities, 100 ms latency), a real
`redis-server`, tokens imported with `garminsync login --tokens`. The first
sync's listing is the product's own (`shared.jobs.sync_account` without a
fan-out: every page of the default size, 100, so `history_complete` is set
the way a real first sync sets it); the archived state is then written
directly into the database (every activity `downloaded`, with a path, size
and hash) instead of downloading 10,000 files, and that run is closed.

Then the second sync is measured, each a few times, with the simulator's
counters reset before each:

- `embedded`: `garminsync sync --json` without `REDIS_URL` (in-process)
- `redis`: `garminsync sync --wait --json` with one worker (`--concurrency 2`)
  running the task; `--wait` polls every 0.5 s, so its wall time is
  rounded up to that, and the run's own duration (`sync_runs`, from the
  CLI opening it to the worker closing it) is shown too
- `in-process`: `shared.jobs.sync_account` called directly (no process start)

    python -m bench unchanged [--activities 10000] [--repeat 3] [--backends sqlite,postgres]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import (
    BenchError,
    exit_on_sigterm,
    garminsync,
    import_tokens,
    last_json,
    load1,
    machine,
    median,
    open_default_run,
    sim_env,
    table,
    temp_dir,
    verdict,
    write_result,
)

NAME = "unchanged"
GOAL_REQUESTS = 1


def prepare_archive(env: dict[str, str]) -> dict[str, Any]:
    """The first sync's listing, then the archived state written straight into the store."""
    from sqlalchemy import String, cast, func, select, update

    from shared import jobs
    from shared.config import load_settings
    from shared.db import create_session
    from shared.models import Activity, SyncRun
    from shared.runs import finish
    from shared.runtime import Runtime

    settings = load_settings(env)
    runtime = Runtime.build(settings)
    began = time.perf_counter()
    account_id, run_id = open_default_run(runtime)
    summary = jobs.sync_account(runtime, account_id, run_id)  # no fan-out: claims, queues nothing
    listed = time.perf_counter() - began
    now = datetime.now(UTC)
    with create_session(settings.database_url) as session:
        session.execute(
            update(Activity).values(
                state="downloaded",
                file_format="fit",
                file_path="fit/activity_" + cast(Activity.id, String) + ".fit",
                file_size=2048,
                sha256="0" * 64,
                downloaded_at=now,
                attempts=1,
            )
        )
        run = session.get(SyncRun, run_id)
        assert run is not None
        run.downloaded = run.queued
        finish(session, run, "success", "bench: archived state written directly")
        states = dict(
            session.execute(select(Activity.state, func.count()).group_by(Activity.state)).tuples().all()
        )
    return {
        "first_listing_s": round(listed, 2),
        "first_list_requests": summary.list_requests,
        "found": summary.found,
        "states": {str(k): int(v) for k, v in states.items()},
        "account_id": account_id,
        "runtime": runtime,
    }


def run_duration(db_url: str, run_id: int) -> float | None:
    from shared.db import create_session
    from shared.models import SyncRun

    with create_session(db_url) as session:
        run = session.get(SyncRun, run_id)
        if run is None or run.finished_at is None:
            return None
        start = run.started_at if run.started_at.tzinfo else run.started_at.replace(tzinfo=UTC)
        end = run.finished_at if run.finished_at.tzinfo else run.finished_at.replace(tzinfo=UTC)
        return (end - start).total_seconds()


def measure_backend(
    backend: str, db_url: str, redis_url: str, sim: Any, root: Path, repeat: int
) -> dict[str, Any]:
    import redis as redis_lib

    from shared import jobs
    from shared.config import normalize_database_url
    from tests.stack import Processes

    redis_lib.Redis.from_url(redis_url).flushall()
    data = root / "data"
    env = sim_env(
        sim.url,
        json.dumps(sim.state.issue_tokens()),
        data,
        REDIS_URL=redis_url,
        DATABASE_URL=db_url,
        GARMINSYNC_RATE_LIMIT="100/second",
    )
    embedded_env = {k: v for k, v in env.items() if k != "REDIS_URL"}
    import_tokens(env)
    prep = prepare_archive(env)
    runtime = prep.pop("runtime")
    url = normalize_database_url(db_url)
    samples: dict[str, list[dict[str, Any]]] = {"embedded": [], "redis": [], "in-process": []}

    for _ in range(repeat):
        sim.state.reset_stats()
        began = time.perf_counter()
        out = last_json(garminsync(embedded_env, "sync", "--json", timeout=120).stdout)
        wall = time.perf_counter() - began
        samples["embedded"].append(
            {
                "wall_s": wall,
                "requests": sim.state.stats(windows=())["total"],
                "list_requests": out["list_requests"],
                "new": out["new"],
                "run_s": run_duration(url, int(out["run_id"])),
            }
        )

    with contextlib.ExitStack() as stack:
        procs = Processes(env, root / "logs")
        stack.callback(procs.stop)
        procs.worker("w1", concurrency=2)
        for _ in range(repeat):
            sim.state.reset_stats()
            began = time.perf_counter()
            out = last_json(garminsync(env, "sync", "--wait", "--json", timeout=120).stdout)
            wall = time.perf_counter() - began
            samples["redis"].append(
                {
                    "wall_s": wall,
                    "requests": sim.state.stats(windows=())["total"],
                    "list_requests": out["list_requests"],
                    "new": out["new"],
                    "run_s": run_duration(url, int(out["run_id"])),
                }
            )

    for _ in range(repeat):
        sim.state.reset_stats()
        account_id, run_id = open_default_run(runtime)
        began = time.perf_counter()
        summary = jobs.sync_account(runtime, account_id, run_id)
        wall = time.perf_counter() - began
        samples["in-process"].append(
            {
                "wall_s": wall,
                "requests": sim.state.stats(windows=())["total"],
                "list_requests": summary.list_requests,
                "new": summary.new,
                "run_s": run_duration(url, run_id),
            }
        )

    modes = {}
    for mode, rows in samples.items():
        if not rows:
            raise BenchError(f"no samples for {mode}")
        runs = [r["run_s"] for r in rows if r["run_s"] is not None]
        modes[mode] = {
            "requests_max": max(r["requests"] for r in rows),
            "list_requests_max": max(r["list_requests"] for r in rows),
            "new_max": max(r["new"] for r in rows),
            "median_wall_s": median([r["wall_s"] for r in rows]),
            "median_run_s": median(runs) if runs else None,
            "samples": rows,
        }
    return {"backend": backend, "prepare": prep, "modes": modes}


def report(results: list[dict[str, Any]], activities: int) -> str:
    rows = []
    for res in results:
        for mode, m in res["modes"].items():
            ok = m["requests_max"] == GOAL_REQUESTS and m["new_max"] == 0
            rows.append(
                [
                    res["backend"],
                    mode,
                    m["requests_max"],
                    m["median_wall_s"],
                    m["median_run_s"],
                    verdict(ok),
                ]
            )
    return table(
        ["database", "mode", "requests", "wall s (median)", "run s (sync_runs)", "goal (1 request)"],
        rows,
        title=f"Unchanged sync of {activities:,} activities (simulator latency 100 ms)",
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench unchanged", description=__doc__.split("\n")[0])
    parser.add_argument("--activities", type=int, default=10_000)
    parser.add_argument("--latency-ms", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--quick", action="store_true", help="1,000 activities, SQLite, one run")
    args = parser.parse_args(argv)
    exit_on_sigterm()
    backends = [b.strip() for b in args.backends.split(",")]
    if args.quick:
        args.activities, args.repeat, backends = 1000, 1, ["sqlite"]

    from services.simulator.server import SimulatorServer
    from shared.db import dispose_engines
    from tests.servers import RedisServer, create_database, postgres_available, postgres_server

    info = machine()
    results = []
    with contextlib.ExitStack() as stack:
        redis_server = RedisServer()
        stack.callback(redis_server.cleanup)
        redis_server.start()
        pg_admin: str | None = None
        if "postgres" in backends:
            if postgres_available():
                pg_admin = stack.enter_context(postgres_server())
            else:
                print("PostgreSQL is not installed: skipping it", file=sys.stderr)
                backends.remove("postgres")
        stack.callback(dispose_engines)
        for backend in backends:
            with (
                SimulatorServer(activities=args.activities, seed=13, latency_ms=args.latency_ms) as sim,
                temp_dir(NAME) as root,
            ):
                if backend == "postgres":
                    assert pg_admin is not None
                    db_url = create_database(pg_admin, "unchanged")
                else:
                    db_url = f"sqlite:///{root / 'data' / 'garmin.db'}"
                print(f"- {backend}: first listing of {args.activities:,} activities …", flush=True)
                result = measure_backend(backend, db_url, redis_server.url, sim, root, args.repeat)
                results.append(result)
                for mode, m in result["modes"].items():
                    print(f"  {mode}: {m['requests_max']} request(s), {m['median_wall_s']:.2f} s", flush=True)
    print()
    print(report(results, args.activities))
    path = write_result(
        NAME,
        {
            "machine": info,
            "activities": args.activities,
            "simulator_latency_ms": args.latency_ms,
            "goal_requests": GOAL_REQUESTS,
            "results": results,
            "load1_end": load1(),
        },
    )
    print(f"\nwrote {path}")
    ok = all(
        m["requests_max"] == GOAL_REQUESTS and m["new_max"] == 0 for r in results for m in r["modes"].values()
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
