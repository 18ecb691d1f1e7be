"""A sync of 10,000 new activities into the backlog, and the dispatcher publishing them.

The simulator (10,000 activities, no latency) runs in this process; the sync
runs in a child process, the way a worker's pool process runs the
`sync_account` task: `shared.jobs.sync_account(...)` lists the activities and
claims them into the backlog (the store) — that is the whole hand-off now.
Then the child runs the dispatcher (`shared.pacing.Dispatcher`, publishing
through `services.worker.dispatcher.publish_downloads`) under a budget so
large it never binds, tick after tick until the backlog is published, with no
worker consuming: this is the dispatcher's own capacity, which a real budget
(30/minute) never comes near. The child has the modules a worker has loaded
(Celery app, tasks), its engine connected and its Garmin client built; it
resets its peak-RSS counter before the sync.

Phases of the sync, from wrappers the child puts around the product's
functions (the product's code is not changed):

- fetch: `GarminGateway.list_activities` (HTTP, rate-limit slot, JSON decode)
- store: `shared.listing._store_page` (upserting 1,000 summaries per page)
- claim: `claim_missing` (the `UPDATE … RETURNING` in chunks of 500)
- other: the account read, the run's counters, the commits

Checked afterwards: `LLEN downloads`, `task_runs` rows and published
activities all equal 10,000.

    python -m bench fanout [--activities 10000] [--page-size 1000] [--repeat 3]
                           [--backends sqlite,postgres] [--profile]
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import functools
import json
import os
import resource
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import (
    PYTHON,
    REPO,
    RESULTS,
    BenchError,
    exit_on_sigterm,
    import_tokens,
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

NAME = "fanout"
GOAL_S = 5.0
CHILD_TIMEOUT_S = 300


# --- the child: one sync, instrumented, then the dispatcher ------------------------


def _proc_status_kb(field: str) -> int | None:
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return None


def _reset_peak_rss() -> bool:
    """Linux: writing 5 to clear_refs resets VmHWM (the peak RSS) to the current RSS."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def child() -> dict[str, Any]:
    import logging

    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("garminconnect").setLevel(logging.CRITICAL + 1)

    import shared.garmin
    import shared.jobs
    import shared.listing
    from services.worker.celery_app import app  # a worker has its app loaded
    from services.worker.dispatcher import publish_downloads
    from shared.config import load_settings
    from shared.db import create_session
    from shared.models import Account
    from shared.pacing import Dispatcher
    from shared.ratelimit import RateLimiter
    from shared.ratelimit_spec import parse_rate
    from shared.runtime import Runtime, set_runtime

    spans: dict[str, list[tuple[float, float]]] = defaultdict(list)

    def timed(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            began = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spans[name].append((began, time.perf_counter()))

        return wrapper

    settings = load_settings()
    runtime = Runtime.build(settings)
    set_runtime(runtime)
    account_id, run_id = open_default_run(runtime)
    with create_session(settings.database_url) as session:
        account = session.get(Account, account_id)
        assert account is not None
        session.expunge(account)
    runtime.gateway(account, max_wait=settings.max_wait_s).connect()  # as after a worker's first task

    gateway_cls: Any = shared.garmin.GarminGateway
    gateway_cls.list_activities = timed("fetch", gateway_cls.list_activities)
    listing_mod: Any = shared.listing
    listing_mod._store_page = timed("store", listing_mod._store_page)
    jobs_mod: Any = shared.jobs
    jobs_mod.refresh_listing = timed("listing", jobs_mod.refresh_listing)
    jobs_mod.claim_missing = timed("claim", jobs_mod.claim_missing)

    rss_before_kb = _proc_status_kb("VmRSS")
    hwm_reset = _reset_peak_rss()
    profile_to = os.environ.get("BENCH_PROFILE")
    profiler = cProfile.Profile() if profile_to else None
    began = time.perf_counter()
    if profiler is not None:
        profiler.enable()
    summary = shared.jobs.sync_account(runtime, account_id, run_id, max_wait=settings.max_wait_s)
    if profiler is not None:
        profiler.disable()
    synced = time.perf_counter()
    if profiler is not None and profile_to:
        profiler.dump_stats(profile_to)
    peak_kb = _proc_status_kb("VmHWM") if hwm_reset else None

    # The dispatcher's capacity: a budget that never binds, ticks back to back.
    unbound = RateLimiter(runtime.coordinator, parse_rate("1000000/second"), margin_ms=0)
    dispatcher = Dispatcher(
        settings.database_url,
        unbound,
        runtime.coordinator,
        lambda ids: publish_downloads(app, ids),
        worker="bench@fanout",
        downloading_lease_s=960,
        max_wait_s=settings.max_wait_s,
    )
    ticks: list[float] = []
    published = 0
    while True:
        tick_began = time.perf_counter()
        count = dispatcher.tick()
        ticks.append(time.perf_counter() - tick_began)
        published += count
        if count == 0:
            break
    dispatched = time.perf_counter()
    maxrss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    def total(name: str) -> float:
        return sum(b - a for a, b in spans[name])

    phases = {
        "fetch": total("fetch"),
        "store": total("store"),
        "claim": total("claim"),
    }
    phases["other"] = (synced - began) - sum(phases.values())
    return {
        "total_s": synced - began,
        "after_fetch_s": (synced - began) - total("fetch"),
        "phases_s": phases,
        "list_requests": summary.list_requests,
        "found": summary.found,
        "new": summary.new,
        "claimed": len(summary.queued),
        "pages": len(spans["fetch"]),
        "publish_s": dispatched - synced,
        "published": published,
        "ticks": len(ticks),
        "tick_s_max": max(ticks),
        "published_per_s": published / (dispatched - synced) if dispatched > synced else None,
        "rss_before_mb": (rss_before_kb or 0) / 1024,
        "peak_rss_mb": (peak_kb if peak_kb is not None else maxrss_kb) / 1024,
        "peak_is_since_reset": hwm_reset,
        "maxrss_process_mb": maxrss_kb / 1024,
    }


# --- the parent: servers, fresh databases, checks ---------------------------------------


def one_run(
    backend: str,
    db_url: str,
    redis_url: str,
    sim: Any,
    tokens: str,
    root: Path,
    page_size: int,
    profile: Path | None = None,
) -> dict[str, Any]:
    import redis as redis_lib
    from sqlalchemy import func, select

    from shared.config import normalize_database_url
    from shared.db import create_session
    from shared.models import Activity, TaskRun

    client = redis_lib.Redis.from_url(redis_url)
    client.flushall()
    env = sim_env(
        sim.url,
        tokens,
        root / "data",
        REDIS_URL=redis_url,
        DATABASE_URL=db_url,
        GARMINSYNC_PAGE_SIZE=str(page_size),
    )
    if profile is not None:
        env["BENCH_PROFILE"] = str(profile)
    import_tokens(env)
    sim.state.reset_stats()
    load_before = load1()
    began = time.perf_counter()
    try:
        proc = subprocess.run(
            [PYTHON, "-m", "bench.bench_fanout", "--child"],
            env=env,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=CHILD_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        raise BenchError(f"the fan-out child took over {CHILD_TIMEOUT_S}s") from None
    child_wall = time.perf_counter() - began
    if proc.returncode != 0:
        raise BenchError(f"fan-out child exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    url = normalize_database_url(db_url)
    with create_session(url) as session:
        task_rows = session.scalar(select(func.count()).select_from(TaskRun)) or 0
        published = (
            session.scalar(
                select(func.count())
                .select_from(Activity)
                .where(Activity.state == "queued", Activity.dispatched_at.is_not(None))
            )
            or 0
        )
    stats = sim.state.stats(windows=())
    result.update(
        backend=backend,
        llen_downloads=int(client.llen("downloads")),  # type: ignore[arg-type]
        task_runs_rows=int(task_rows),
        activities_published=int(published),
        simulator_requests=stats["total"],
        simulator_by_kind={k: v for k, v in stats["by_kind"].items() if v},
        child_process_wall_s=child_wall,
        load1_before=load_before,
    )
    expected = result["claimed"]
    result["complete"] = (
        expected == result["found"]
        and result["llen_downloads"] == expected
        and result["task_runs_rows"] == expected
        and result["activities_published"] == expected
    )
    return result


def print_profile(path: Path, top: int = 25) -> None:
    import pstats

    stats = pstats.Stats(str(path))
    stats.sort_stats("cumulative").print_stats(top)


def summarize(backend: str, runs: list[dict[str, Any]]) -> dict[str, Any]:
    med_total = median([r["total_s"] for r in runs])
    phases = {k: median([r["phases_s"][k] for r in runs]) for k in runs[0]["phases_s"]}
    complete = all(r["complete"] for r in runs)
    return {
        "backend": backend,
        "runs": len(runs),
        "median_total_s": med_total,
        "best_total_s": min(r["total_s"] for r in runs),
        "median_after_fetch_s": median([r["after_fetch_s"] for r in runs]),
        "median_phases_s": phases,
        "median_publish_s": median([r["publish_s"] for r in runs]),
        "ticks": runs[0]["ticks"],
        "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
        "rss_before_mb": median([r["rss_before_mb"] for r in runs]),
        "complete": complete,
        "list_requests": runs[0]["list_requests"],
        "simulator_requests": runs[0]["simulator_requests"],
        "load1_before": [r["load1_before"] for r in runs],
        "goal_met": med_total < GOAL_S and complete,
    }


def rows(summaries: list[dict[str, Any]]) -> tuple[list[str], list[list[Any]]]:
    """The table's headers and rows: the console report and bench.report's Markdown share them."""
    phase_names = ["fetch", "store", "claim", "other"]
    rows = []
    for s in summaries:
        p = s["median_phases_s"]
        rows.append(
            [
                s["backend"],
                s["runs"],
                s["median_total_s"],
                s["median_after_fetch_s"],
                *(p[k] for k in phase_names),
                f"{s['rss_before_mb']:.0f} -> {s['peak_rss_mb']:.0f}",
                s["median_publish_s"],
                s["ticks"],
                s["complete"],
                verdict(s["goal_met"]),
            ]
        )
    return (
        [
            "database",
            "runs",
            "sync s",
            "after fetch",
            "fetch",
            "store",
            "claim",
            "other",
            "RSS MB (peak)",
            "publish all s",
            "ticks",
            "all published",
            "goal",
        ],
        rows,
    )


def report(summaries: list[dict[str, Any]], activities: int, page_size: int) -> str:
    headers, body = rows(summaries)
    return table(
        headers,
        body,
        title=f"A sync of {activities:,} new activities into the backlog, page size {page_size} "
        f"(median of runs, seconds; goal: the sync < {GOAL_S:.0f} s), then the dispatcher publishing "
        "them under a budget that never binds",
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench fanout", description=__doc__.split("\n")[0])
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--activities", type=int, default=10_000)
    parser.add_argument("--page-size", type=int, default=1000)
    parser.add_argument("--latency-ms", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=3, help="runs per database")
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--quick", action="store_true", help="2,000 activities, one run, SQLite")
    parser.add_argument(
        "--profile", action="store_true", help="cProfile the sync; stats to bench/results/fanout_*.prof"
    )
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child()))
        return 0
    exit_on_sigterm()
    backends = [b.strip() for b in args.backends.split(",")]
    if args.quick:
        args.activities, args.repeat, backends = 2000, 1, ["sqlite"]

    from services.simulator.server import SimulatorServer
    from shared.db import dispose_engines
    from tests.servers import RedisServer, create_database, postgres_available, postgres_server

    info = machine()
    summaries: list[dict[str, Any]] = []
    all_runs: list[dict[str, Any]] = []
    with contextlib.ExitStack() as stack:
        redis_server = RedisServer()
        stack.callback(redis_server.cleanup)
        redis_server.start()
        # hostile_names=0: the fault catalogue's odd entries (one id beyond 64 bits, skipped by
        # design) would make "every activity claimed" a count of 10,000 minus one.
        sim = SimulatorServer(
            activities=args.activities, seed=9, latency_ms=args.latency_ms, hostile_names=0
        ).start()
        stack.callback(sim.stop)
        tokens = json.dumps(sim.state.issue_tokens())
        pg_admin: str | None = None
        if "postgres" in backends:
            if not postgres_available():
                print("PostgreSQL is not installed: skipping it", file=sys.stderr)
                backends.remove("postgres")
            else:
                pg_admin = stack.enter_context(postgres_server())
        stack.callback(dispose_engines)
        databases = 0
        for backend in backends:
            runs = []
            for i in range(args.repeat):
                with temp_dir(NAME) as root:
                    if backend == "postgres":
                        assert pg_admin is not None
                        databases += 1
                        db_url = create_database(pg_admin, f"fanout_{databases}")
                    else:
                        db_url = f"sqlite:///{root / 'data' / 'garmin.db'}"
                    profile = RESULTS / f"{NAME}_{backend}_{i + 1}.prof" if args.profile else None
                    run = one_run(
                        backend, db_url, redis_server.url, sim, tokens, root, args.page_size, profile
                    )
                if profile is not None:
                    print_profile(profile)
                runs.append(run)
                all_runs.append(run)
                print(
                    f"- {backend}, run {i + 1}: sync {run['total_s']:.2f} s, "
                    f"peak RSS {run['peak_rss_mb']:.0f} MB; published {run['published']} in "
                    f"{run['publish_s']:.2f} s ({run['ticks']} ticks); LLEN downloads "
                    f"{run['llen_downloads']}, task_runs {run['task_runs_rows']}, load {run['load1_before']}",
                    flush=True,
                )
            summaries.append(summarize(backend, runs))
    print()
    print(report(summaries, args.activities, args.page_size))
    path = write_result(
        NAME,
        {
            "machine": info,
            "activities": args.activities,
            "page_size": args.page_size,
            "simulator_latency_ms": args.latency_ms,
            "goal_s": GOAL_S,
            "summaries": summaries,
            "runs": all_runs,
            "load1_end": load1(),
        },
    )
    print(f"\nwrote {path}")
    return 0 if all(s["complete"] for s in summaries) else 1


if __name__ == "__main__":
    sys.exit(main())
