"""A real HTTP server that recovers at a moment it knows exactly, when asked to.

`GET /health` answers 503 until the recovery moment, then 200 `{"status": "healthy"}`.
`POST /recover?after=S` schedules the recovery S seconds later (a recover step calls it);
`POST /break` undoes it. The moment is kept on both clocks: monotonic (for a drill in the
same process) and wall (for a drill's `detected_at`, an ISO time), so a drill's measured
time to recover can be compared with the real one (tests/drills, benchmarks/drill_timing.py).
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


class RecoveryServer:
    def __init__(self) -> None:
        self.recover_at: float | None = None  # monotonic
        self.recovered_wall: float | None = None  # the same moment, time.time()
        self.health_requests = 0
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def healthy(self) -> bool:
        with self.lock:
            return self.recover_at is not None and time.monotonic() >= self.recover_at

    def schedule(self, after: float) -> None:
        with self.lock:
            mono, wall = time.monotonic(), time.time()
            self.recover_at, self.recovered_wall = mono + after, wall + after

    def brk(self) -> None:
        with self.lock:
            self.recover_at = self.recovered_wall = None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                with server.lock:
                    server.health_requests += 1
                ok = server.healthy()
                self._send(200 if ok else 503, {"status": "healthy" if ok else "down"})

            def do_POST(self) -> None:
                url = urlsplit(self.path)
                if url.path == "/recover":
                    server.schedule(float(parse_qs(url.query).get("after", ["0"])[0]))
                elif url.path == "/break":
                    server.brk()
                self._send(200, {"ok": True})

            def _send(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler

    def __enter__(self) -> RecoveryServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def contingency(url: str, after: float, rto: str = "30s") -> str:
    """A contingency whose recover step makes the server healthy `after` seconds later."""
    return f"""
        kind: contingency
        name: api-down
        title: API down
        rto: {rto}
        detect:
          - {{name: API is healthy, check: http, with: {{url: "{url}/health"}}, expect: status == 200}}
        recover:
          - name: Restart the API (healthy {after}s later)
            action: http
            with: {{url: "{url}/recover?after={after}", method: POST}}
        verify:
          - {{name: API is healthy again, check: http, with: {{url: "{url}/health"}}, expect: status == 200}}
    """
