"""`verify --deep`: FIT files decoded and checked per second, against plain `verify`.

Setup per case: the simulator with N activities whose FIT files carry
`fit_records` samples (100: files of 1-3 KB; 3600: up to ~80 KB, an hour at
1 Hz), archived with `garminsync download --missing` (embedded mode). Then,
each `--repeat` times:

- `verify`: `garminsync verify --json` (size, sha256, CRC), the whole command
- `verify --deep`: `garminsync verify --deep --json`, the whole command
- `deep in-process`: `shared.usecases.verify.check_archive` with a tally, no
  process start (what the command spends in the checks)

and, when the reference fixtures are present, `shared.fit_deep.deep_check` on
each real device file (5-122 KB) in a loop.

    python -m bench deep [--activities 300] [--records 100,3600] [--repeat 3] [--quick]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from bench.common import (
    REPO,
    exit_on_sigterm,
    garminsync,
    last_json,
    load1,
    machine,
    median,
    sim_env,
    table,
    temp_dir,
    write_result,
)

NAME = "deep"


def archive_size(data_dir: Path) -> tuple[int, int]:
    files = list((data_dir / "fit").rglob("*.fit"))
    return len(files), sum(path.stat().st_size for path in files)


def measure_case(activities: int, records: int, repeat: int) -> dict[str, Any]:
    from services.simulator.server import SimulatorServer
    from shared.config import load_settings
    from shared.runtime import Runtime
    from shared.usecases import verify as verifying
    from shared.verify import Tally

    with (
        SimulatorServer(activities=activities, seed=21, fit_records=records, hostile_names=0) as sim,
        temp_dir(NAME) as root,
    ):
        data = root / "data"
        env = sim_env(sim.url, json.dumps(sim.state.issue_tokens()), data, GARMINSYNC_RATE_LIMIT="500/second")
        garminsync(env, "download", "--missing", "--json", timeout=600)
        files, size = archive_size(data)
        walls: dict[str, list[float]] = {"verify": [], "verify --deep": [], "deep in-process": []}
        failed = 0
        for _ in range(repeat):
            began = time.perf_counter()
            garminsync(env, "verify", "--json", timeout=600)
            walls["verify"].append(time.perf_counter() - began)
            began = time.perf_counter()
            out = last_json(garminsync(env, "verify", "--deep", "--json", timeout=600).stdout)
            walls["verify --deep"].append(time.perf_counter() - began)
            failed = max(failed, len(out["problems"]))
        runtime = Runtime.build(load_settings(env))
        account_id = runtime_account(runtime)
        for _ in range(repeat):
            tally = Tally()
            began = time.perf_counter()
            for _problem in verifying.check_archive(runtime, account_id, tally):
                pass
            walls["deep in-process"].append(time.perf_counter() - began)
    modes = {
        mode: {
            "median_s": round(median(samples), 3),
            "files_per_s": round(files / median(samples), 1),
            "mb_per_s": round(size / 1e6 / median(samples), 2),
        }
        for mode, samples in walls.items()
    }
    return {"activities": activities, "fit_records": records, "fit_files": files, "bytes": size,
            "problems": failed, "modes": modes}  # fmt: skip


def runtime_account(runtime: Any) -> int:
    from shared.accounts import get_or_create_account
    from shared.db import create_session

    with create_session(runtime.settings.database_url) as session:
        return int(get_or_create_account(session, runtime.settings).id)


def measure_real_files(repeat: int) -> list[dict[str, Any]]:
    """The device files of the reference fixtures, each decoded and checked in a loop."""
    from shared.fit_deep import Summary, deep_check

    folder = REPO.parent / "shared" / "fixtures" / "garmin" / "fit"
    rows = []
    for path in sorted(folder.glob("*.fit")) if folder.is_dir() else []:
        data = path.read_bytes()
        samples = []
        for _ in range(repeat):
            began = time.perf_counter()
            result = deep_check(data, Summary(None, None, None))
            samples.append(time.perf_counter() - began)
        rows.append({"file": path.name, "bytes": len(data), "ok": result.ok,
                     "files_per_s": round(1 / median(samples), 1)})  # fmt: skip
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench deep", description=__doc__.split("\n")[0])
    parser.add_argument("--activities", type=int, default=300)
    parser.add_argument("--records", default="100,3600", help="samples per FIT file, one case each")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="100 activities, 100 samples, one run")
    args = parser.parse_args(argv)
    exit_on_sigterm()
    records = [int(r) for r in args.records.split(",")]
    if args.quick:
        args.activities, records, args.repeat = 100, [100], 1
    info = machine()
    cases = []
    for count in records:
        print(f"- {args.activities} activities, {count} samples per FIT file …", flush=True)
        cases.append(measure_case(args.activities, count, args.repeat))
    real = measure_real_files(max(3, args.repeat))
    rows = [
        [c["fit_records"], c["fit_files"], round(c["bytes"] / max(1, c["fit_files"]) / 1000, 1), mode,
         m["median_s"], m["files_per_s"], m["mb_per_s"]]
        for c in cases for mode, m in c["modes"].items()
    ]  # fmt: skip
    print()
    headers = ["samples", "files", "KB/file", "mode", "wall s", "files/s", "MB/s"]
    print(table(headers, rows, "verify vs --deep"))
    if real:
        print()
        real_rows = [[r["file"], r["bytes"], r["ok"], r["files_per_s"]] for r in real]
        print(table(["device file", "bytes", "ok", "files/s"], real_rows, "real device files"))
    path = write_result(NAME, {"machine": info, "cases": cases, "real_files": real, "load1_end": load1()})
    print(f"\nwrote {path}")
    return 0 if all(c["problems"] == 0 for c in cases) and all(r["ok"] for r in real) else 1


if __name__ == "__main__":
    raise SystemExit(main())
