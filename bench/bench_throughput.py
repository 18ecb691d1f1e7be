"""Download throughput against the configured limit, with 1, 2 and 4 worker processes.

Each case is a fresh stack: the simulator (100 ms latency) in this process, a
real `redis-server`, SQLite in a temp dir, tokens imported with
`garminsync login --tokens`, N Celery worker processes (`--concurrency 2`),
then `garminsync sync` enqueues the sync and we wait for the run to close.
Every rate and window comes from the simulator's own request log; the slots
the limiter hands out are traced with Redis MONITOR (see SlotTrace).

Sustained rate: a sliding log lets request i+amount start only `period`
(+ the limiter's margin) after request i, so the long-run rate is
`amount / mean(t[i+amount] - t[i])`. We measure it over whole multiples of
`amount` requests, leaving out the first and last `amount` downloads (start-up
and the tail, when fewer tasks than slots remain). That is exact for bursty
limits too (60 per 6 s), where counting over an arbitrary time span is not.

    python -m bench throughput [--quick] [--workers 1,2,4] [--concurrency 2]
                               [--rates "10/second,60/6 seconds"] [--margins 40] [--no-capacity]
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import redis
from sqlalchemy import select

from bench.common import (
    BenchError,
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
    verdict,
    wait_until,
    write_result,
)
from services.simulator.server import SimulatorServer
from services.simulator.stats import max_requests_in_window
from shared.config import load_settings
from shared.db import create_session
from shared.models import SyncRun, TaskRun
from shared.ratelimit import DEFAULT_MARGIN_MS
from shared.ratelimit_spec import parse_rate
from tests.stack import Processes

NAME = "throughput"
GOAL_PCT = 95.0
STEADY_TARGET_S = 25.0


@dataclass(frozen=True)
class Case:
    rate: str
    workers: int
    concurrency: int = 2
    latency_ms: int = 100
    binding: bool = True  # the limit is what should cap the rate (the goal applies)
    activities: int = 0  # 0: enough for STEADY_TARGET_S of steady state
    margin_ms: int | None = None  # GARMINSYNC_RATE_MARGIN_MS; None: the product's default

    def planned_activities(self) -> int:
        if self.activities:
            return self.activities
        spec = parse_rate(self.rate)
        return max(300, int(spec.per_second * STEADY_TARGET_S) + 2 * spec.amount + 20)


def sustained(times: list[float], amount: int) -> tuple[float, float, int] | None:
    """(requests/s, span s, requests) over whole multiples of `amount`, minus head and tail."""
    core = times[amount : len(times) - amount]
    k = (len(core) - 1) // amount
    if k < 1:
        return None
    end = k * amount
    span = core[end] - core[0]
    return end / span, span, end


def closest(times: list[float], amount: int) -> float | None:
    """The shortest span (ms) of `amount + 1` consecutive requests: >= the period means the limit held."""
    gaps = [times[i + amount] - times[i] for i in range(len(times) - amount)]
    return round(min(gaps) * 1000, 1) if gaps else None


def densest(times: list[float], window_s: float) -> dict[str, Any]:
    """Where the busiest window is: its start and the gaps between its requests (ms)."""
    best, best_lo, lo = 0, 0, 0
    for hi, t in enumerate(times):
        while t - times[lo] >= window_s:
            lo += 1
        if hi - lo + 1 > best:
            best, best_lo = hi - lo + 1, lo
    chosen = times[best_lo : best_lo + best]
    return {
        "count": best,
        "starts_at_s": round(chosen[0] - times[0], 3) if chosen else None,
        "span_ms": round((chosen[-1] - chosen[0]) * 1000, 1) if chosen else None,
        "gaps_ms": [round((b - a) * 1000, 1) for a, b in itertools.pairwise(chosen)],
    }


class SlotTrace:
    """Every slot the limiter hands out, seen through Redis MONITOR.

    The Lua script's `ZADD garminsync:rate:<account>` shows up as a `lua` command
    with the server's timestamp: that is the instant a slot was taken. Paired in
    order with the simulator's arrival times, it gives the delay between taking a
    slot and the request reaching "Garmin", which the limiter's margin must absorb.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.times: list[float] = []
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="slot-trace", daemon=True)

    def __enter__(self) -> SlotTrace:
        self._thread.start()
        self._ready.wait(5)
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        with contextlib.suppress(redis.RedisError):
            redis.Redis.from_url(self.url).echo("bench: stop tracing")  # wakes the reader
        self._thread.join(5)

    def _run(self) -> None:
        client = redis.Redis.from_url(self.url)
        with client.monitor() as monitor:
            self._ready.set()
            while not self._stop.is_set():
                try:
                    command = monitor.next_command()
                except (redis.RedisError, OSError):
                    return
                if command["client_type"] == "lua" and command["command"].startswith("ZADD garminsync:rate:"):
                    self.times.append(float(command["time"]))


