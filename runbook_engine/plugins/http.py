"""Send an HTTP request and report the response; with `samples` also latency percentiles."""

from __future__ import annotations

import json as jsonlib
import math
import time
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field, model_validator

from runbook_engine.plugin import Context, Outputs, PluginSpec, StepError, require

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
    httpx = require("httpx", "http")
    timeout = ctx.remaining() or 30.0
    said = ctx.timeout or timeout  # messages name the step's timeout, not what is left of it
    kwargs: dict[str, Any] = {"headers": spec.headers}
    # httpx's `params=` replaces the URL's own query string: merge into the URL instead.
    url = httpx.URL(spec.url).copy_merge_params(spec.params) if spec.params else spec.url
    if spec.json_ is not None:
        kwargs["json"] = spec.json_
    elif spec.body is not None:
        kwargs["content"] = spec.body.encode()
    latencies: list[float] = []
    errors = 0
    response: Answer | None = None
    deadline = time.monotonic() + timeout
    with httpx.Client(verify=spec.verify, timeout=timeout, follow_redirects=spec.follow_redirects) as client:
        for _ in range(spec.samples):
            if ctx.cancel.is_set():
                raise StepError("cancelled")
            start = time.perf_counter()
            try:
                response = _request(client, spec.method, url, kwargs, deadline, ctx)
            except httpx.TimeoutException:
                raise StepError(f"{spec.method} {spec.url}: no answer within {said:g}s") from None
            except httpx.HTTPError as exc:
                if spec.samples == 1:
                    raise StepError(f"{spec.method} {spec.url}: {_reason(exc)}") from None
                errors += 1
                continue
            except _Overdue:
                raise StepError(
                    f"{spec.method} {spec.url}: the answer did not finish arriving within {said:g}s"
                ) from None
            latencies.append((time.perf_counter() - start) * 1000)
            if response.status >= 500:
                errors += 1
    if response is None:
        raise StepError(f"{spec.method} {spec.url}: all {spec.samples} requests failed")
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


class _Overdue(Exception):
    """The answer was still arriving when the step's time ran out."""


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    text: str


def _request(
    client: Any, method: str, url: Any, kwargs: dict[str, Any], deadline: float, ctx: Context
) -> Answer:
    """One request, read in chunks against the step's deadline: httpx's timeout is per read,
    so a server trickling its body a byte at a time would otherwise hold the step forever."""
    chunks: list[bytes] = []
    with client.stream(method, url, **kwargs) as response:
        for chunk in response.iter_bytes():
            chunks.append(chunk)
            if time.monotonic() > deadline or ctx.cancel.is_set():
                raise _Overdue()
        body = b"".join(chunks)
        encoding = response.charset_encoding or "utf-8"
        return Answer(
            status=response.status_code,
            headers={k.lower(): v for k, v in response.headers.items()},
            text=body.decode(encoding, errors="replace"),
        )


def _reason(exc: Exception) -> str:
    text = str(exc)
    if "Connection refused" in text or "ConnectError" in type(exc).__name__:
        return f"connection failed ({text})"
    return f"{type(exc).__name__}: {text}"
