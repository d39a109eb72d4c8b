"""metrics: scrape a real prometheus_client endpoint (and a plain HTTP server for odd answers)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import ValidationError

from runbook_engine.plugin import StepError
from runbook_engine.plugins import metrics
from runbook_engine.testing import run_plugin
from tests.support.httpserver import Server, serve
from tests.support.imports import loaded_after_import
from tests.support.prometheus import free_port, metrics_endpoint

OBSERVED = (0.05, 0.3, 0.7, 2.0)


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    """A counter, a labelled gauge and a histogram in their own registry (no process metrics)."""
    import prometheus_client

    registry = prometheus_client.CollectorRegistry()
    jobs = prometheus_client.Counter("k2_jobs", "Jobs done", registry=registry)
    jobs.inc(7)
    depth = prometheus_client.Gauge(
        "k2_queue_depth", "Messages waiting", ["queue", "region"], registry=registry
    )
    depth.labels(queue="orders", region="eu").set(3)
    depth.labels(queue="orders", region="us").set(4)
    depth.labels(queue="billing", region="eu").set(10)
    latency = prometheus_client.Histogram(
        "k2_request_seconds", "Request time", buckets=(0.1, 0.5, 1.0), registry=registry
    )
    for seconds in OBSERVED:
        latency.observe(seconds)
    with metrics_endpoint(registry) as url:
        yield url


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    """A plain HTTP server for answers prometheus_client would not give; one path per test."""
    with serve() as s:
        yield s


def scrape(url: str, **args: Any) -> dict[str, Any]:
    return run_plugin(metrics, {"url": url, **args})


def test_counter_by_sample_name(endpoint: str) -> None:
    """A counter is matched by its sample name (with _total); one match gives `value`."""
    assert scrape(endpoint, name="k2_jobs_total") == {
        "value": 7.0,
        "sum": 7.0,
        "samples": [{"name": "k2_jobs_total", "labels": {}, "value": 7.0}],
        "sample_count": 1,
    }


def test_family_name_alone_matches_nothing(endpoint: str) -> None:
    """`name` is a sample name, as in PromQL: the counter's family name k2_jobs has no sample."""
    assert scrape(endpoint, name="k2_jobs") == {
        "value": None,
        "sum": None,
        "samples": [],
        "sample_count": 0,
    }


def test_labels_pick_one_sample(endpoint: str) -> None:
    """All given labels must match."""
    out = scrape(endpoint, name="k2_queue_depth", labels={"queue": "orders", "region": "eu"})
    assert out["value"] == 3.0
    assert out["samples"] == [
        {"name": "k2_queue_depth", "labels": {"queue": "orders", "region": "eu"}, "value": 3.0}
    ]


def test_several_matches_give_sum_but_no_value(endpoint: str) -> None:
    """Two samples match: value is null (ambiguous), sum adds them, samples keep exposition order."""
    assert scrape(endpoint, name="k2_queue_depth", labels={"queue": "orders"}) == {
        "value": None,
        "sum": 7.0,
        "samples": [
            {"name": "k2_queue_depth", "labels": {"queue": "orders", "region": "eu"}, "value": 3.0},
            {"name": "k2_queue_depth", "labels": {"queue": "orders", "region": "us"}, "value": 4.0},
        ],
        "sample_count": 2,
    }


def test_histogram_samples(endpoint: str) -> None:
    """Histogram series are _bucket (with le as written), _count and _sum samples."""
    assert scrape(endpoint, name="k2_request_seconds_bucket", labels={"le": "0.5"})["value"] == 2.0
    assert scrape(endpoint, name="k2_request_seconds_bucket", labels={"le": "+Inf"})["value"] == 4.0
    assert scrape(endpoint, name="k2_request_seconds_count")["value"] == 4.0
    assert scrape(endpoint, name="k2_request_seconds_sum")["value"] == sum(OBSERVED)
    buckets = scrape(endpoint, name="k2_request_seconds_bucket")
    assert [(s["labels"]["le"], s["value"]) for s in buckets["samples"]] == [
        ("0.1", 1.0),
        ("0.5", 2.0),
        ("1.0", 3.0),
        ("+Inf", 4.0),
    ]


