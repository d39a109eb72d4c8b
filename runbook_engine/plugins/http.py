"""Send an HTTP request and report the response; with `samples` also latency percentiles.

Runs on the engine loop (`run_async`): plain http:// through the lean HTTP/1.1 pool of
_http11.py, https://, proxies and redirects through httpx; one pool per run.
"""

from __future__ import annotations

import json as jsonlib
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, model_validator

from runbook_engine.plugin import Context, Outputs, PluginSpec, Resources, StepError, require

if TYPE_CHECKING:  # imported when a request is sent: h11 and urllib.request cost ~50 ms at start-up
    from urllib.parse import SplitResult

    from runbook_engine.plugins._http11 import Answer, Progress

# Without an `expect:` of its own, a step must show this to pass.
DEFAULT_EXPECT = ["status < 400"]
KINDS = frozenset({"check", "action"})
OUTPUTS = {
    "status": "HTTP status code of the (last) response",
    "headers": "response headers (lower-case names)",
    "text": "response body as text (at most 64 KiB)",
    "json": "response body parsed as JSON, or null when it is not JSON",
    "elapsed_ms": "time of the (last) request in milliseconds",
    "p50_ms": "with samples: median latency",
    "p95_ms": "with samples: 95th percentile latency",
    "p99_ms": "with samples: 99th percentile latency",
    "max_ms": "with samples: slowest request",
    "errors": "with samples: requests that failed or answered 5xx",
    "samples": "with samples: how many requests were sent",
}
KEEP_CHARS = 64 * 1024


class Spec(PluginSpec):
    url: str = Field(description="The URL, http:// or https://.")
    method: Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] = "GET"
    headers: dict[str, str] = Field(default_factory=dict)
    params: dict[str, str | int | float | bool] = Field(default_factory=dict, description="Query string.")
    json_: Any = Field(default=None, alias="json", description="A JSON request body.")
    body: str | None = Field(default=None, description="A raw request body.")
    verify: bool = Field(default=True, description="Verify TLS certificates.")
    follow_redirects: bool = False
    samples: int = Field(
        default=1, ge=1, le=10000, description="Send the request N times and report percentiles."
    )

    @model_validator(mode="after")
    def _one_body(self) -> Spec:
        if self.json_ is not None and self.body is not None:
            raise ValueError("give json: or body:, not both")
        if not self.url.startswith(("http://", "https://")):
            raise ValueError(f"url must start with http:// or https:// (got {self.url!r})")
        return self


