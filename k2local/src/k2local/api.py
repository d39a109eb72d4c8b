"""The K2 query API process: JSON over stdlib ThreadingHTTPServer, bound to 127.0.0.1.

The routes and their answers are in routes.py; this module is the HTTP plumbing (body
limits, error pages, request metrics) and the process's start and stop.

Run: K2_API_KEY=... python -m k2local.api --home DIR [--port 8000]
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import prometheus_client

from k2local.home import DEFAULT_PORT, Home, resolve_home
from k2local.lifecycle import log, stop_event
from k2local.routes import ENDPOINTS, MAX_BODY_BYTES, ApiError, K2Api, json_response


class Handler(BaseHTTPRequestHandler):
    server: K2Server
    server_version = "k2-local"

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        started = time.perf_counter()
        url = urlsplit(self.path)
        path = url.path.rstrip("/") or "/"
        # Unknown paths share one label so scanners cannot blow up cardinality.
        endpoint = path if path in ENDPOINTS else "other"
        app = self.server.app
        try:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY_BYTES:
                raise ApiError(413, "request body too large")
            body = self.rfile.read(length) if length else b""
            resp = app.handle(method, path, parse_qs(url.query), self.headers, body)
        except ApiError as exc:
            resp = json_response(exc.status, {"error": exc.message})
        except Exception as exc:
            traceback.print_exc()
            resp = json_response(500, {"error": f"internal error: {type(exc).__name__}: {exc}"})
        # Count before replying, so a client that got its answer and scrapes
        # /metrics next is guaranteed to see its own request.
        app.metrics.observe_request(endpoint, resp.status, time.perf_counter() - started)
        try:
            self.send_response(resp.status)
            self.send_header("Content-Type", resp.content_type)
            self.send_header("Content-Length", str(len(resp.body)))
            self.end_headers()
            self.wfile.write(resp.body)
        except OSError:
            pass  # client went away

    def log_message(self, format: str, *args: Any) -> None:
        log("api", f"{self.address_string()} {format % args}")


class K2Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int, app: K2Api) -> None:
        self.app = app
        super().__init__(("127.0.0.1", port), Handler)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m k2local.api", description=__doc__)
    p.add_argument("--home")
    p.add_argument("--port", type=int, default=DEFAULT_PORT)
    a = p.parse_args(argv)
    key = os.environ.get("K2_API_KEY", "")
    if not key:
        print(
            "k2-local api: K2_API_KEY is not set; refusing to start an unprotected API",
            file=sys.stderr,
        )
        return 2
    stop = stop_event()
    # Plain *_total series only; *_created samples just confuse runbook checks.
    prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]
    home = Home(resolve_home(a.home))
    app = K2Api(home, key)
    try:
        server = K2Server(a.port, app)
    except OSError as exc:
        print(f"k2-local api: cannot listen on 127.0.0.1:{a.port}: {exc}", file=sys.stderr)
        return 1
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True
    )
    thread.start()
    log("api", f"listening on http://127.0.0.1:{server.server_address[1]} pid={os.getpid()}")
    stop.wait()
    # shutdown() blocks until serve_forever returns; calling it from a signal
    # handler can deadlock, so the handler only sets the event we wait on.
    server.shutdown()
    server.server_close()
    log("api", "stopped on signal")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
