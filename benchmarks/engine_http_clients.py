"""Why the http plugin has a lean HTTP/1.1 path: CPU per request of httpx.AsyncClient
(shared, keep-alive) and of the plugin's h11 pool (plugins/_http11.py), sequential and
1,000 at once, against the same local asyncio server (its own process). The figures
behind docs/architecture.md, "Why a lean HTTP/1.1 path beside httpx".

    nice python benchmarks/engine_http_clients.py [--requests 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from engine_harness import http_server


async def _httpx(url: str, n: int, together: int) -> tuple[float, float]:
    import httpx

    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:

        async def one() -> int:
            response = await client.get(url)
            return response.status_code

        return await _timed(one, n, together)


async def _lean(url: str, n: int, together: int) -> tuple[float, float]:
    from runbook_engine.plugins._http11 import Pool, Progress

    pool, parts = Pool(), urlsplit(url)

    async def one() -> int:
        answer = await pool.request("GET", parts, {}, {}, (None, None), Progress())
        return answer.status

    try:
        return await _timed(one, n, together)
    finally:
        await pool.aclose()


async def _timed(one: Callable[[], Awaitable[Any]], n: int, together: int) -> tuple[float, float]:
    await one()  # warm-up: imports, a first connection
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(n // together):
        statuses = await asyncio.gather(*(one() for _ in range(together)))
        assert set(statuses) == {200}, statuses
    done = (n // together) * together
    return (time.perf_counter() - wall) / done * 1000, (time.process_time() - cpu) / done * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=1000)
    args = parser.parse_args()
    print(f"CPU per request (ms), {args.requests} requests to a local server that answers at once")
    with http_server() as base:
        url = f"{base}/health"
        for together in (1, 1000):
            for name, client in (("httpx.AsyncClient", _httpx), ("lean h11 pool", _lean)):
                try:
                    wall, cpu = asyncio.run(client(url, args.requests, together))
                    print(f"  {name:<18} {together:>4} at once: {cpu:6.3f} ms CPU  {wall:6.3f} ms wall")
                except Exception as exc:  # httpx's pool gives up at 1,000 at once on a busy machine
                    print(f"  {name:<18} {together:>4} at once: failed: {type(exc).__name__}: {exc}")


if __name__ == "__main__":
    main()
