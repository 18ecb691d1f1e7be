"""What every benchmark needs: a clean environment, servers, the CLI, tables, results.

The servers are the ones the integration tests use (`tests/servers.py`,
`tests/stack.py`): a real `redis-server`, a throw-away PostgreSQL cluster and
real Celery worker processes. Everything a benchmark starts is stopped and
every temporary directory removed on the way out, also on SIGTERM (which is
what `python -m bench` sends a benchmark that overruns its time).
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
PYTHON = sys.executable
GARMINSYNC = str(Path(sys.executable).with_name("garminsync"))

# Settings a developer's own environment might carry into a benchmark.
_OURS = ("GARMIN", "GARMINTOKENS", "GARMINSYNC_", "DATABASE_URL", "REDIS_URL")


class BenchError(RuntimeError):
    """A benchmark could not measure (a command failed, a run never finished)."""


def clean_environ() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(_OURS)}


def exit_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit so `finally` blocks stop workers and remove temp dirs."""

    def handler(signum: int, _frame: Any) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


@contextlib.contextmanager
def temp_dir(prefix: str) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix=f"gs-bench-{prefix}-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def sim_env(sim_url: str, tokens_json: str, data_dir: Path, **overrides: str) -> dict[str, str]:
    """The product's settings pointing at the simulator (no .env is read: cwd is the temp dir)."""
    env = {
        **clean_environ(),
        "GARMINSYNC_DATA_DIR": str(data_dir),
        "GARMINSYNC_GARMIN_API_URL": sim_url,
        "GARMINTOKENS": tokens_json,
        "GARMINSYNC_SECRET_KEY": "bench-secret",
        "GARMINSYNC_RETRY_BASE": "0.5",
        "GARMINSYNC_COOLDOWN": "1",
        "GARMINSYNC_ENV_FILE": str(data_dir / "no.env"),
        "PYTHONPATH": str(REPO),
    }
    env.update(overrides)
    return env


def garminsync(
    env: dict[str, str], *args: str, timeout: float = 300, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Exec the console script as a user would."""
    try:
        result = subprocess.run(
            [GARMINSYNC, *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=env.get("GARMINSYNC_DATA_DIR") and str(Path(env["GARMINSYNC_DATA_DIR"]).parent),
        )
    except subprocess.TimeoutExpired:
        raise BenchError(f"`garminsync {' '.join(args)}` took over {timeout:.0f}s") from None
    if check and result.returncode != 0:
        raise BenchError(
            f"`garminsync {' '.join(args)}` exited {result.returncode}:\n{result.stderr[-2000:]}"
        )
    return result


def last_json(stdout: str) -> dict[str, Any]:
    """The JSON document a `--json` command printed (the last `{...}` block)."""
    start = stdout.find("{")
    if start < 0:
        raise BenchError(f"no JSON in output: {stdout[-500:]!r}")
    value = json.loads(stdout[start:])
    if not isinstance(value, dict):
        raise BenchError("expected a JSON object")
    return value


def wait_until(predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.2) -> float:
    """Poll until true; return the seconds it took. BenchError on timeout."""
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        if predicate():
            return time.monotonic() - began
        time.sleep(interval)
    raise BenchError(f"timed out after {timeout:.0f}s waiting for {what}")


# --- machine and results -----------------------------------------------------------


def _meminfo_total_mb() -> int | None:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    return None


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _version(argv: list[str]) -> str | None:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return (out.stdout or out.stderr).strip().splitlines()[0] if (out.stdout or out.stderr) else None


def code_version() -> dict[str, Any]:
    """The commit measured, and which product files differ from it (work in progress)."""

    def git(*args: str) -> str:
        try:
            out = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return ""
        return out.stdout

    status = git("status", "--porcelain", "--", "shared", "services", "alembic")
    changed = [line[3:] for line in status.splitlines() if line.strip()]
    return {"commit": git("rev-parse", "--short", "HEAD").strip() or None, "uncommitted": changed}


def machine() -> dict[str, Any]:
    redis_bin = shutil.which("redis-server")
    return {
        "nproc": os.cpu_count(),
        "cpu": _cpu_model(),
        "memory_mb": _meminfo_total_mb(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "redis": _version([redis_bin, "--version"]) if redis_bin else None,
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "code": code_version(),
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def load1() -> float:
    return round(os.getloadavg()[0], 2)


def write_result(name: str, data: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    data.setdefault("code_at_end", code_version())  # differs from machine.code if it changed meanwhile
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")
    return path


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], title: str = "") -> str:
    """A plain aligned text table (numbers right-aligned)."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    numeric = [all(_is_number(row[i]) for row in rows) if rows else False for i in range(len(headers))]

    def line(values: Sequence[str]) -> str:
        parts = [v.rjust(widths[i]) if numeric[i] else v.ljust(widths[i]) for i, v in enumerate(values)]
        return "  ".join(parts).rstrip()

    out = [title] if title else []
    out.append(line(list(headers)))
    out.append("  ".join("-" * w for w in widths))
    out.extend(line(r) for r in cells)
    return "\n".join(out)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"
    return "-" if value is None else str(value)


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


# --- a stack: simulator, data dir, settings, imported tokens, workers -------------------


def db_counts(db_url: str) -> dict[str, int]:
    """How many activities are in each download state."""
    from sqlalchemy import func, select

    from shared.db import create_session
    from shared.models import Activity

    with create_session(db_url) as session:
        rows = session.execute(select(Activity.state, func.count()).group_by(Activity.state)).tuples().all()
    return {str(state): int(n) for state, n in rows}


def import_tokens(env: dict[str, str]) -> None:
    """`garminsync login --tokens`: schema, default account, tokens in the store (no request)."""
    garminsync(env, "login", "--tokens", env["GARMINTOKENS"], timeout=120)


def run_cases(
    name: str,
    cases: Sequence[Any],
    run: Callable[[Any, str, Path], dict[str, Any]],
    describe: Callable[[Any], str],
    summarize: Callable[[dict[str, Any]], str],
) -> list[dict[str, Any]]:
    """Each case in a temp dir against one redis-server; a case that cannot measure is an error row."""
    from dataclasses import asdict

    from tests.servers import RedisServer

    results: list[dict[str, Any]] = []
    server = RedisServer()
    try:
        server.start()
        for case in cases:
            print(f"- {describe(case)} …", flush=True)
            try:
                with temp_dir(name) as root:
                    result = run(case, server.url, root)
            except BenchError as exc:
                print(f"  could not measure: {exc}", flush=True)
                results.append({"case": asdict(case), "error": str(exc)})
                continue
            results.append(result)
            print(f"  {summarize(result)}", flush=True)
    finally:
        server.cleanup()
    return results


def open_default_run(runtime: Any, trigger: str = "bench") -> tuple[int, int]:
    """(account id, run id) of a new sync run of the default account, as the faces open one."""
    from shared.accounts import get_or_create_account
    from shared.db import create_session
    from shared.runs import open_run

    settings = runtime.settings
    with create_session(settings.database_url) as session:
        account_id = get_or_create_account(session, settings).id
    return account_id, open_run(settings.database_url, account_id, trigger, False)
