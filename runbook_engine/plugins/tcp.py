"""Open a TCP connection to a host and port (check)."""

from __future__ import annotations

import socket
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
    # A refused connection is a fact about the target (connected: false), not an error
    # of the check: the engine judges it with `expect: connected`.
    timeout = ctx.remaining() or 10.0
    start = time.perf_counter()
    try:
        with socket.create_connection((spec.host, spec.port), timeout=timeout):
            error = None
    except OSError as exc:
        error = exc.strerror or str(exc)
    elapsed_ms = round((time.perf_counter() - start) * 1000, 3)
    return {"connected": error is None, "elapsed_ms": elapsed_ms, "error": error}
