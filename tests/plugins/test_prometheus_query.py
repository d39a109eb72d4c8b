"""prometheus.query against a real Prometheus (Debian's package) scraping a real exporter."""

from __future__ import annotations

import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from pydantic import ValidationError

from runbook_engine.plugin import StepError
from runbook_engine.plugins import prometheus_query
from runbook_engine.testing import run_plugin
from tests.support.imports import loaded_after_import
from tests.support.prometheus import (
    AUTH_HEADERS,
    Prometheus,
    free_port,
    metrics_endpoint,
    prometheus_server,
)


@pytest.fixture(scope="module")
def exporter() -> Iterator[str]:
    import prometheus_client

    registry = prometheus_client.CollectorRegistry()
    events = prometheus_client.Counter("k2_events", "Events seen", registry=registry)
    events.inc(42)
    temperature = prometheus_client.Gauge(
        "k2_temperature_celsius", "Room temperature", ["room"], registry=registry
    )
    temperature.labels(room="a").set(21.5)
    temperature.labels(room="b").set(19)
    with metrics_endpoint(registry) as url:
        yield url


@pytest.fixture(scope="module")
def prometheus(exporter: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    target = urlsplit(exporter).netloc
    with prometheus_server(tmp_path_factory.mktemp("prometheus"), [target]) as server:
        server.wait_for_value("k2_temperature_celsius", deadline_s=30)
        yield server


def query(server: Prometheus, promql: str, **extra: object) -> dict[str, object]:
    return run_plugin(
        prometheus_query, {"url": server.url, "query": promql, "headers": AUTH_HEADERS, **extra}
    )


def test_single_series_gives_value_and_labels(prometheus: Prometheus, exporter: str) -> None:
    """A query matching one series reports its value as a float, with the series' labels."""
    out = query(prometheus, "k2_events_total")
    assert out == {
        "value": 42.0,
        "vector": [
            {
                "labels": {"__name__": "k2_events_total", "instance": urlsplit(exporter).netloc, "job": "k2"},
                "value": 42.0,
            }
        ],
        "series_count": 1,
        "result_type": "vector",
    }


def test_several_series_have_no_single_value(prometheus: Prometheus) -> None:
    """Two series: value is null, vector lists both sorted by labels."""
    out = query(prometheus, "sum by (room) (k2_temperature_celsius)")
    assert out == {
        "value": None,
        "vector": [{"labels": {"room": "a"}, "value": 21.5}, {"labels": {"room": "b"}, "value": 19.0}],
        "series_count": 2,
        "result_type": "vector",
    }


def test_aggregation_and_scalar(prometheus: Prometheus) -> None:
    """An aggregate is one label-less series; scalar() gives a scalar with no vector."""
    assert query(prometheus, "sum(k2_temperature_celsius)")["value"] == 40.5
    assert query(prometheus, "scalar(sum(k2_temperature_celsius))") == {
        "value": 40.5,
        "vector": [],
        "series_count": 0,
        "result_type": "scalar",
    }


def test_nan_becomes_null(prometheus: Prometheus) -> None:
    """PromQL's NaN (0/0) is null in the outputs: JSON has no NaN."""
    assert query(prometheus, "0/0") == {
        "value": None,
        "vector": [],
        "series_count": 0,
        "result_type": "scalar",
    }


def test_empty_result(prometheus: Prometheus) -> None:
    """A selector with no data is a fact (0 series, null value), not an error."""
    out = query(prometheus, 'k2_temperature_celsius{room="nowhere"}')
    assert out == {"value": None, "vector": [], "series_count": 0, "result_type": "vector"}


def test_time_evaluates_in_the_past(prometheus: Prometheus) -> None:
    """`time` is passed on: an hour ago, before this Prometheus started, there was no data."""
    out = query(prometheus, "k2_events_total", time=time.time() - 3600)
    assert out["series_count"] == 0
    assert out["value"] is None


def test_bad_promql_is_a_step_error_with_prometheus_text(prometheus: Prometheus) -> None:
    """Prometheus's own parse error is the step error's message."""
    with pytest.raises(StepError) as err:
        query(prometheus, "sum(k2_events_total")
    assert str(err.value) == (
        'Prometheus rejected the query (bad_data): invalid parameter "query": '
        "1:20: parse error: unclosed left parenthesis"
    )


def test_headers_are_sent(prometheus: Prometheus) -> None:
    """Without the Authorization header this Prometheus answers 401: a step error."""
    with pytest.raises(StepError) as err:
        run_plugin(prometheus_query, {"url": prometheus.url, "query": "1"})
    assert str(err.value) == (
        f"{prometheus.url}/api/v1/query: HTTP 401, not a Prometheus API answer ('Unauthorized')"
    )


def test_unreachable_server_is_a_step_error() -> None:
    """Nothing listening: a step error naming the endpoint."""
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(StepError, match=rf"^{url}/api/v1/query: cannot reach Prometheus \(ConnectError"):
        run_plugin(prometheus_query, {"url": url, "query": "up"})


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"url": "127.0.0.1:9090", "query": "up"}, "url must start with http:// or https://"),
        ({"url": "http://p:9090/api/v1/query", "query": "up"}, "give the base URL"),
        ({"url": "http://p:9090", "query": "  "}, "query must be a PromQL expression"),
        ({"url": "http://p:9090", "query": "up", "step": "1m"}, "Extra inputs are not permitted"),
    ],
)
def test_spec_rejects_bad_arguments(args: dict[str, object], message: str) -> None:
    """Mistakes in `with:` are load errors with a helpful message."""
    with pytest.raises(ValidationError, match=message):
        prometheus_query.Spec.model_validate(args)


def test_import_is_light() -> None:
    """Importing the plugin (as the registry does at load time) imports neither httpx nor Prometheus."""
    assert (
        loaded_after_import("runbook_engine.plugins.prometheus_query", ("httpx", "prometheus_client")) == []
    )
