"""`python -m bench [NAME ...] [options]`: run the benchmarks, each in its own process.

Every `bench/bench_NAME.py` is a benchmark (`throughput`, `fanout`,
`unchanged`, `embedded`, `web`, `export`, ...). Each runs as `python -m bench.bench_NAME`
in a process group of its own, bounded by `--timeout`: on overrun it gets
SIGTERM (it then stops what it started and removes its temp dirs), and
SIGKILL 30 s later. Options this runner does not know (e.g. `--quick`) are
passed on to the benchmarks, so give them when running one benchmark.

    python -m bench                      # all of them
    python -m bench throughput --quick   # one, with its own options
    python -m bench --list
    python -m bench --max-load 1.0       # first wait (up to --load-wait s) for a quiet machine
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from bench.common import PYTHON, REPO, load1

ORDER = ["throughput", "pacing", "fanout", "unchanged", "embedded", "web", "export"]
# Arguments a benchmark needs to write bench/results/NAME.json when run from here.
DEFAULT_ARGS = {"web": ["--json", "bench/results/web.json"]}
GRACE_S = 30


def available() -> list[str]:
    names = [p.stem.removeprefix("bench_") for p in Path(__file__).parent.glob("bench_*.py")]
    return sorted(names, key=lambda n: (ORDER.index(n) if n in ORDER else len(ORDER), n))


def wait_for_quiet(max_load: float, patience_s: float) -> float:
    began = time.monotonic()
    load = load1()
    while load > max_load and time.monotonic() - began < patience_s:
        print(f"  load average {load} > {max_load}: waiting …", flush=True)
        time.sleep(15)
        load = load1()
    return load


def run_one(name: str, extra: list[str], timeout: float) -> int:
    argv = [PYTHON, "-m", f"bench.bench_{name}", *DEFAULT_ARGS.get(name, []), *extra]
    proc = subprocess.Popen(argv, cwd=REPO, start_new_session=True)
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        print(f"bench {name}: over {timeout:.0f}s, stopping it", file=sys.stderr, flush=True)
        return _stop(proc)
    except KeyboardInterrupt:
        _stop(proc)
        raise


def _stop(proc: subprocess.Popen[bytes]) -> int:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(GRACE_S)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    return 124


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per benchmark (default 1800)")
    parser.add_argument("--max-load", type=float, default=None, help="wait for a 1-min load average <= this")
    parser.add_argument("--load-wait", type=float, default=300, help="how long to wait for it (s)")
    args, extra = parser.parse_known_args(argv)
    names = available()
    if args.list:
        print("\n".join(names))
        return 0
    chosen = args.names or names
    unknown = [n for n in chosen if n not in names]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}; have: {', '.join(names)}")

    def on_term(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    failed = []
    for name in chosen:
        load = wait_for_quiet(args.max_load, args.load_wait) if args.max_load is not None else load1()
        print(f"\n=== bench {name} (load average {load}) ===", flush=True)
        began = time.monotonic()
        code = run_one(name, extra, args.timeout)
        print(f"=== bench {name}: exit {code} after {time.monotonic() - began:.0f}s ===", flush=True)
        if code != 0:
            failed.append(name)
    if failed:
        print(f"\nbenchmarks with a non-zero exit: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
