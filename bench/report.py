"""`python -m bench.report`: the latest bench/results/*.json as Markdown tables.

For refreshing docs/BENCHMARKS.md after a run; prints to stdout and changes
nothing.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

from bench.common import RESULTS


def md(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:.2f}" if abs(value) < 100 else f"{value:.0f}"
        return "-" if value is None else str(value)

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def load(name: str) -> dict[str, Any] | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def header(data: dict[str, Any]) -> str:
    m = data["machine"]
    code = m.get("code") or {}
    dirty = f", uncommitted: {', '.join(code['uncommitted'])}" if code.get("uncommitted") else ""
    return f"_{m['when']}, load average {m['load_average']}, commit {code.get('commit')}{dirty}_"


def throughput(data: dict[str, Any]) -> str:
    rows = []
    for r in data["results"]:
        c = r["case"]
        if "error" in r:
            rows.append([c["rate"], c["workers"], "error: " + r["error"]] + [""] * 10)
            continue
        d = r.get("slot_to_arrival") or {}
        goal = "-" if r["goal_met"] is None else ("pass" if r["goal_met"] else "**fail**")
        rows.append(
            [
                f"`{c['rate']}`",
                f"{c['workers']} x {c['concurrency']}",
                r["margin_ms"],
                r["downloads"],
                r["steady_span_s"],
                f"{r['downloads_per_s']:.2f} ({r['downloads_pct']:.1f} %)"
                if c["binding"]
                else r["downloads_per_s"],
                f"{r['all_requests_per_s']:.2f} ({r['all_requests_pct']:.1f} %)"
                if c["binding"]
                else r["all_requests_per_s"],
                f"{r['limiter_ceiling_pct']:.1f} %" if c["binding"] else "-",
                f"{r['max_in_period_window']} / {r['amount']}",
                r["min_span_amount_plus_one_ms"],
                r.get("min_span_amount_plus_one_slots_ms"),
                f"{d['p99_ms']:.0f} / {d['max_ms']:.0f}" if d else "-",
                f"{r['load1_before']:.2f} / {r['load1_max']:.2f}",
                goal,
            ]
        )
    return md(
        [
            "limit",
            "workers x conc.",
            "margin ms (set)",
            "downloads",
            "steady s",
            "downloads/s (% of limit)",
            "all requests/s (%)",
            "limiter ceiling",
            "max in window",
            "min span ms",
            "window ms",
            "delay p99 / max ms",
            "load1 start / max",
            "goal",
        ],
        rows,
    )


def fanout(data: dict[str, Any]) -> str:
    from bench.bench_fanout import rows

    return md(*rows(data["summaries"]))


def pacing(data: dict[str, Any]) -> str:
    from bench.bench_pacing import rows

    return md(*rows(data["results"]))


def unchanged(data: dict[str, Any]) -> str:
    rows = []
    for res in data["results"]:
        for mode, m in res["modes"].items():
            ok = m["requests_max"] == 1 and m["new_max"] == 0
            rows.append(
                [
                    res["backend"],
                    mode,
                    m["requests_max"],
                    m["median_wall_s"],
                    m["median_run_s"],
                    "pass" if ok else "**fail**",
                ]
            )
    return md(["database", "mode", "requests", "wall s (median)", "run s (sync_runs)", "goal"], rows)


def embedded(data: dict[str, Any]) -> str:
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
        ]
        for r in data["results"]
    ]
    return md(
        ["latency ms", "activities", "downloaded", "no file", "failed", "wall s", "downloads/s", "ms each"],
        rows,
    )


RENDERERS = {
    "throughput": throughput,
    "pacing": pacing,
    "fanout": fanout,
    "unchanged": unchanged,
    "embedded": embedded,
}


def main(argv: list[str] | None = None) -> int:
    names = (argv if argv is not None else sys.argv[1:]) or list(RENDERERS)
    for name in names:
        data = load(name)
        if data is None or name not in RENDERERS:
            print(f"## {name}: no results\n")
            continue
        print(f"## {name}\n\n{header(data)}\n\n{RENDERERS[name](data)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
