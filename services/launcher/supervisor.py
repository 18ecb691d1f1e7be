"""Children of one process (`garminsync daemon`, `make up`): started, watched, stopped in stages.

`worker` and `beat` on their own exec Celery instead (same pid), so `docker
stop`, systemd and `kill -9` in the tests reach the real process, never a
wrapper; the daemon supervises all three as children.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import FrameType
from typing import IO, Any

from .argv import describe

STOP_GRACE_S = 30.0  # a warm worker shutdown finishes its current downloads


def _child_setup() -> None:  # pragma: no cover - runs in the forked child
    """Linux: the child gets SIGTERM if the supervisor dies (even by kill -9), so nothing is orphaned."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)


@dataclass
class Child:
    name: str
    proc: subprocess.Popen[bytes]
    stage: int  # higher stages stop first: apps (1) before the Redis and simulator they use (0)
    reported: bool = False


@dataclass
class Supervisor:
    """Starts named children, forwards SIGTERM/SIGINT to all, and stops them in stages.

    Each child runs in its own process group, so a terminal's Ctrl-C reaches only
    the supervisor, which then sends one SIGTERM to each child (Celery treats a
    second signal as a cold shutdown). A second Ctrl-C kills what is left.
    """

    out: IO[str] = field(default_factory=lambda: sys.stdout)
    grace_s: float = STOP_GRACE_S
    children: list[Child] = field(default_factory=list)
    signals: int = 0
    _previous: dict[int, Any] = field(default_factory=dict)

    def __enter__(self) -> Supervisor:
        for signum in (signal.SIGTERM, signal.SIGINT):
            self._previous[signum] = signal.signal(signum, self._on_signal)
        return self

    def __exit__(self, *_exc: object) -> None:
        try:
            self.stop()
        finally:
            for signum, handler in self._previous.items():
                signal.signal(signum, handler)
            self._previous.clear()

    def _on_signal(self, _signum: int, _frame: FrameType | None) -> None:
        self.signals += 1
        if self.signals > 1:
            self.kill_all()

    @property
    def stop_requested(self) -> bool:
        return self.signals > 0

    def start(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: dict[str, str] | None = None,
        stage: int = 1,
        stdout: IO[Any] | int | None = None,
        stderr: IO[Any] | int | None = None,
    ) -> subprocess.Popen[bytes]:
        """Start a child and print `started NAME pid=PID: COMMAND`."""
        proc = subprocess.Popen(
            list(argv),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            process_group=0,
            preexec_fn=_child_setup,  # safe: the supervisor runs no threads while it forks
        )
        self.children.append(Child(name, proc, stage))
        print(f"started {name} pid={proc.pid}: {describe(argv)}", file=self.out, flush=True)
        return proc

    def exited(self) -> Child | None:
        """The first child that died on its own, if any."""
        for child in self.children:
            if child.proc.poll() is not None:
                return child
        return None

    def run(self, poll_s: float = 0.2) -> int:
        """Supervise until a signal (0) or a child's death (its code, at least 1)."""
        while not self.stop_requested:
            dead = self.exited()
            if dead is not None:
                return self.report_death(dead)
            time.sleep(poll_s)
        self.stop()
        return 0

    def report_death(self, child: Child) -> int:
        """Say which child died, stop the others, return a non-zero exit code."""
        code = child.proc.returncode
        how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
        child.reported = True
        print(f"error: {child.name} (pid {child.proc.pid}) {how}; stopping the others", file=sys.stderr)
        self.stop()
        return code if code > 0 else 1

    def stop(self) -> None:
        """SIGTERM each stage's children (apps first), wait up to the grace period, then SIGKILL."""
        for stage in sorted({child.stage for child in self.children}, reverse=True):
            group = [c for c in self.children if c.stage == stage and c.proc.poll() is None]
            for child in group:
                with contextlib.suppress(ProcessLookupError):
                    child.proc.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + self.grace_s
            for child in group:
                remaining = max(0.0, deadline - time.monotonic())
                try:
                    child.proc.wait(remaining)
                except subprocess.TimeoutExpired:
                    print(f"{child.name} did not stop in {self.grace_s:.0f}s; killing it", file=sys.stderr)
                    self._kill(child)
            for child in group:  # pool processes of a Celery worker share its process group
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(child.proc.pid, signal.SIGKILL)

    def kill_all(self) -> None:
        for child in self.children:
            if child.proc.poll() is None:
                self._kill(child)

    @staticmethod
    def _kill(child: Child) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.proc.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            child.proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.proc.wait(5)
