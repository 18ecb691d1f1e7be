"""Embedded mode: `garminsync download --missing` for 300 activities, no Redis, no workers.

The CLI runs the same job code in-process, one download at a time (a retry
waits in a timer queue, it does not block the others). The limit is set high
(`1000/second`) so what is measured is the pipeline itself: list, claim,
download the ZIP, unzip, check the FIT CRC, write atomically (fsync), record.
With the default limit (30/minute) a user's run takes 10 minutes for 300
activities whatever the machine; see docs/BENCHMARKS.md.

    python -m bench embedded [--activities 300] [--latencies 0,100]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from bench.common import (
    db_counts,
    exit_on_sigterm,
    garminsync,
    import_tokens,
    last_json,
    load1,
    machine,
    sim_env,
    table,
    temp_dir,
    write_result,
)

NAME = "embedded"


def one_case(activities: int, latency_ms: int) -> dict[str, Any]:
    from services.simulator.server import SimulatorServer

    with (
        SimulatorServer(activities=activities, seed=21, latency_ms=latency_ms) as sim,
        temp_dir(NAME) as root,
    ):
        data = root / "data"
        env = sim_env(
            sim.url,
            json.dumps(sim.state.issue_tokens()),
            data,
            GARMINSYNC_RATE_LIMIT="1000/second",
            GARMINSYNC_PAGE_SIZE="100",
        )
        import_tokens(env)
        sim.state.reset_stats()
        load_before = load1()
        began = time.perf_counter()
        out = last_json(garminsync(env, "download", "--missing", "--json", timeout=600).stdout)
        wall = time.perf_counter() - began
        stats = sim.state.stats(windows=(1.0,))
        downloads = sorted(r[0] for r in stats["requests"] if r[1] == "download")
        span = downloads[-1] - downloads[0] if len(downloads) > 1 else float("nan")
        counts = db_counts(f"sqlite:///{data / 'garmin.db'}")
        files = sum(1 for p in (data / "fit").iterdir() if p.is_file()) if (data / "fit").exists() else 0
    return {
        "activities": activities,
        "latency_ms": latency_ms,
        "wall_s": wall,
        "download_phase_s": span,
        "downloads_per_s": (len(downloads) - 1) / span if len(downloads) > 1 else None,
        "activities_per_s_wall": activities / wall,
        "requests": stats["total"],
        "by_kind": {k: v for k, v in stats["by_kind"].items() if v},
        "summary": out,
        "db_states": counts,
        "files": files,
        "load1_before": load_before,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench embedded", description=__doc__.split("\n")[0])
    parser.add_argument("--activities", type=int, default=300)
    parser.add_argument("--latencies", default="0,100", help="simulator latencies in ms")
    parser.add_argument("--quick", action="store_true", help="60 activities, no latency")
    args = parser.parse_args(argv)
    exit_on_sigterm()
    latencies = [int(x) for x in args.latencies.split(",")]
    if args.quick:
        args.activities, latencies = 60, [0]
    info = machine()
    results = []
    for latency in latencies:
        print(f"- {args.activities} activities, latency {latency} ms …", flush=True)
        results.append(one_case(args.activities, latency))
    rows = [
        [
            r["latency_ms"],
            r["activities"],
            r["summary"].get("downloaded"),
            r["summary"].get("no_file"),
            r["summary"].get("failed"),
            r["wall_s"],
            r["downloads_per_s"],
            1000 / r["downloads_per_s"] if r["downloads_per_s"] else None,
            r["load1_before"],
        ]
        for r in results
    ]
    print()
    print(
        table(
            [
                "latency ms",
                "activities",
                "downloaded",
                "no file",
                "failed",
                "wall s",
                "downloads/s",
                "ms each",
                "load1",
            ],
            rows,
            title="Embedded `garminsync download --missing` (limit 1000/second, so not the limit)",
        )
    )
    path = write_result(NAME, {"machine": info, "results": results, "load1_end": load1()})
    print(f"\nwrote {path}")
    return 0 if all(not r["summary"].get("failed") for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
