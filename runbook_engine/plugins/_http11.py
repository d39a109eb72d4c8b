"""A lean HTTP/1.1 client for plain http:// checks: asyncio streams and h11, one pool of
keep-alive connections per run.

Why not httpx for these: measured on the benchmark machine (docs/architecture.md),
httpx.AsyncClient spends about 1.2 ms of CPU per request on a warm keep-alive connection
(its request and response models, the httpcore pool, anyio); this path spends about
0.2 ms, which is what lets a thousand checks share one thread within a second. h11 is
the parser httpx itself uses. https://, proxies, credentials in the URL and redirects
still go through httpx (TLS and proxy handling are not worth writing twice).
"""

from __future__ import annotations

import asyncio
import json
import os
import zlib
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import SplitResult, parse_qsl, urlencode, urlsplit

import h11

from runbook_engine.plugin import StepError

USER_AGENT = "runbook-engine"
READ_SIZE = 65536
IDLE_PER_HOST = 1000  # connections kept open for reuse, per host and port


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    text: str


@dataclass
class Progress:
    """How far a request got, so a timeout can say which part did not arrive."""

    head: bool = False


def lean_target(url: str, follow_redirects: bool) -> SplitResult | None:
    """The parsed URL when the lean path can send it (plain http, no proxy for it, no
    credentials in it, no redirects to follow); None means: use httpx."""
    if follow_redirects or not url.startswith("http://"):
        return None
    parts = urlsplit(url)
    if parts.username is not None or not parts.hostname:
        return None
    proxies = _proxies()
    if ("http" in proxies or "all" in proxies) and not _bypass(parts.hostname):
        return None
    return parts


_PROXIES: list[dict[str, str]] = []


def _proxies() -> dict[str, str]:
    if not _PROXIES:  # the environment is read once per process, as httpx reads it once per client
        from urllib.request import getproxies  # 28 ms to import: only here, once

        _PROXIES.append(getproxies())
    return _PROXIES[0]


def _bypass(host: str) -> bool:
    from urllib.request import proxy_bypass

    return bool(proxy_bypass(host))


def _query(parts: SplitResult, params: dict[str, Any]) -> str:
    """The path and query to send; params replace same-named keys of the URL's own query
    (httpx's copy_merge_params)."""
    path = parts.path or "/"
    if not params:
        return f"{path}?{parts.query}" if parts.query else path
    merged = dict(parse_qsl(parts.query, keep_blank_values=True))
    for key, value in params.items():
        merged[key] = "true" if value is True else "false" if value is False else str(value)
    return f"{path}?{urlencode(merged)}"


