"""Open a TCP connection to a host and port (check).

Runs on the engine loop (`run_async`): a thousand of these wait together in one thread.
"""

from __future__ import annotations

import asyncio
import os
import time

from pydantic import Field

from runbook_engine.plugin import Context, Outputs, PluginSpec

# Without an `expect:` of its own, a step must show this to pass.
DEFAULT_EXPECT = ["connected"]
KINDS = frozenset({"check"})
OUTPUTS = {
    "connected": "true when the connection was accepted",
    "elapsed_ms": "time to connect (or to fail), in milliseconds",
    "error": "why the connection failed, or null",
}


class Spec(PluginSpec):
    host: str = Field(description="Host name or address.")
    port: int = Field(ge=1, le=65535, description="TCP port.")


def run(spec: Spec, ctx: Context) -> Outputs:
    """The synchronous contract (runbook_engine.testing, other callers)."""
    return asyncio.run(run_async(spec, ctx))


async def run_async(spec: Spec, ctx: Context) -> Outputs:
    # A refused connection is a fact about the target (connected: false), not an error
    # of the check: the engine judges it with `expect: connected`.
    timeout = ctx.remaining() or 10.0
    start = time.perf_counter()
    error: str | None = None
    try:
        async with asyncio.timeout(timeout):
            _, writer = await asyncio.open_connection(spec.host, spec.port)
        writer.transport.abort()  # only the handshake was the question
    except TimeoutError:
        error = "timed out"
    except OSError as exc:
        error = _why(exc)
    elapsed_ms = round((time.perf_counter() - start) * 1000, 3)
    return {"connected": error is None, "elapsed_ms": elapsed_ms, "error": error}


def _why(exc: OSError) -> str:
    """Why, as a blocking socket says it ("Connection refused"): asyncio's own text for a
    failed connect is "Connect call failed (address)", which says less."""
    text = exc.strerror or ""
    if exc.errno and (not text or text.startswith("Connect call failed")):
        return os.strerror(exc.errno)
    return text or str(exc)
