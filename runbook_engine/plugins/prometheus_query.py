"""Run an instant PromQL query against a Prometheus server and report the result (check)."""

from __future__ import annotations

import math
from typing import Any

from pydantic import Field, field_validator

from runbook_engine.plugin import Context, Outputs, PluginSpec, StepError, require

NAME = "prometheus.query"
KINDS = frozenset({"check"})
OUTPUTS = {
    "value": "the sample's value (float) when the result is one series or a scalar, else null"
    " (also null for NaN and infinities)",
    "vector": "the result series as {labels, value}, sorted by labels (at most 500)",
    "series_count": "how many series the query returned (0 for a scalar or string)",
    "result_type": "Prometheus's result type: vector, scalar, matrix or string",
}
MAX_SERIES = 500
API_PATH = "/api/v1/query"


class Spec(PluginSpec):
    url: str = Field(description="Prometheus base URL, e.g. http://127.0.0.1:9090.")
    query: str = Field(description="A PromQL expression, evaluated as an instant query.")
    time: str | float | None = Field(
        default=None,
        description="Evaluation time (RFC 3339 or Unix seconds); default: now.",
    )
    headers: dict[str, str] = Field(default_factory=dict, description="Extra HTTP headers (auth).")

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"url must start with http:// or https:// (got {url!r})")
        if API_PATH in url:
            raise ValueError(f"give the base URL, without {API_PATH} (got {url!r})")
        return url

    @field_validator("query")
    @classmethod
    def _non_empty(cls, query: str) -> str:
        if not query.strip():
            raise ValueError("query must be a PromQL expression, not empty")
        return query


def run(spec: Spec, ctx: Context) -> Outputs:
    httpx = require("httpx", "http")
    endpoint = spec.url.rstrip("/") + API_PATH
    params: dict[str, str] = {"query": spec.query}
    if spec.time is not None:
        params["time"] = str(spec.time)
    timeout = ctx.remaining() or 30.0
    try:
        with httpx.Client(timeout=timeout) as client:
            response = client.get(endpoint, params=params, headers=spec.headers)
    except httpx.TimeoutException:
        raise StepError(f"{endpoint}: no answer within {timeout:.1f}s") from None
    except httpx.HTTPError as exc:
        reason = f"{type(exc).__name__}: {exc}"
        raise StepError(f"{endpoint}: cannot reach Prometheus ({reason})") from None
    body = _json_body(response)
    if body is None or "status" not in body:
        raise StepError(
            f"{endpoint}: HTTP {response.status_code}, not a Prometheus API answer"
            f" ({response.text[:200].strip()!r})"
        )
    if body["status"] != "success":
        # Prometheus explains what is wrong with the PromQL better than we could.
        raise StepError(
            f"Prometheus rejected the query ({body.get('errorType', 'error')}): "
            f"{body.get('error', 'no reason given')}"
        )
    for warning in body.get("warnings") or []:
        ctx.log(f"Prometheus warning: {warning}")
    return _outputs(body.get("data") or {})


def _json_body(response: Any) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _number(text: Any) -> float | None:
    # Prometheus sends values as strings ("1", "NaN", "+Inf"). JSON has no NaN or infinity,
    # so those become null (as in the other plugins' outputs).
    value = float(text)
    return value if math.isfinite(value) else None


def _outputs(data: dict[str, Any]) -> Outputs:
    result_type = str(data.get("resultType", ""))
    result = data.get("result")
    value: float | None = None
    vector: list[dict[str, Any]] = []
    if result_type == "scalar" and isinstance(result, list):
        value = _number(result[1])
    elif result_type in ("vector", "matrix") and isinstance(result, list):
        for series in result:
            labels = dict(series.get("metric") or {})
            # A range selector (matrix) gives several samples per series: keep the latest.
            sample = series["value"] if result_type == "vector" else series["values"][-1]
            vector.append({"labels": labels, "value": _number(sample[1])})
        vector.sort(key=lambda s: sorted(s["labels"].items()))
        if len(vector) == 1:
            value = vector[0]["value"]
    return {
        "value": value,
        "vector": vector[:MAX_SERIES],
        "series_count": len(vector),
        "result_type": result_type,
    }