def test_empty_label_value_matches_missing_label(endpoint: str) -> None:
    """As in PromQL, label: "" selects samples without that label."""
    out = scrape(endpoint, labels={"le": "", "queue": ""})
    assert sorted(s["name"] for s in out["samples"]) == [
        "k2_jobs_created",
        "k2_jobs_total",
        "k2_request_seconds_count",
        "k2_request_seconds_created",
        "k2_request_seconds_sum",
    ]


def test_without_name_every_sample(endpoint: str) -> None:
    """No name and no labels: every sample of the page, value null since several match."""
    out = scrape(endpoint)
    assert out["sample_count"] == 12  # 2 counter + 3 gauge + 4 buckets, count, sum, created
    assert out["value"] is None
    assert [s["name"] for s in out["samples"]][:2] == ["k2_jobs_total", "k2_jobs_created"]


def test_samples_are_capped(server: Server) -> None:
    """At most 500 samples are kept; sample_count and sum still cover all of them."""
    page = "".join(f'k2_shard_rows{{shard="{i}"}} 1\n' for i in range(600))
    server.route("/many", body=page)
    out = scrape(f"{server.url}/many", name="k2_shard_rows")
    assert (out["sample_count"], out["sum"], len(out["samples"])) == (600, 600.0, 500)
    assert out["samples"][-1] == {"name": "k2_shard_rows", "labels": {"shard": "499"}, "value": 1.0}


def test_nan_and_infinity_become_null(server: Server) -> None:
    """JSON has no NaN or infinity: such sample values (and sums) are null."""
    server.route("/odd", body="k2_ratio NaN\nk2_limit +Inf\nk2_limit 1\n")
    assert scrape(f"{server.url}/odd", name="k2_ratio")["value"] is None
    assert scrape(f"{server.url}/odd", name="k2_limit") == {
        "value": None,
        "sum": None,
        "samples": [
            {"name": "k2_limit", "labels": {}, "value": None},
            {"name": "k2_limit", "labels": {}, "value": 1.0},
        ],
        "sample_count": 2,
    }


def test_headers_are_sent_and_text_format_asked(server: Server) -> None:
    """Given headers reach the endpoint, beside an Accept for the classic text format."""
    server.route("/auth", body="up 1\n")
    out = scrape(f"{server.url}/auth", name="up", headers={"Authorization": "Bearer t0k3n"})
    assert out["value"] == 1.0
    seen = server.headers_seen[-1]
    assert seen["authorization"] == "Bearer t0k3n"
    assert seen["accept"] == metrics.ACCEPT


def test_http_error_is_a_step_error(server: Server) -> None:
    """A 404 means we could not scrape: a step error with the status."""
    with pytest.raises(StepError) as err:
        scrape(f"{server.url}/nothing-here")
    assert str(err.value) == f"{server.url}/nothing-here: HTTP 404 Not Found"


def test_not_metrics_text_is_a_step_error(server: Server) -> None:
    """An HTML page is not the exposition format: a step error quoting the parser."""
    server.route("/login", body="<html><body>Login</body></html>\n")
    with pytest.raises(StepError) as err:
        scrape(f"{server.url}/login")
    assert str(err.value) == (
        f"{server.url}/login: not in the Prometheus text format "
        "(invalid metric name:<html><body>Login</body></html>)"
    )


def test_unreachable_endpoint_is_a_step_error() -> None:
    """Nothing listening: a step error naming the URL."""
    url = f"http://127.0.0.1:{free_port()}/metrics"
    with pytest.raises(StepError, match=rf"^{url}: cannot scrape \(ConnectError"):
        scrape(url)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"url": "localhost:8000/metrics"}, "url must start with http:// or https://"),
        ({"url": "http://h/metrics", "name": " "}, "name must be a sample name"),
        ({"url": "http://h/metrics", "labels": {"le": 0.5}}, "Input should be a valid string"),
        ({"url": "http://h/metrics", "metric": "up"}, "Extra inputs are not permitted"),
    ],
)
def test_spec_rejects_bad_arguments(args: dict[str, Any], message: str) -> None:
    """Mistakes in `with:` are load errors with a helpful message."""
    with pytest.raises(ValidationError, match=message):
        metrics.Spec.model_validate(args)


def test_import_is_light() -> None:
    """Importing the plugin imports neither httpx nor prometheus_client."""
    assert loaded_after_import("runbook_engine.plugins.metrics", ("httpx", "prometheus_client")) == []
