"""The http plugin against a real local HTTP server."""

from __future__ import annotations

import time

import pytest

from runbook_engine.plugin import StepError
from runbook_engine.plugins import http
from runbook_engine.testing import make_context, run_plugin
from tests.support.httpserver import Server


def test_response_outputs(http_server: Server) -> None:
    """status, json, text, headers and elapsed_ms come from the real response."""
    http_server.route("/health", body={"status": "healthy", "lag": 3})
    out = run_plugin(http, {"url": f"{http_server.url}/health", "headers": {"X-API-Key": "k"}})
    assert out["status"] == 200
    assert out["json"] == {"status": "healthy", "lag": 3}
    assert out["text"] == '{"status": "healthy", "lag": 3}'
    assert out["headers"]["content-type"] == "application/json"
    assert out["elapsed_ms"] > 0
    assert http_server.headers_seen[-1]["x-api-key"] == "k"


def test_non_json_body_gives_null_json(http_server: Server) -> None:
    """A text body leaves json null and text set."""
    http_server.route("/metrics", body="k2_up 1\n")
    out = run_plugin(http, {"url": f"{http_server.url}/metrics"})
    assert (out["json"], out["text"]) == (None, "k2_up 1\n")


def test_samples_give_percentiles(http_server: Server) -> None:
    """With samples: N the plugin sends N requests and reports p50/p95/p99."""
    http_server.route("/q", delay_s=0.01)
    out = run_plugin(http, {"url": f"{http_server.url}/q", "samples": 20})
    assert http_server.hits["/q"] == 20
    assert (out["samples"], out["errors"]) == (20, 0)
    assert 10 <= out["p50_ms"] <= out["p95_ms"] <= out["p99_ms"] <= out["max_ms"]


def test_refused_connection_is_a_step_error() -> None:
    """Nothing listening is 'could not check' (error), with the reason."""
    with pytest.raises(StepError, match="connection failed"):
        run_plugin(http, {"url": "http://127.0.0.1:1/"})


def test_slow_answer_times_out(http_server: Server) -> None:
    """A server slower than the attempt's timeout gives a StepError naming the time."""
    http_server.route("/slow", delay_s=2)
    with pytest.raises(StepError, match=r"no answer within 0\.3s"):
        run_plugin(http, {"url": f"{http_server.url}/slow"}, make_context(timeout=0.3))


def test_a_body_that_never_finishes_arriving_ends_at_the_timeout(http_server: Server) -> None:
    """httpx's timeout is per read: a server sending a byte every 0.1 s would hold the step
    for the whole body. The plugin stops at the step's deadline and says why."""
    http_server.route("/trickle", body="x" * 100, trickle_s=0.1)  # 10 s to send it all
    began = time.monotonic()
    with pytest.raises(StepError, match=r"GET .*/trickle: the answer did not finish arriving within 0\.5s"):
        run_plugin(http, {"url": f"{http_server.url}/trickle"}, make_context(timeout=0.5))
    assert time.monotonic() - began < 2.0


def test_percentile_nearest_rank() -> None:
    """Nearest-rank percentiles: p50 of 1..100 is 50, p99 is 99."""
    values = [float(v) for v in range(1, 101)]
    assert (http.percentile(values, 50), http.percentile(values, 99)) == (50.0, 99.0)


def test_query_string_in_the_url_is_kept(http_server: Server) -> None:
    """A query string written in the URL reaches the server (and params add to it)."""
    http_server.route("/q")
    run_plugin(http, {"url": f"{http_server.url}/q?snapshot_id=42"})
    assert http_server.paths_seen[-1] == "/q?snapshot_id=42"
    run_plugin(http, {"url": f"{http_server.url}/q?a=1", "params": {"b": 2}})
    assert http_server.paths_seen[-1] == "/q?a=1&b=2"


def test_the_sync_run_contract_still_works(http_server: Server) -> None:
    """Callers outside the engine may still call run(spec, ctx): the same request, on a
    private event loop."""
    http_server.route("/health", body={"status": "healthy"})
    out = http.run(http.Spec(url=f"{http_server.url}/health"), make_context())
    assert (out["status"], out["json"]) == (200, {"status": "healthy"})


def test_a_json_body_is_sent_as_json(http_server: Server) -> None:
    """json: sets the content type and length, as httpx did."""
    http_server.route("/post")
    run_plugin(http, {"url": f"{http_server.url}/post", "method": "POST", "json": {"a": 1}})
    seen = http_server.headers_seen[-1]
    assert (seen["content-type"], seen["content-length"]) == ("application/json", "7")
