"""Real Celery worker and beat processes for the integration tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

GARMINSYNC = str(Path(sys.executable).with_name("garminsync"))


class Processes:
    """`garminsync worker` and `garminsync beat` processes, each in its own process group."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env = env
        self.log_dir = log_dir
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        log_dir.mkdir(parents=True, exist_ok=True)

    def _spawn(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        log = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115  (kept open for the child)
        proc = subprocess.Popen(
            argv, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.procs[name] = proc
        return proc

    def worker(self, name: str, concurrency: int = 2, wait: bool = True) -> subprocess.Popen[bytes]:
        argv = [GARMINSYNC, "worker", "--concurrency", str(concurrency), "--hostname", f"{name}@%h"]
        proc = self._spawn(name, argv)
        if wait:
            self.wait_for_line(name, "ready.")
        return proc

    def beat(self, name: str = "beat") -> subprocess.Popen[bytes]:
        argv = [GARMINSYNC, "beat"]
        return self._spawn(name, argv)

    def log(self, name: str) -> str:
        path = self.log_dir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def wait_for_line(self, name: str, text: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log(name):
                return
            proc = self.procs.get(name)
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}:\n{self.log(name)[-3000:]}")
            time.sleep(0.1)
        raise TimeoutError(f"{name} never logged {text!r}:\n{self.log(name)[-3000:]}")

    def kill9(self, name: str) -> None:
        """SIGKILL the whole process group: the worker and its pool children die at once."""
        proc = self.procs.pop(name)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)

    def stop_one(self, name: str) -> None:
        """SIGTERM one process (a clean stop) and wait for it."""
        proc = self.procs.pop(name)
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for proc in self.procs.values():
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        self.procs.clear()


def wait_until(predicate: object, timeout: float = 60.0, interval: float = 0.2, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(interval)
    raise TimeoutError(f"timed out waiting for {what or predicate}")
