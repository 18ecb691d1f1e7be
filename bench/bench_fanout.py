"""Fan-out of 10,000 new activities: time and peak memory, SQLite and PostgreSQL.

The simulator (10,000 activities, no latency) runs in this process; the sync
runs in a child process, the way a worker's pool process runs the
`sync_account` task: `shared.jobs.sync_account(...)`, then the hand-off (`enqueue_downloads`)
with no worker consuming, so every task stays in Redis. The child has the
modules a worker has loaded (Celery app, tasks), its engine connected and its
Garmin client built; then it resets its peak-RSS counter and runs the sync.

Phases, from wrappers the child puts around the product's functions (the
product's code is not changed):

- fetch: `GarminGateway.list_activities` (HTTP, rate-limit slot, JSON decode)
- store: `shared.listing._store_page` (upserting 1,000 summaries per page)
- claim: `claim_missing` (the `UPDATE … RETURNING` in chunks of 500)
- task_runs: `record_queued_many` (one multi-row INSERT)
- publish: the rest of `enqueue_downloads` (10,000 `apply_async`)
- other: the account read, the run's counters, the commits

Checked afterwards: `LLEN downloads`, `task_runs` rows and `queued` activities
all equal 10,000. Experiments (`--variants`) are described at VARIANTS.

    python -m bench fanout [--activities 10000] [--page-size 1000] [--repeat 3]
                           [--backends sqlite,postgres] [--variants product,kombu-batch,pg-copy] [--profile]
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


# --- the child: one sync, instrumented ----------------------------------------------

# `product` is the code as it is. The others are experiments for the lead, measured
# with the same harness, that change nothing in services/ or shared/:
#   kombu-batch: the same fan-out published through kombu's own `Producer.batch()`
#                (kombu >= 5.6; its Redis channel buffers the LPUSHes in a
#                non-transactional pipeline, flushed every 1,000 commands) instead
#                of patching the channel's `conn_or_acquire`
#   pg-copy:     on PostgreSQL, new summaries go in with COPY into a temporary table
#                and one INSERT ... SELECT ... ON CONFLICT DO NOTHING per page, instead
#                of an executemany of 1,000 single-row INSERTs (SQLite: unchanged)
VARIANTS = ("product", "kombu-batch", "pg-copy")


def insert_new_copy(session: Any, model: Any, rows: list[dict[str, Any]], key: str = "id") -> None:
    """A prototype of `shared.db.insert_new` for PostgreSQL: COPY, then one INSERT ... SELECT."""
    import enum

    from shared.db import insert_new

    if not rows or session.get_bind().dialect.name != "postgresql":
        insert_new(session, model, rows, key)
        return
    table = model.__table__.name
    columns = list(rows[0])
    names = ", ".join(columns)
    cursor = session.connection().connection.driver_connection.cursor()
    with cursor:
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS incoming_{table} (LIKE {table} INCLUDING DEFAULTS) "
            "ON COMMIT DELETE ROWS"
        )
        with cursor.copy(f"COPY incoming_{table} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([v.value if isinstance(v, enum.Enum) else v for v in map(row.get, columns)])
        cursor.execute(
            f"INSERT INTO {table} ({names}) SELECT {names} FROM incoming_{table} "  # noqa: S608
            f"ON CONFLICT ({key}) DO NOTHING"
        )


def kombu_batch_enqueue(activity_ids: list[int], run_id: int | None = None) -> None:
    """`enqueue_downloads` as it is, but publishing inside `Producer.batch()`."""
    from uuid import uuid4

    from services.worker.celery_app import DOWNLOAD_QUEUE
    from services.worker.dispatch import _require_broker
    from services.worker.signals import record_queued_many
    from services.worker.tasks import download_activity

    _require_broker()
    items = [(uuid4().hex, (activity_id, run_id)) for activity_id in activity_ids]
    record_queued_many(download_activity.name, DOWNLOAD_QUEUE, items)
    with download_activity.app.producer_or_acquire() as producer, producer.batch(max_size=1000):
        for task_id, args in items:
            download_activity.apply_async(
                args, task_id=task_id, producer=producer, retry=False, argsrepr=repr(args), kwargsrepr="{}"
            )


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

    import services.worker.celery_app  # noqa: F401  (a worker has its app loaded)
    import services.worker.signals as signals
    import shared.garmin
    import shared.jobs
    import shared.listing
    from services.worker.dispatch import enqueue_downloads
    from shared.config import load_settings
    from shared.db import create_session
    from shared.models import Account
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
    jobs_mod.claim_missing = timed("claim_missing", jobs_mod.claim_missing)
    jobs_mod.record_listing = timed("record_listing", jobs_mod.record_listing)
    signals_mod: Any = signals
    signals_mod.record_queued_many = timed("task_runs", signals_mod.record_queued_many)
    variant = os.environ.get("BENCH_VARIANT", "product")
    hand_off = (
        kombu_batch_enqueue if variant == "kombu-batch" else lambda ids, _run_id: enqueue_downloads(ids)
    )
    fan_out = timed("fan_out", hand_off)
    if variant == "pg-copy":
        listing_mod.insert_new = insert_new_copy

    rss_before_kb = _proc_status_kb("VmRSS")
    hwm_reset = _reset_peak_rss()
    profile_to = os.environ.get("BENCH_PROFILE")
    profiler = cProfile.Profile() if profile_to else None
    began = time.perf_counter()
    if profiler is not None:
        profiler.enable()
    summary = shared.jobs.sync_account(runtime, account_id, run_id, max_wait=settings.max_wait_s)
    if summary.queued:
        fan_out(summary.queued, run_id)
    if profiler is not None:
        profiler.disable()
    ended = time.perf_counter()
    if profiler is not None and profile_to:
        profiler.dump_stats(profile_to)
    peak_kb = _proc_status_kb("VmHWM") if hwm_reset else None
    maxrss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    def total(name: str) -> float:
        return sum(b - a for a, b in spans[name])

    (listing_start, listing_end) = spans["listing"][0]
    (fan_start, fan_end) = spans["fan_out"][0]
    phases = {
        "setup": listing_start - began,
        "fetch": total("fetch"),
        "store": total("store"),
        "listing_other": (listing_end - listing_start) - total("fetch") - total("store"),
        "claim": total("claim_missing"),
        "run_record_commit": (fan_start - listing_end) - total("claim_missing"),
        "task_runs": total("task_runs"),
        "publish": (fan_end - fan_start) - total("task_runs"),
        "after": ended - fan_end,
    }
    phases["other"] = (
        phases["setup"] + phases["listing_other"] + phases["run_record_commit"] + phases["after"]
    )
    return {
        "total_s": ended - began,
        "after_fetch_s": (ended - began) - total("fetch"),
        "phases_s": phases,
        "list_requests": summary.list_requests,
        "found": summary.found,
        "new": summary.new,
        "queued": len(summary.queued),
        "pages": len(spans["fetch"]),
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
    variant: str = "product",
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
    env["BENCH_VARIANT"] = variant
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
        queued = (
            session.scalar(select(func.count()).select_from(Activity).where(Activity.state == "queued")) or 0
        )
    stats = sim.state.stats(windows=())
    result.update(
        backend=backend,
        variant=variant,
        llen_downloads=int(client.llen("downloads")),  # type: ignore[arg-type]
        task_runs_rows=int(task_rows),
        activities_queued=int(queued),
        simulator_requests=stats["total"],
        simulator_by_kind={k: v for k, v in stats["by_kind"].items() if v},
        child_process_wall_s=child_wall,
        load1_before=load_before,
    )
    expected = result["found"]
    result["complete"] = (
        result["llen_downloads"] == expected
        and result["task_runs_rows"] == expected
        and result["activities_queued"] == expected
    )
    return result


def print_profile(path: Path, top: int = 25) -> None:
    import pstats

    stats = pstats.Stats(str(path))
    stats.sort_stats("cumulative").print_stats(top)


def summarize(backend: str, variant: str, runs: list[dict[str, Any]]) -> dict[str, Any]:
    med_total = median([r["total_s"] for r in runs])
    phases = {k: median([r["phases_s"][k] for r in runs]) for k in runs[0]["phases_s"]}
    complete = all(r["complete"] for r in runs)
    return {
        "backend": backend,
        "variant": variant,
        "runs": len(runs),
        "median_total_s": med_total,
        "best_total_s": min(r["total_s"] for r in runs),
        "median_after_fetch_s": median([r["after_fetch_s"] for r in runs]),
        "median_phases_s": phases,
        "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
        "rss_before_mb": median([r["rss_before_mb"] for r in runs]),
        "complete": complete,
        "list_requests": runs[0]["list_requests"],
        "simulator_requests": runs[0]["simulator_requests"],
        "load1_before": [r["load1_before"] for r in runs],
        "goal_met": (med_total < GOAL_S and complete) if variant == "product" else None,
    }


def report(summaries: list[dict[str, Any]], activities: int, page_size: int) -> str:
    phase_names = ["fetch", "store", "claim", "task_runs", "publish"]
    rows = []
    for s in summaries:
        p = s["median_phases_s"]
        rows.append(
            [
                s["backend"],
                s["variant"],
                s["runs"],
                s["median_total_s"],
                s["median_after_fetch_s"],
                *(p[k] for k in phase_names),
                p["other"],
                f"{s['rss_before_mb']:.0f} -> {s['peak_rss_mb']:.0f}",
                s["complete"],
                verdict(s["goal_met"]) if s["goal_met"] is not None else "(experiment)",
            ]
        )
    return table(
        [
            "database",
            "variant",
            "runs",
            "total s",
            "after fetch",
            "fetch",
            "store",
            "claim",
            "task_runs",
            "publish",
            "other",
            "RSS MB (peak)",
            "all queued",
            "goal",
        ],
        rows,
        title=f"Fan-out of {activities:,} new activities, page size {page_size} "
        f"(median of runs, seconds; goal < {GOAL_S:.0f} s)",
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench fanout", description=__doc__.split("\n")[0])
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--activities", type=int, default=10_000)
    parser.add_argument("--page-size", type=int, default=1000)
    parser.add_argument("--latency-ms", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=3, help="runs of the product variant per database")
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument(
        "--variants",
        default=",".join(VARIANTS),
        help=f"product and/or experiments, one run each (default: {','.join(VARIANTS)})",
    )
    parser.add_argument("--quick", action="store_true", help="2,000 activities, one run, SQLite, product")
    parser.add_argument(
        "--profile", action="store_true", help="cProfile the sync; stats to bench/results/fanout_*.prof"
    )
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child()))
        return 0
    exit_on_sigterm()
    backends = [b.strip() for b in args.backends.split(",")]
    variants = [v.strip() for v in args.variants.split(",")]
    if unknown := [v for v in variants if v not in VARIANTS]:
        parser.error(f"unknown variant(s) {unknown}; have {', '.join(VARIANTS)}")
    if args.quick:
        args.activities, args.repeat, backends, variants = 2000, 1, ["sqlite"], ["product"]

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
        sim = SimulatorServer(activities=args.activities, seed=9, latency_ms=args.latency_ms).start()
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
        for variant in variants:
            for backend in backends:
                if variant == "pg-copy" and backend != "postgres":
                    continue  # the same code as the product on SQLite
                runs = []
                for i in range(args.repeat if variant == "product" else 1):
                    with temp_dir(NAME) as root:
                        if backend == "postgres":
                            assert pg_admin is not None
                            databases += 1
                            db_url = create_database(pg_admin, f"fanout_{databases}")
                        else:
                            db_url = f"sqlite:///{root / 'data' / 'garmin.db'}"
                        profile = (
                            RESULTS / f"{NAME}_{backend}_{variant}_{i + 1}.prof" if args.profile else None
                        )
                        run = one_run(
                            backend,
                            db_url,
                            redis_server.url,
                            sim,
                            tokens,
                            root,
                            args.page_size,
                            variant,
                            profile,
                        )
                    if profile is not None:
                        print_profile(profile)
                    runs.append(run)
                    all_runs.append(run)
                    print(
                        f"- {backend}, {variant}, run {i + 1}: {run['total_s']:.2f} s "
                        f"(publish {run['phases_s']['publish']:.2f} s), "
                        f"peak RSS {run['peak_rss_mb']:.0f} MB, LLEN downloads {run['llen_downloads']}, "
                        f"task_runs {run['task_runs_rows']}, load {run['load1_before']}",
                        flush=True,
                    )
                summaries.append(summarize(backend, variant, runs))
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