def slot_delays(slots: list[float], arrivals: list[float]) -> dict[str, Any] | None:
    """Arrival minus slot, pairing the i-th slot with the i-th request (ms percentiles)."""
    if not slots or len(slots) != len(arrivals):
        return None
    delays = sorted((a - s) * 1000 for s, a in zip(sorted(slots), sorted(arrivals), strict=True))

    def pct(q: float) -> float:
        return round(delays[min(len(delays) - 1, int(q * len(delays)))], 1)

    return {"p50_ms": pct(0.5), "p95_ms": pct(0.95), "p99_ms": pct(0.99), "max_ms": round(delays[-1], 1)}


def run_case(case: Case, redis_url: str, root: Path) -> dict[str, Any]:
    spec = parse_rate(case.rate)
    activities = case.planned_activities()
    data = root / "data"
    db_url = f"sqlite:///{data / 'garmin.db'}"
    redis.Redis.from_url(redis_url).flushall()
    with contextlib.ExitStack() as stack:
        sim = SimulatorServer(activities=activities, seed=5, latency_ms=case.latency_ms).start()
        stack.callback(sim.stop)
        env = sim_env(
            sim.url,
            json.dumps(sim.state.issue_tokens()),
            data,
            REDIS_URL=redis_url,
            DATABASE_URL=db_url,
            GARMINSYNC_RATE_LIMIT=case.rate,
            GARMINSYNC_PAGE_SIZE="100",
        )
        if case.margin_ms is not None:
            env["GARMINSYNC_RATE_MARGIN_MS"] = str(case.margin_ms)
        margin_ms = load_settings(env).rate_margin_ms  # what the workers will use
        import_tokens(env)
        procs = Processes(env, root / "logs")
        stack.callback(procs.stop)
        for i in range(case.workers):
            procs.worker(f"w{i + 1}", concurrency=case.concurrency)
        sim.state.reset_stats()
        load_before = load1()
        loads = [load_before]
        # Tracing costs Redis a little; only the runs where the limit binds need it.
        trace = stack.enter_context(SlotTrace(redis_url)) if case.binding else None
        began = time.time()
        run_id = int(last_json(garminsync(env, "sync", "--json").stdout)["run_id"])
        budget = activities / min(spec.per_second, 8 / (case.latency_ms / 1000 + 0.05)) * 2.5 + 90

        def closed() -> bool:
            loads.append(load1())
            with create_session(db_url) as session:
                run = session.get(SyncRun, run_id)
                return run is not None and run.status != "running"

        wait_until(closed, budget, f"sync run #{run_id} to finish", interval=0.25)
        elapsed = time.time() - began
        load_after = load1()
        stats = sim.state.stats(windows=(1.0, float(spec.period)))
        counts = db_counts(db_url)
        with create_session(db_url) as session:
            run = session.get(SyncRun, run_id)
            assert run is not None
            run_status = run.status
            retried = len(session.scalars(select(TaskRun.task_id).where(TaskRun.retries > 0)).all())
    slots = list(trace.times) if trace is not None else []
    arrivals = [r[0] for r in stats["requests"]]
    measured = measure(
        case, spec.amount, spec.period, margin_ms, activities, stats, counts, run_status, retried
    )
    return measured | {
        "elapsed_s": round(elapsed, 2),
        "load1_before": load_before,
        "load1_after": load_after,
        "load1_max": max(loads),
        "slots_traced": len(slots),
        "slot_to_arrival": slot_delays(slots, arrivals),
        "min_span_amount_plus_one_slots_ms": closest(sorted(slots), spec.amount) if slots else None,
    }


