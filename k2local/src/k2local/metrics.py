"""Prometheus metrics for the API process, in a private CollectorRegistry.

Request metrics are updated in-process. Platform metrics are computed at
scrape time from real sources (the Iceberg table metadata, the feed state
file, PID files and the kernel heartbeat), so a scrape always reflects what
is on disk right now rather than numbers cached in the API.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from k2local.health import Observation, assess

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class PlatformCollector(Collector):
    """Scrape-time gauges and counters describing the feed, table and kernel."""

    def __init__(self, observe: Callable[[], Observation]) -> None:
        self._observe = observe

    def collect(self) -> Iterable[Metric]:
        obs = self._observe()
        _, level, _ = assess(obs)
        feed = obs.feed or {}

        def gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
            return GaugeMetricFamily(name, doc, value=value)

        def counter(name: str, doc: str, key: str) -> CounterMetricFamily:
            return CounterMetricFamily(name, doc, value=float(feed.get(key) or 0))

        yield gauge(
            "k2_degradation_level", "0 normal, 1 soft, 2 graceful, 3 aggressive, 4 shed", level
        )
        yield gauge("k2_consumer_lag_messages", "Trades received but not yet committed", obs.lag)
        yield counter(
            "k2_trades_ingested",
            "Trades received by the feed from the stream",
            "trades_ingested_total",
        )
        yield counter(
            "k2_iceberg_rows_written", "Rows committed to Iceberg by the feed", "rows_written_total"
        )
        yield counter("k2_feed_batches", "Batches committed by the feed", "batches_committed")
        yield counter(
            "k2_feed_commit_failures",
            "Feed commits that failed and were retried",
            "commit_failures_total",
        )
        yield gauge(
            "k2_feed_last_batch_age_seconds",
            "Seconds since the feed last committed a batch (+Inf if never)",
            obs.feed_age_s,
        )
        up = GaugeMetricFamily(
            "k2_component_up", "1 if the process is running", labels=["component"]
        )
        up.add_metric(["api"], 1.0)
        up.add_metric(["feed"], 1.0 if obs.feed_pid is not None else 0.0)
        up.add_metric(["kernel"], 1.0 if obs.kernel_pid is not None else 0.0)
        yield up
        yield gauge(
            "k2_kernel_heartbeat_age_seconds",
            "Seconds since the kernel heartbeat",
            obs.kernel_age_s,
        )
        table = obs.table
        yield gauge(
            "k2_catalog_up",
            "1 if the Iceberg catalog and table are readable",
            1.0 if table else 0.0,
        )
        yield gauge(
            "k2_iceberg_table_rows",
            "Rows in the current snapshot",
            table["rows"] if table else math.nan,
        )
        yield gauge(
            "k2_iceberg_snapshots",
            "Snapshots kept in table metadata",
            table["snapshots"] if table else math.nan,
        )


class ApiMetrics:
    """The API's registry: request counter, latency histogram, platform collector."""

    def __init__(self, observe: Callable[[], Observation]) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "k2_api_requests",
            "API requests by endpoint and HTTP status",
            ["endpoint", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "k2_api_request_duration_seconds",
            "API request latency",
            ["endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(PlatformCollector(observe))

    def observe_request(self, endpoint: str, status: int, seconds: float) -> None:
        self.requests.labels(endpoint=endpoint, status=str(status)).inc()
        self.latency.labels(endpoint=endpoint).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
