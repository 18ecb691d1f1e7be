"""Exporting the catalogue and writing the manifest at 100,000 activities: time and peak memory.

Seeds one account with N activities (80 % archived, each archived one with a
GPX export and a sidecar beside it), then runs `garminsync export` as a user
would, once per format, each in its own process, and `write_manifest` in a
process of its own: wall time and the process's peak RSS (`ru_maxrss` from
`wait4`). The same at N = 1,000 shows whether memory grows with the archive
(it should not: rows are streamed a batch at a time).

    .venv/bin/python -m bench.bench_export                 # SQLite (and PostgreSQL when available)
    .venv/bin/python -m bench.bench_export --rows 20000 --backend sqlite
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select

from bench.common import GARMINSYNC, PYTHON, REPO, clean_environ, exit_on_sigterm, machine, table, temp_dir
from bench.common import write_result as save
from shared.config import load_settings
from shared.db import create_session, ensure_schema
from shared.models import Activity, ActivityFile, DownloadState
from tests.web_factories import make_account, seed_activities

SMALL = 1_000


def seed(db_url: str, rows: int) -> int:
    """N activities; every archived one gets a GPX export and a sidecar row. Manifest entries."""
    ensure_schema(db_url)
    with create_session(db_url) as session:
        account = make_account(session)
        seed_activities(session, account.id, rows)
        session.flush()
        archived = list(
            session.execute(
                select(Activity.id, Activity.file_path).where(Activity.state == DownloadState.DOWNLOADED)
            ).tuples()
        )
        beside: list[dict[str, Any]] = []
        for activity_id, path in archived:
            stem = path.removesuffix(".fit")
            for fmt in ("gpx", "json"):
                beside.append(
                    {
                        "activity_id": activity_id,
                        "format": fmt,
                        "path": f"{stem}.{fmt}",
                        "size": 4_000,
                        "sha256": f"{activity_id:064x}",
                        "details": False,
                        "attempts": 0,
                    }
                )
            if len(beside) >= 10_000:
                session.execute(insert(ActivityFile), beside)
                beside = []
        if beside:
            session.execute(insert(ActivityFile), beside)
    return len(archived) * 3


def measured(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Run `argv`; (seconds, peak RSS in MB) of that process alone."""
    began = time.monotonic()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _pid, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.monotonic() - began
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(
            f"{' '.join(argv)} failed: {proc.stderr.read().decode()[-2000:] if proc.stderr else ''}"
        )
    return elapsed, usage.ru_maxrss / 1024  # kilobytes on Linux


def run_backend(backend: str, db_url: str | None, rows: int, tmp: Path) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    for count in (SMALL, rows):
        data = tmp / f"{backend}-{count}"
        url = db_url or f"sqlite:///{data / 'garmin.db'}"
        if db_url:  # one PostgreSQL database per size
            url = _fresh_pg(db_url, f"bench_export_{count}")
        env = {
            **clean_environ(),
            "GARMINSYNC_DATA_DIR": str(data),
            "DATABASE_URL": url,
            "GARMINSYNC_ENV_FILE": str(tmp / "no.env"),
            "PYTHONPATH": str(REPO),
        }
        settings = load_settings(environ=env, env_file=tmp / "no.env")
        seeded = time.monotonic()
        # In a process of its own: a child's peak RSS counts the parent's at fork (Linux keeps
        # the larger), so this process must stay small.
        entries = int(
            subprocess.run(
                [PYTHON, "-m", "bench.bench_export", "--seed", settings.database_url, str(count)],
                env=env, cwd=REPO, check=True, capture_output=True, text=True,
            ).stdout.split()[-1]
        )  # fmt: skip
        seeded = time.monotonic() - seeded
        for fmt in ("csv", "json", "parquet"):
            out = data / f"catalogue.{fmt}"
            seconds, peak = measured([GARMINSYNC, "export", "-f", fmt, "-o", str(out)], env)
            results.append(_row(backend, count, f"export {fmt}", seconds, peak, out.stat().st_size, seeded))
        code = "from shared.config import load_settings; from shared.runtime import Runtime; " \
            "from shared.manifest import write_manifest; s = load_settings(); " \
            "write_manifest(s.database_url, Runtime.build(s).storage)"  # fmt: skip
        seconds, peak = measured([PYTHON, "-c", code], env)
        size = (data / "manifest.json").stat().st_size
        results.append({**_row(backend, count, "manifest", seconds, peak, size, seeded), "entries": entries})
    return results


def _row(backend: str, count: int, what: str, seconds: float, peak: float, size: int, seeded: float) -> dict:
    return {
        "backend": backend,
        "activities": count,
        "what": what,
        "seconds": round(seconds, 2),
        "rows_per_s": round(count / seconds),
        "peak_rss_mb": round(peak, 1),
        "output_mb": round(size / 1e6, 1),
        "seed_s": round(seeded, 1),
    }


def own_peak_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _fresh_pg(admin_url: str, name: str) -> str:
    from tests.servers import create_database

    return create_database(admin_url, name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--seed", nargs=2, metavar=("DATABASE_URL", "ROWS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.seed:
        print(seed(args.seed[0], int(args.seed[1])))
        return 0
    exit_on_sigterm()
    results: list[dict[str, Any]] = []
    with temp_dir("export") as tmp:
        if args.backend in ("sqlite", "both"):
            results += run_backend("sqlite", None, args.rows, tmp)
        if args.backend in ("postgresql", "both"):
            from tests.servers import postgres_available, postgres_server

            if postgres_available():
                with postgres_server() as admin:
                    results += run_backend("postgresql", admin, args.rows, tmp)
            else:
                print("PostgreSQL not available: skipped", file=sys.stderr)
    keys = ("backend", "activities", "what", "seconds", "rows_per_s", "peak_rss_mb", "output_mb")
    print(table(keys, [[r[k] for k in keys] for r in results], "Export and manifest"))
    print(f"(peak RSS of this runner, a floor for the figures above: {own_peak_mb():.1f} MB)")
    path = save("export", {"machine": machine(), "rows": args.rows, "results": results})
    print(f"\nresults: {path.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