def encode_body(json_body: Any, body: str | None) -> tuple[bytes | None, str | None]:
    """The request body and its content type, encoded as httpx encodes `json=`."""
    if json_body is not None:
        text = json.dumps(json_body, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        return text.encode(), "application/json"
    if body is not None:
        return body.encode(), None
    return None, None


@dataclass
class _Conn:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    h11: h11.Connection = field(default_factory=lambda: h11.Connection(h11.CLIENT))

    def usable(self) -> bool:
        return not (self.reader.at_eof() or self.writer.transport.is_closing())

    def close(self) -> None:
        self.writer.transport.abort()


class Pool:
    """Keep-alive connections by (host, port), used only from the engine loop."""

    def __init__(self) -> None:
        self.idle: dict[tuple[str, int], list[_Conn]] = {}

    async def request(
        self,
        method: str,
        parts: SplitResult,
        headers: dict[str, str],
        params: dict[str, Any],
        body: tuple[bytes | None, str | None],
        progress: Progress,
    ) -> Answer:
        host, port = parts.hostname or "", parts.port or 80
        conn, reused = await self._conn(host, port)
        while True:
            try:
                return await self._exchange(conn, method, parts, headers, params, body, progress)
            except (h11.RemoteProtocolError, ConnectionError) as exc:
                conn.close()
                if not reused or progress.head:
                    raise StepError(_closed(exc)) from None
                # The server dropped an idle connection before answering: once more, fresh.
                conn, reused = await self._conn(host, port, fresh=True)
            except BaseException:  # cancelled (timeout, Ctrl-C) or broken: never reuse it
                conn.close()
                raise

    async def _conn(self, host: str, port: int, fresh: bool = False) -> tuple[_Conn, bool]:
        idle = self.idle.get((host, port))
        while idle and not fresh:
            conn = idle.pop()
            if conn.usable():
                return conn, True
            conn.close()
        try:
            reader, writer = await asyncio.open_connection(host, port, limit=READ_SIZE)
        except OSError as exc:
            raise StepError(f"connection failed ({errno_text(exc)})") from None
        return _Conn(reader, writer), False

    async def _exchange(
        self,
        conn: _Conn,
        method: str,
        parts: SplitResult,
        headers: dict[str, str],
        params: dict[str, Any],
        body: tuple[bytes | None, str | None],
        progress: Progress,
    ) -> Answer:
        content, content_type = body
        sent = {
            "host": parts.netloc,
            "accept": "*/*",
            "accept-encoding": "gzip, deflate",
            "connection": "keep-alive",
            "user-agent": USER_AGENT,
        }
        if content is not None:
            sent["content-length"] = str(len(content))
            if content_type:
                sent["content-type"] = content_type
        sent.update({k.lower(): v for k, v in headers.items()})
        request = h11.Request(method=method, target=_query(parts, params), headers=list(sent.items()))
        wire = conn.h11.send(request) or b""
        if content:
            wire += conn.h11.send(h11.Data(data=content)) or b""
        wire += conn.h11.send(h11.EndOfMessage()) or b""
        conn.writer.write(wire)
        status: int = 0
        got: list[tuple[bytes, bytes]] = []
        chunks: list[bytes] = []
        while True:
            event = conn.h11.next_event()
            if event is h11.NEED_DATA:
                conn.h11.receive_data(await conn.reader.read(READ_SIZE))
            elif isinstance(event, h11.Response):
                progress.head = True
                status, got = event.status_code, list(event.headers)
            elif isinstance(event, h11.Data):
                chunks.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                break
            elif isinstance(event, h11.ConnectionClosed):
                raise h11.RemoteProtocolError("the server closed the connection mid-answer")
        answer = _answer(status, got, b"".join(chunks))
        if conn.h11.our_state is h11.DONE and conn.h11.their_state is h11.DONE:
            conn.h11.start_next_cycle()
            idle = self.idle.setdefault((parts.hostname or "", parts.port or 80), [])
            if len(idle) < IDLE_PER_HOST:
                idle.append(conn)
                return answer
        conn.close()
        return answer

    async def aclose(self) -> None:
        for conns in self.idle.values():
            for conn in conns:
                conn.close()
        self.idle.clear()
        await asyncio.sleep(0)  # let the transports finish closing on this loop


def _answer(status: int, raw_headers: list[tuple[bytes, bytes]], body: bytes) -> Answer:
    headers: dict[str, str] = {}
    for name, value in raw_headers:  # repeated headers joined, as httpx's headers.items() does
        key, text = name.decode("latin-1").lower(), value.decode("latin-1")
        headers[key] = f"{headers[key]}, {text}" if key in headers else text
    encoding = headers.get("content-encoding", "").strip().lower()
    if encoding in ("gzip", "deflate") and body:
        try:
            body = zlib.decompress(body, 16 + zlib.MAX_WBITS if encoding == "gzip" else zlib.MAX_WBITS)
        except zlib.error as exc:
            raise StepError(f"the {encoding} body could not be decoded: {exc}") from None
    charset = _charset(headers.get("content-type", ""))
    try:
        text = body.decode(charset, errors="replace")
    except LookupError:
        text = body.decode("utf-8", errors="replace")
    return Answer(status, headers, text)


def _charset(content_type: str) -> str:
    for part in content_type.split(";")[1:]:
        key, _, value = part.strip().partition("=")
        if key.lower() == "charset" and value:
            return value.strip("'\" ")
    return "utf-8"


def _closed(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    if "without sending" in text or "closed" in text.lower() or isinstance(exc, ConnectionError):
        return f"the server closed the connection without a complete answer ({text})"
    return f"the answer is not valid HTTP/1.1 ({text})"


def errno_text(exc: OSError) -> str:
    """`[Errno 111] Connection refused`, as a blocking socket says it (asyncio says
    "Connect call failed" with the address instead)."""
    text = exc.strerror or ""
    if exc.errno and (not text or text.startswith("Connect call failed")):
        text = os.strerror(exc.errno)
    return f"[Errno {exc.errno}] {text}" if exc.errno and text else str(exc)
