"""A real asyncio HTTP/1.1 server on 127.0.0.1 in a thread of its own, for what the
threaded test server cannot do: hold a thousand connections, accept and never answer,
trickle its answer, and count the connections clients close.

Paths choose the answer: /ok -> 200, /busy -> 503, /redirect -> 302 to /ok, /close -> the connection is closed
without an answer, /hang -> never answers, /trickle -> the status line and headers one
byte every 0.2 s (never finishing within a test's timeout).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class Stats:
    accepted: int = 0
    closed_by_client: int = 0
    requests: dict[str, int] = field(default_factory=dict)


class RawServer:
    def __init__(self) -> None:
        self.stats = Stats()
        self.loop = asyncio.new_event_loop()
        self.port = 0
        ready = threading.Event()
        self.thread = threading.Thread(target=self._serve, args=(ready,), daemon=True)
        self.thread.start()
        ready.wait(10)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _serve(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(
            asyncio.start_server(self._handle, "127.0.0.1", 0, backlog=2048)
        )
        self.port = server.sockets[0].getsockname()[1]
        self.server = server
        ready.set()
        self.loop.run_forever()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.stats.accepted += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                path = head.split(b" ", 2)[1].decode().split("?")[0]
                self.stats.requests[path] = self.stats.requests.get(path, 0) + 1
                if path == "/close":
                    return
                if path in ("/hang", "/trickle"):
                    await self._hold(reader, writer, trickle=path == "/trickle")
                    return
                status, body, extra = {
                    "/busy": ("503 Service Unavailable", b"busy", ""),
                    "/redirect": ("302 Found", b"", "Location: /ok\r\n"),
                }.get(path, ("200 OK", b"ok", ""))
                answer = f"HTTP/1.1 {status}\r\n{extra}Content-Length: {len(body)}\r\n\r\n"
                writer.write(answer.encode() + body)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            self.stats.closed_by_client += 1
        finally:
            writer.close()

    async def _hold(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, trickle: bool) -> None:
        """Never finish answering; count the client giving up (its end closes)."""
        head = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Pad: " + b"x" * 1000
        for byte in head if trickle else b"":
            writer.write(bytes([byte]))
            try:
                await writer.drain()
                await asyncio.wait_for(reader.read(1), 0.2)  # b"" once the client closes
                self.stats.closed_by_client += 1
                return
            except TimeoutError:
                continue
            except ConnectionError:
                self.stats.closed_by_client += 1
                return
        if await reader.read(1) == b"":
            self.stats.closed_by_client += 1

    def close(self) -> None:
        def stop() -> None:
            self.server.close()
            self.loop.stop()

        self.loop.call_soon_threadsafe(stop)
        self.thread.join(10)
        self.loop.run_until_complete(self.server.wait_closed())
        self.loop.close()


@contextmanager
def raw_server() -> Iterator[RawServer]:
    server = RawServer()
    try:
        yield server
    finally:
        server.close()