def measure(
    case: Case,
    amount: int,
    period: int,
    margin_ms: int,
    activities: int,
    stats: dict[str, Any],
    counts: dict[str, int],
    run_status: str,
    retried: int,
) -> dict[str, Any]:
    requests = stats["requests"]
    all_times = sorted(r[0] for r in requests)
    dl_times = sorted(r[0] for r in requests if r[1] == "download")
    # A limit that does not bind (the capacity run) is measured in steps of 20 requests.
    step = amount if case.binding else 20
    if len(dl_times) < 3 * step + 2:
        raise BenchError(f"only {len(dl_times)} downloads: too few to measure a steady state")
    allowed = amount / period
    ceiling = amount / (period + margin_ms / 1000)
    steady = sustained(dl_times, step)
    assert steady is not None
    dl_rate, span, _n = steady
    lo = dl_times[step]
    hi = lo + span
    all_in_span = sum(1 for t in all_times if lo <= t < hi)
    all_rate = all_in_span / span
    whole_all = (len(all_times) - 1) / (all_times[-1] - all_times[0])
    max_1s = max_requests_in_window(all_times, 1.0)
    max_period = max_requests_in_window(all_times, float(period))
    within = max_period <= amount
    dl_pct = 100 * dl_rate / allowed
    return {
        "case": asdict(case),
        "activities": activities,
        "amount": amount,
        "period_s": period,
        "allowed_per_s": allowed,
        "margin_ms": margin_ms,
        "limiter_ceiling_per_s": round(ceiling, 3),
        "limiter_ceiling_pct": round(100 * ceiling / allowed, 2),
        "requests_total": len(all_times),
        "downloads": len(dl_times),
        "by_kind": {k: v for k, v in stats["by_kind"].items() if v},
        "statuses": stats["statuses"],
        "steady_span_s": round(span, 2),
        "downloads_per_s": round(dl_rate, 3),
        "downloads_pct": round(dl_pct, 2),
        "all_requests_per_s": round(all_rate, 3),
        "all_requests_pct": round(100 * all_rate / allowed, 2),
        "whole_run_requests_per_s": round(whole_all, 3),
        "max_in_1s_window": max_1s,
        "max_in_period_window": max_period,
        "never_above": within,
        "densest_window": densest(all_times, float(period)) if period == 1 else None,
        "min_span_amount_plus_one_ms": closest(all_times, amount),
        "goal_met": (dl_pct >= GOAL_PCT and within) if case.binding else None,
        "db_states": counts,
        "run_status": run_status,
        "tasks_retried": retried,
        "http_429": int(stats["statuses"].get("429", 0)),
    }


def default_cases(
    workers: list[int], rates: list[str], capacity: bool, margins: list[int], concurrency: int
) -> list[Case]:
    cases = [Case(rate=rate, workers=n, concurrency=concurrency) for rate in rates for n in workers]
    # The first limit again with other margins, on the most workers: the trade-off in one look.
    cases += [
        Case(rate=rates[0], workers=max(workers), concurrency=concurrency, margin_ms=m) for m in margins
    ]
    if capacity:
        # Not a goal: the same stack with a limit that never binds shows the headroom.
        cases.append(
            Case(
                rate="1000/second",
                workers=max(workers),
                concurrency=concurrency,
                binding=False,
                activities=400,
            )
        )
    return cases