def percentile(sorted_values: list[float], pct: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(pct / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def run(spec: Spec, ctx: Context) -> Outputs:
    """The synchronous contract (runbook_engine.testing, other callers): the same work on
    a private event loop, its connections closed at the end."""
    import asyncio  # here, not at the top: `validate` loads this module and never runs it (~15 ms)

    return asyncio.run(_standalone(spec, ctx))


async def _standalone(spec: Spec, ctx: Context) -> Outputs:
    own = replace(ctx, resources=Resources())
    try:
        return await run_async(spec, own)
    finally:
        await own.resources.aclose()


async def run_async(spec: Spec, ctx: Context) -> Outputs:
    """Send the request(s) on the engine loop, the whole exchange under one deadline: a
    server trickling its answer a byte at a time is cut off at the timeout, and the
    request is cancelled with it (its connection closed)."""
    import asyncio  # already loaded by the engine loop that awaits this

    from runbook_engine.plugins._http11 import Progress, lean_target

    timeout = ctx.remaining() or 30.0
    said = ctx.timeout or timeout  # messages name the step's timeout, not what is left of it
    parts = lean_target(spec.url, spec.follow_redirects)
    send = _lean(spec, ctx, parts) if parts is not None else _httpx(spec, ctx)
    latencies: list[float] = []
    errors = 0
    response: Answer | None = None
    progress = Progress()
    try:
        async with asyncio.timeout(timeout):
            for _ in range(spec.samples):
                progress.head = False
                start = time.perf_counter()
                try:
                    response = await send(progress)
                except StepError as exc:
                    if spec.samples == 1:
                        raise StepError(f"{spec.method} {spec.url}: {exc}") from None
                    errors += 1
                    continue
                latencies.append((time.perf_counter() - start) * 1000)
                if response.status >= 500:
                    errors += 1
    except TimeoutError:
        if progress.head:
            raise StepError(
                f"{spec.method} {spec.url}: the answer did not finish arriving within {said:g}s"
            ) from None
        raise StepError(f"{spec.method} {spec.url}: no answer within {said:g}s") from None
    if response is None:
        raise StepError(f"{spec.method} {spec.url}: all {spec.samples} requests failed")
    return _outputs(spec, response, latencies, errors)


Sender = Callable[["Progress"], Awaitable["Answer"]]


def _lean(spec: Spec, ctx: Context, parts: SplitResult) -> Sender:
    from runbook_engine.plugins._http11 import Pool, encode_body

    pool: Pool = ctx.resources.get("http11", Pool, close=lambda p: p.aclose())
    body = encode_body(spec.json_, spec.body)

    def send(progress: Progress) -> Awaitable[Answer]:
        return pool.request(spec.method, parts, spec.headers, spec.params, body, progress)

    return send


def _httpx(spec: Spec, ctx: Context) -> Sender:
    """https://, proxies, redirects: httpx, one client (one SSL context) per verify setting per run."""
    from runbook_engine.plugins._http11 import USER_AGENT, Answer, encode_body

    httpx = require("httpx", "http")
    client = ctx.resources.get(
        f"httpx-verify-{spec.verify}",
        lambda: httpx.AsyncClient(
            verify=spec.verify,
            timeout=None,  # the step's deadline covers the whole exchange
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=100),
            headers={"user-agent": USER_AGENT},
        ),
        close=lambda c: c.aclose(),
    )
    # httpx's `params=` replaces the URL's own query string: merge into the URL instead.
    url = httpx.URL(spec.url).copy_merge_params(spec.params) if spec.params else spec.url
    content, content_type = encode_body(spec.json_, spec.body)
    headers = dict(spec.headers)
    if content_type and not any(k.lower() == "content-type" for k in headers):
        headers["content-type"] = content_type

    async def send(progress: Progress) -> Answer:
        try:
            request = client.build_request(spec.method, url, headers=headers, content=content)
            response = await client.send(request, stream=True, follow_redirects=spec.follow_redirects)
            try:
                progress.head = True
                body = await response.aread()
            finally:
                await response.aclose()
        except httpx.HTTPError as exc:
            raise StepError(_reason(exc)) from None
        return Answer(
            status=response.status_code,
            headers={k.lower(): v for k, v in response.headers.items()},
            text=body.decode(response.charset_encoding or "utf-8", errors="replace"),
        )

    return send


def _outputs(spec: Spec, response: Answer, latencies: list[float], errors: int) -> Outputs:
    text = response.text[:KEEP_CHARS]
    try:
        body_json = jsonlib.loads(response.text) if response.text else None
    except ValueError:
        body_json = None
    out: Outputs = {
        "status": response.status,
        "headers": response.headers,
        "text": text,
        "json": body_json,
        "elapsed_ms": round(latencies[-1], 3) if latencies else None,
    }
    if spec.samples > 1:
        ordered = sorted(latencies)
        out.update(
            {
                "samples": spec.samples,
                "errors": errors,
                "p50_ms": round(percentile(ordered, 50), 3),
                "p95_ms": round(percentile(ordered, 95), 3),
                "p99_ms": round(percentile(ordered, 99), 3),
                "max_ms": round(ordered[-1], 3) if ordered else None,
            }
        )
    return out


def _reason(exc: Exception) -> str:
    text = str(exc)
    if "Connection refused" in text or "ConnectError" in type(exc).__name__:
        return f"connection failed ({text})"
    return f"{type(exc).__name__}: {text}"
