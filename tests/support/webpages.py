"""Real web pages for the browser check: an HTML server, a server that never answers, and a
look at /proc for Chromium processes a test left behind."""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


@dataclass
class Page:
    html: str
    status: int = 200
    delay_s: float = 0.0
    content_type: str = "text/html; charset=utf-8"


@dataclass
class Site:
    """Pages by path, served on 127.0.0.1 at a free port; unknown paths answer 404 (HTML)."""

    pages: dict[str, Page] = field(default_factory=dict)
    hits: list[str] = field(default_factory=list)
    port: int = 0
    scheme: str = "http"

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A fresh self-signed certificate for localhost (openssl), as (cert, key)."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "2", "-subj", "/CN=localhost"],
        check=True,
        capture_output=True,
    )
    return cert, key


@contextmanager
def serve_site(pages: dict[str, Page], tls: tuple[Path, Path] | None = None) -> Iterator[Site]:
    """Serve `pages`; with tls=(cert, key) over HTTPS (the url then starts with https://)."""
    site = Site(pages)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet test output
            pass

        def do_GET(self) -> None:
            site.hits.append(self.path)
            page = site.pages.get(self.path, Page("<title>Not here</title><h1>Not found</h1>", 404))
            time.sleep(page.delay_s)
            data = page.html.encode()
            self.send_response(page.status)
            self.send_header("Content-Type", page.content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    if tls is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*map(str, tls))
        httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
        site.scheme = "https"
    site.port = int(httpd.server_address[1])
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield site
    finally:
        httpd.shutdown()
        httpd.server_close()


@dataclass
class Silent:
    """A server that accepts connections and never answers."""

    port: int
    accepted: threading.Event

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"


@contextmanager
def silent_server() -> Iterator[Silent]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted = threading.Event()
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:  # closed at the end of the test
                return
            held.append(conn)  # keep it open and say nothing
            accepted.set()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield Silent(int(listener.getsockname()[1]), accepted)
    finally:
        listener.close()
        for conn in held:
            conn.close()


def free_port_then_closed() -> int:
    """A port where a server listened a moment ago and nothing listens now (refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def processes_naming(marker: Path) -> list[str]:
    """Live (not zombie) processes whose command line contains the folder `marker`:
    Chromium names its profile folder in the browser's and every child's command line."""
    found = []
    needle = str(marker).encode()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = Path(entry.path, "cmdline").read_bytes()
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        if needle in cmdline and stat[stat.rfind(")") + 2 :].split()[0] != "Z":
            shown = cmdline.replace(b"\0", b" ")[:120].decode(errors="replace")
            found.append(f"{entry.name} {shown}")
    return found


class ProcessWatcher:
    """Counts, while a test runs, the most processes naming `marker` seen at once: proof that
    the browser really ran before a test says none are left."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker
        self.most = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        while not self._stop.is_set():
            self.most = max(self.most, len(processes_naming(self.marker)))
            self._stop.wait(0.1)

    def __enter__(self) -> ProcessWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
