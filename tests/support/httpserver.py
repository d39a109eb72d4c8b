"""A real threaded HTTP server on 127.0.0.1 whose answers a test can change while it runs."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Route:
    status: int = 200
    body: Any = field(default_factory=lambda: {"status": "healthy"})
    delay_s: float = 0.0
    # Answer `fail_status` for the first `fail_first` requests (a flaky or slow-to-start service).
    fail_first: int = 0
    fail_status: int = 503
    # Answer `fail_status` on exactly these request numbers (1-based): a flap.
    fail_on: frozenset[int] = frozenset()
    # Answer `fail_status` while this file exists (a failure another process can cause).
    broken_while: str | None = None
    # Send the body one byte every `trickle_s` seconds (a server that answers but never finishes).
    trickle_s: float = 0.0


class Server:
    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.hits: dict[str, int] = {}
        self.headers_seen: list[dict[str, str]] = []
        self.paths_seen: list[str] = []
        self.lock = threading.Lock()
        handler = self._handler_class()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    def route(self, path: str, **kwargs: Any) -> Route:
        r = Route(**kwargs)
        self.routes[path] = r
        return r

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # quiet test output
                pass

            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                with server.lock:
                    n = server.hits.get(path, 0) + 1
                    server.hits[path] = n
                    server.headers_seen.append({k.lower(): v for k, v in self.headers.items()})
                    server.paths_seen.append(self.path)
                route = server.routes.get(path)
                if route is None:
                    self._send(404, {"error": "not found"})
                    return
                if route.delay_s:
                    time.sleep(route.delay_s)
                broken = route.broken_while is not None and os.path.exists(route.broken_while)
                if n <= route.fail_first or n in route.fail_on or broken:
                    self._send(route.fail_status, {"status": "starting"})
                elif route.trickle_s:
                    self._trickle(route)
                else:
                    self._send(route.status, route.body)

            do_POST = do_GET

            def _trickle(self, route: Route) -> None:
                data = (route.body if isinstance(route.body, str) else json.dumps(route.body)).encode()
                self.send_response(route.status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                try:
                    for i in range(len(data)):
                        self.wfile.write(data[i : i + 1])
                        self.wfile.flush()
                        time.sleep(route.trickle_s)
                except OSError:
                    pass  # the client gave up: that is the point

            def _send(self, status: int, body: Any) -> None:
                data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header(
                    "Content-Type", "text/plain" if isinstance(body, str) else "application/json"
                )
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@contextmanager
def serve() -> Iterator[Server]:
    s = Server()
    s.start()
    try:
        yield s
    finally:
        s.stop()
