"""A real local webhook receiver for the notification tests: Apprise's `json://` posts to it.

A small threaded `http.server` on 127.0.0.1; it keeps every request (path,
headers, body) and answers `status` (200, or 500 to test a failed delivery).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HOOK_USER = "hookuser"
HOOK_PASSWORD = "hook-s3cret-pw"  # the URL's secrets: never in a message, a page or a log
HOOK_PATH_TOKEN = "tk-9f8e7d6c5b4a"


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    raw: bytes

    @property
    def json(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.raw)
        return data

    @property
    def title(self) -> str:
        return str(self.json.get("title", ""))

    @property
    def message(self) -> str:
        return str(self.json.get("message", ""))


class Receiver:
    def __init__(self) -> None:
        self.status = 200
        self.received: list[Received] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with receiver._lock:
                    receiver.received.append(Received(self.path, dict(self.headers), body))
                    status = receiver.status
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(b"ok" if status < 400 else b"broken")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self.server.server_address[1])
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def url(self) -> str:
        """The Apprise URL, with a password and a path token that must stay secret."""
        return f"json://{HOOK_USER}:{HOOK_PASSWORD}@127.0.0.1:{self.port}/hooks/{HOOK_PATH_TOKEN}"

    @property
    def secrets(self) -> set[str]:
        return {HOOK_PASSWORD, HOOK_PATH_TOKEN, self.url}

    def messages(self) -> list[Received]:
        with self._lock:
            return list(self.received)

    def titled(self, text: str) -> list[Received]:
        return [m for m in self.messages() if text in m.title]

    def wait_for(self, count: int, timeout: float = 30.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.messages()
            if len(got) >= count:
                return got
            time.sleep(0.05)
        raise TimeoutError(f"expected {count} notification(s), got {len(self.messages())}")
