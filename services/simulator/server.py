"""Run the simulator on a real socket (werkzeug's threaded server) in a thread.

Tests and benchmarks use it as a context manager; the CLI uses it too.
"""

from __future__ import annotations

import logging
import threading
from types import TracebackType
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from .app import create_app
from .state import SimState


class _QuietHandler(WSGIRequestHandler):
    """Request logging off by default: a benchmark makes thousands of requests."""

    verbose = False

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        if self.verbose:
            super().log_request(code, size)


class _VerboseHandler(_QuietHandler):
    verbose = True


class SimulatorServer:
    """A Garmin Connect simulator on ``host:port`` (port 0 picks a free one).

    ``options`` go to :class:`SimState` (``token_ttl``, ``mfa``, ``gpx_ratio``,
    ``tcx_ratio``, ``manual_ratio``, ``manual_status``, ``fit_records``, ...).
    It starts with the default account; ``state.add_account`` adds more.
    """

    def __init__(
        self,
        activities: int = 300,
        seed: int = 1,
        latency_ms: int = 0,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        log_requests: bool = False,
        **options: Any,
    ) -> None:
        self.state = SimState(activities, seed, latency_ms=latency_ms, **options)
        self.app = create_app(self.state)
        self._host = host
        self._port = port
        self._handler = _VerboseHandler if log_requests else _QuietHandler
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("simulator is not running")
        host = self._host if self._host not in ("0.0.0.0", "::") else "127.0.0.1"  # noqa: S104
        return f"http://{host}:{self._server.server_port}"

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("simulator is not running")
        return int(self._server.server_port)

    def start(self) -> SimulatorServer:
        if self._server is not None:
            return self
        if not logging.getLogger("werkzeug").handlers and self._handler is _QuietHandler:
            logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self._server = make_server(
            self._host, self._port, self.app, threaded=True, request_handler=self._handler
        )
        server = self._server
        # A short poll interval makes stop() quick (tests start many servers).
        self._thread = threading.Thread(
            target=lambda: server.serve_forever(poll_interval=0.05),
            name="garmin-simulator",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def serve_forever(self) -> None:
        """Block in the calling thread (the CLI's choice is start() + wait)."""
        self.start()
        if self._thread is not None:
            self._thread.join()
