"""Scrape a /metrics endpoint (Prometheus text format) and report the matching samples (check)."""

from __future__ import annotations

import math
from typing import Any

from pydantic import Field, field_validator

from runbook_engine.plugin import Context, Outputs, PluginSpec, StepError, require

KINDS = frozenset({"check"})
# NaN and infinities are null in every output: JSON has no such numbers.
OUTPUTS = {
    "value": "the value of the one matching sample; null when none or several match",
    "sum": "the sum of the matching samples' values; null when none match",
    "samples": "the matching samples as {name, labels, value}, in exposition order (at most 500)",
    "sample_count": "how many samples matched",
}
MAX_SAMPLES = 500
# Ask for the classic text format: an OpenMetrics answer (which some exporters prefer when
# the client allows it) needs a different parser.
ACCEPT = "text/plain;version=0.0.4;q=1.0, */*;q=0.1"


class Spec(PluginSpec):
    url: str = Field(description="The endpoint, e.g. http://127.0.0.1:8000/metrics.")
    name: str | None = Field(
        default=None,
        description="A sample name as written in PromQL (http_requests_total, x_bucket); "
        "default: every sample.",
    )
    labels: dict[str, str] = Field(
        default_factory=dict,
        description='Label values the samples must have ("" matches a missing label).',
    )
    headers: dict[str, str] = Field(default_factory=dict, description="Extra HTTP headers (auth).")

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"url must start with http:// or https:// (got {url!r})")
        return url

    @field_validator("name")
    @classmethod
    def _non_empty(cls, name: str | None) -> str | None:
        if name is not None and not name.strip():
            raise ValueError("name must be a sample name, or left out for every sample")
        return name


def run(spec: Spec, ctx: Context) -> Outputs:
    require("prometheus_client", "prometheus")
    from prometheus_client.parser import text_string_to_metric_families

    text = _scrape(spec, ctx)
    values: list[float] = []
    kept: list[dict[str, Any]] = []
    try:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if not _matches(sample.name, sample.labels, spec):
                    continue
                values.append(float(sample.value))
                if len(kept) < MAX_SAMPLES:
                    kept.append(
                        {"name": sample.name, "labels": dict(sample.labels), "value": _finite(values[-1])}
                    )
    except ValueError as exc:
        raise StepError(f"{spec.url}: not in the Prometheus text format ({exc})") from None
    return {
        "value": _finite(values[0]) if len(values) == 1 else None,
        "sum": _finite(sum(values)) if values else None,
        "samples": kept,
        "sample_count": len(values),
    }


def _finite(value: float) -> float | None:
    # JSON has no NaN or infinity: such values (a gauge set to NaN, +Inf) become null.
    return value if math.isfinite(value) else None


def _matches(name: str, labels: dict[str, str], spec: Spec) -> bool:
    if spec.name is not None and name != spec.name:
        return False
    # As in PromQL, a label that a sample does not have has the empty value.
    return all(labels.get(key, "") == want for key, want in spec.labels.items())


def _scrape(spec: Spec, ctx: Context) -> str:
    httpx = require("httpx", "http")
    timeout = ctx.remaining() or 30.0
    headers = dict(spec.headers)
    if not any(key.lower() == "accept" for key in headers):
        headers["Accept"] = ACCEPT
    try:
        with httpx.Client(timeout=timeout) as client:
            response = client.get(spec.url, headers=headers)
    except httpx.TimeoutException:
        raise StepError(f"{spec.url}: no answer within {timeout:.1f}s") from None
    except httpx.HTTPError as exc:
        raise StepError(f"{spec.url}: cannot scrape ({type(exc).__name__}: {exc})") from None
    if response.status_code != 200:
        reason = f"HTTP {response.status_code} {response.reason_phrase}".rstrip()
        raise StepError(f"{spec.url}: {reason}")
    text: str = response.text
    return text
