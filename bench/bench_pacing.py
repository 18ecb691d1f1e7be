"""Pacing at Garmin's shape: long windows, big backlogs, several accounts (issue 7).

Each case is a fresh stack: the simulator (100 ms latency), which enforces
every account's budget itself (a request over it would be a 429), a real
`redis-server`, SQLite, N Celery worker processes. `garminsync sync` queues
each account's sync; we sample worker memory and Redis memory while the runs
drain and read everything else from the simulator's request log, the worker
logs and the store.

Per case: deliveries per download (tasks the workers received / activities
claimed), % of the budget used in the steady state, the most requests in any
window, worker RSS and Redis memory at the start, middle and end, and log
bytes per download. The multi-account case adds how long the small accounts
took while the big one drained, and the combined rate.

    python -m bench pacing [--quick] [--cases long,scaled,club]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import redis

from bench.bench_throughput import sustained
from bench.common import (
    db_counts,
    exit_on_sigterm,
    garminsync,
    import_tokens,
    last_json,
    load1,
    machine,
    run_cases,
    sim_env,
    table,
    wait_until,
    write_result,
)
from services.simulator.server import SimulatorServer
from services.simulator.stats import max_requests_in_window
from shared.db import create_session
from shared.models import SyncRun
from shared.ratelimit_spec import parse_rate
from tests.stack import Processes

NAME = "pacing"
DEFAULT_EMAIL = "athlete@example.com"
RECEIVED = re.compile(rb"Task garminsync\.download_activity\[[0-9a-f-]+\] received")


@dataclass(frozen=True)
class Case:
    name: str
    rate: str
    activities: int  # the default account's backlog
    workers: int = 2
    concurrency: int = 2
    latency_ms: int = 100
    small_accounts: tuple[int, ...] = ()  # other accounts' backlogs, synced once the big one runs
    note: str = ""


CASES = {
    "long": Case("long", "60/30 seconds", 1000, note="Garmin's shape: a 30 s window, 1,000 activities"),
    "scaled": Case(
        "scaled",
        "100/6 seconds",
        10_000,
        workers=2,
        concurrency=4,
        note="10,000 activities, time-scaled: the window shrunk so the run takes minutes, not hours",
    ),
    "club": Case(
        "club",
        "30/10 seconds",
        600,
        small_accounts=(20, 20, 20),
        note="four accounts: one with a backlog of 600, three with 20 each, synced after it started",
    ),
}
QUICK = {
    "long": Case("long", "20/10 seconds", 120),
    "scaled": Case("scaled", "50/5 seconds", 500, concurrency=4),
    "club": Case("club", "10/5 seconds", 80, small_accounts=(8, 8)),
}


@dataclass
class Samples:
    """Worker RSS and Redis memory over the run."""

    times: list[float] = field(default_factory=list)
    worker_rss_mb: list[float] = field(default_factory=list)
    redis_mb: list[float] = field(default_factory=list)

    def add(self, procs: Processes, client: Any) -> None:
        self.times.append(time.time())
        self.worker_rss_mb.append(round(sum(tree_rss_kb(p.pid) for p in procs.procs.values()) / 1024, 1))
        self.redis_mb.append(round(int(client.info("memory")["used_memory"]) / 2**20, 2))

    def start_middle_end(self, values: list[float]) -> list[float]:
        if not values:
            return []
        return [values[0], values[len(values) // 2], values[-1]]


def tree_rss_kb(pid: int) -> int:
    """RSS of a process and its children (a Celery worker and its pool)."""
    total = 0
    pids = [pid]
    with contextlib.suppress(OSError):
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(c) for c in children]
    for one in pids:
        with contextlib.suppress(OSError, ValueError):
            for line in Path(f"/proc/{one}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total


def runs_closed(db_url: str, run_ids: list[int]) -> bool:
    with create_session(db_url) as session:
        return all((run := session.get(SyncRun, i)) is not None and run.status != "running" for i in run_ids)


def finished_at(db_url: str, run_id: int) -> float | None:
    with create_session(db_url) as session:
        run = session.get(SyncRun, run_id)
        return run.finished_at.timestamp() if run is not None and run.finished_at else None


def run_case(case: Case, redis_url: str, root: Path) -> dict[str, Any]:
    spec = parse_rate(case.rate)
    data = root / "data"
    db_url = f"sqlite:///{data / 'garmin.db'}"
    client = redis.Redis.from_url(redis_url)
    client.flushall()
    with contextlib.ExitStack() as stack:
        sim = SimulatorServer(activities=case.activities, seed=5, latency_ms=case.latency_ms).start()
        stack.callback(sim.stop)
        env = sim_env(
            sim.url,
            json.dumps(sim.state.issue_tokens()),
            data,
            REDIS_URL=redis_url,
            DATABASE_URL=db_url,
            GARMINSYNC_RATE_LIMIT=case.rate,
            GARMINSYNC_PAGE_SIZE="1000",
        )
        import_tokens(env)
        budget = {"windows": [[spec.amount, spec.period]]}
        sim.state.configure(rate_limit=budget, account=DEFAULT_EMAIL)
        others = []
        for i, count in enumerate(case.small_accounts, start=2):
            email = f"athlete{i}@example.com"
            sim.state.add_account(email, activities=count, rate_limit=budget)
            name = f"a{i}"
            tokens = json.dumps(sim.state.issue_tokens(account=email))
            garminsync(env, "--account", name, "login", "--tokens", tokens)
            others.append((name, email))
        procs = Processes(env, root / "logs")
        stack.callback(procs.stop)
        for i in range(case.workers):
            procs.worker(f"w{i + 1}", concurrency=case.concurrency)
        sim.state.reset_stats()
        samples = Samples()
        samples.add(procs, client)
        began = time.time()
        big = int(last_json(garminsync(env, "sync", "--json").stdout)["run_id"])
        small: dict[str, tuple[int, float]] = {}
        if others:
            wait_until(lambda: db_counts(db_url).get("downloaded", 0) >= 2 * spec.amount, 600, "a head start")
            for name, _email in others:
                synced = time.time()
                run_id = int(last_json(garminsync(env, "--account", name, "sync", "--json").stdout)["run_id"])
                small[name] = (run_id, synced)
        run_ids = [big] + [run_id for run_id, _ in small.values()]
        expected_s = (case.activities + sum(case.small_accounts)) / spec.per_second
        last_sample = 0.0

        def done() -> bool:
            nonlocal last_sample
            if time.monotonic() - last_sample >= 5:
                last_sample = time.monotonic()
                samples.add(procs, client)
            return runs_closed(db_url, run_ids)

        wait_until(done, expected_s * 2 + 300, "every run to close", interval=0.5)
        samples.add(procs, client)
        elapsed = time.time() - began
        log_bytes = sum(path.stat().st_size for path in (root / "logs").glob("*.log"))
        deliveries = sum(len(RECEIVED.findall(path.read_bytes())) for path in (root / "logs").glob("*.log"))
        tracebacks = sum(path.read_bytes().count(b"Traceback") for path in (root / "logs").glob("*.log"))
        small_finish = {
            name: round(end - synced, 1)
            for name, (run_id, synced) in small.items()
            if (end := finished_at(db_url, run_id)) is not None
        }
        stats_all = sim.state.stats((float(spec.period),))
        per_account = {
            email: sim.state.stats((float(spec.period),), account=email)
            for email in [DEFAULT_EMAIL, *(e for _, e in others)]
        }
        counts = db_counts(db_url)
    claimed = case.activities + sum(case.small_accounts)
    key = str(spec.period)
    big_downloads = sorted(r[0] for r in per_account[DEFAULT_EMAIL]["requests"] if r[1] == "download")
    steady = sustained(big_downloads, spec.amount)
    steady_pct = round(100 * steady[0] / spec.per_second, 2) if steady else None
    all_times = sorted(r[0] for r in stats_all["requests"])
    over = {
        email: densest_requests(s["requests"], float(spec.period))
        for email, s in per_account.items()
        if s["max_in_window"][key] > spec.amount
    }
    return {
        "case": asdict(case),
        "over_budget": over,
        "elapsed_s": round(elapsed, 1),
        "ideal_s": round(expected_s, 1),
        "claimed": claimed,
        "db_states": counts,
        "deliveries": deliveries,
        "deliveries_per_download": round(deliveries / claimed, 3),
        "steady_pct_of_budget": steady_pct,
        "max_in_window_per_account": {e: s["max_in_window"][key] for e, s in per_account.items()},
        "budget": spec.amount,
        "window_s": spec.period,
        "http_429": int(stats_all["statuses"].get("429", 0)),
        "combined_requests_per_s": round((len(all_times) - 1) / (all_times[-1] - all_times[0]), 3)
        if len(all_times) > 1
        else None,
        "combined_max_in_window": max_requests_in_window(all_times, float(spec.period)),
        "small_accounts_finished_after_s": small_finish,
        "worker_rss_mb_start_mid_end": samples.start_middle_end(samples.worker_rss_mb),
        "redis_mb_start_mid_end": samples.start_middle_end(samples.redis_mb),
        "log_bytes_per_download": round(log_bytes / claimed, 1),
        "tracebacks_in_logs": tracebacks,
    }


def densest_requests(requests: list[list[Any]], window_s: float) -> list[list[Any]]:
    """The requests of the busiest window (time from the first, kind, path, status): what went over."""
    ordered = sorted(requests, key=lambda r: r[0])
    best: list[list[Any]] = []
    lo = 0
    for hi, request in enumerate(ordered):
        while request[0] - ordered[lo][0] >= window_s:
            lo += 1
        if hi - lo + 1 > len(best):
            best = ordered[lo : hi + 1]
    return [[round(r[0] - best[0][0], 3), r[1], r[2], r[3]] for r in best]


def rows(results: list[dict[str, Any]]) -> tuple[list[str], list[list[Any]]]:
    """The table's headers and rows: the console report and bench.report's Markdown share them."""
    rows = []
    for r in results:
        c = r["case"]
        if "error" in r:
            rows.append([c["name"], c["rate"], *["-"] * 10, "ERROR"])
            continue
        rows.append(
            [
                c["name"],
                c["rate"],
                r["claimed"],
                f"{c['workers']}x{c['concurrency']}",
                f"{r['elapsed_s']:.0f}/{r['ideal_s']:.0f}",
                r["deliveries_per_download"],
                f"{r['steady_pct_of_budget']}%" if r["steady_pct_of_budget"] is not None else "-",
                f"{max(r['max_in_window_per_account'].values())}/{r['budget']}",
                r["http_429"],
                "/".join(f"{v:.0f}" for v in r["worker_rss_mb_start_mid_end"]),
                "/".join(f"{v:.1f}" for v in r["redis_mb_start_mid_end"]),
                r["log_bytes_per_download"],
                ", ".join(f"{v:.0f}s" for v in r["small_accounts_finished_after_s"].values()) or "-",
            ]
        )
    return (
        [
            "case",
            "budget",
            "activities",
            "workers",
            "took/ideal s",
            "deliveries/dl",
            "% budget",
            "max in window",
            "429s",
            "worker MB s/m/e",
            "Redis MB s/m/e",
            "log B/dl",
            "small accounts done after",
        ],
        rows,
    )


def report(results: list[dict[str, Any]]) -> str:
    headers, body = rows(results)
    return table(headers, body, title="Pacing at the real shape (simulator latency 100 ms, SQLite)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench pacing", description=__doc__.split("\n")[0])
    parser.add_argument("--cases", default="long,scaled,club", help="which cases (default: all)")
    parser.add_argument("--quick", action="store_true", help="small versions of the cases (smoke run)")
    args = parser.parse_args(argv)
    exit_on_sigterm()
    catalogue = QUICK if args.quick else CASES
    chosen = [catalogue[name.strip()] for name in args.cases.split(",")]
    info = machine()
    results = run_cases(
        NAME,
        chosen,
        run_case,
        lambda case: f"{case.name}: {case.rate}, {case.activities} activities",
        lambda result: (
            f"{result['elapsed_s']} s, {result['deliveries_per_download']} deliveries/download, "
            f"{result['steady_pct_of_budget']} % of the budget, {result['http_429']} 429s"
        ),
    )
    print()
    print(report(results))
    path = write_result(
        NAME, {"machine": info, "quick": args.quick, "results": results, "load1_end": load1()}
    )
    print(f"\nwrote {path}")
    return 0 if all(r.get("http_429") == 0 and "error" not in r for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