def report(results: list[dict[str, Any]]) -> str:
    rows = []
    for r in results:
        c = r["case"]
        if "error" in r:
            rows.append([c["rate"], f"{c['workers']}x{c['concurrency']}", *["-"] * 12, "ERROR"])
            continue
        window = "1 s" if r["period_s"] == 1 else f"{r['period_s']} s"
        delays = r.get("slot_to_arrival") or {}
        rows.append(
            [
                f"{c['rate']} +{r['margin_ms']}ms",
                f"{c['workers']}x{c['concurrency']}",
                r["downloads"],
                r["steady_span_s"],
                r["downloads_per_s"],
                f"{r['downloads_pct']:.1f}%" if c["binding"] else "-",
                r["all_requests_per_s"],
                f"{r['all_requests_pct']:.1f}%" if c["binding"] else "-",
                f"{r['max_in_period_window']}/{r['amount']} ({window})",
                r["min_span_amount_plus_one_ms"],
                r.get("min_span_amount_plus_one_slots_ms"),
                f"{delays['p99_ms']:.0f}/{delays['max_ms']:.0f}" if delays else "-",
                r["http_429"],
                f"{r['load1_before']:.2f}/{r['load1_max']:.2f}",
                verdict(bool(r["goal_met"])) if c["binding"] else "(capacity)",
            ]
        )
    return table(
        [
            "limit + margin",
            "workers",
            "downloads",
            "steady s",
            "dl/s",
            "% allowed",
            "all req/s",
            "% allowed",
            "max in window",
            "min span ms",
            "window ms",
            "delay p99/max ms",
            "429s",
            "load1 start/max",
            "goal",
        ],
        rows,
        title=f"Download throughput (simulator latency 100 ms; goal >= {GOAL_PCT:.0f} % and never above)\n"
        "min span ms: shortest time covering amount+1 consecutive requests (>= the period: limit kept)\n"
        "window ms: the same over the slots the limiter handed out: the window it really applies\n"
        "delay: from the limiter handing out a slot (Redis MONITOR) to the request reaching the simulator",
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench throughput", description=__doc__.split("\n")[0])
    parser.add_argument("--workers", default="1,2,4", help="worker process counts (default 1,2,4)")
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--rates", default="10/second,60/6 seconds", help="comma-separated limits")
    parser.add_argument(
        "--margins",
        default="40",
        help="extra runs of the first limit on the most workers with these GARMINSYNC_RATE_MARGIN_MS "
        "(comma-separated; empty for none)",
    )
    parser.add_argument("--no-capacity", action="store_true", help="skip the unbound (1000/second) run")
    parser.add_argument("--quick", action="store_true", help="one short 10/second case (smoke run)")
    args = parser.parse_args(argv)
    exit_on_sigterm()
    workers = [int(n) for n in args.workers.split(",")]
    rates = [r.strip() for r in args.rates.split(",")]
    if args.quick:
        cases = [Case(rate="10/second", workers=1, activities=80)]
    else:
        margins = [int(m) for m in args.margins.split(",") if m.strip()]
        cases = default_cases(workers, rates, not args.no_capacity, margins, args.concurrency)
    info = machine()
    results = run_cases(
        NAME,
        cases,
        run_case,
        lambda case: f"{case.rate}, {case.workers} worker(s) x {case.concurrency}",
        lambda result: (
            f"{result['downloads_per_s']} downloads/s ({result['downloads_pct']} %), "
            f"max {result['max_in_period_window']} in a {result['period_s']} s window"
        ),
    )
    print()
    print(report(results))
    path = write_result(
        NAME,
        {
            "machine": info,
            "default_margin_ms": DEFAULT_MARGIN_MS,
            "goal_pct": GOAL_PCT,
            "results": results,
            "load1_end": load1(),
        },
    )
    print(f"\nwrote {path}")
    return 0 if all(r.get("never_above") for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
