"""http and tcp checks on the engine loop: timeouts that cancel the request, a thousand at
once against a server that refuses half, and Ctrl-C in the middle of them."""

from __future__ import annotations

import json
import resource
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Project
from tests.execute.rawserver import RawServer, raw_server


@pytest.fixture
def raw() -> Iterator[RawServer]:
    with raw_server() as server:
        yield server


def _wait_until(what: str, ok: object, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not ok() and time.monotonic() < deadline:  # type: ignore[operator]
        time.sleep(0.02)
    assert ok(), what  # type: ignore[operator]


def _one_check(project: Project, url: str, timeout: str) -> dict[str, object]:
    project.runbook(
        "h",
        f"""
        kind: runbook
        name: h
        sections:
          - name: S
            steps:
              - {{name: Answers, check: http, timeout: {timeout}, with: {{url: "{url}"}}}}
        """,
    )
    _, journal = project.run_json("h")
    step: dict[str, object] = journal["sections"][0]["steps"][0]  # type: ignore[index]
    return step


def test_a_server_that_never_answers_is_cancelled_at_the_timeout(project: Project, raw: RawServer) -> None:
    """Accepted and never answered: the step errors at its timeout, saying so, and the
    request is cancelled (the server sees the connection closed), not left running."""
    step = _one_check(project, f"{raw.url}/hang", "500ms")
    assert (step["outcome"], step["message"]) == ("error", f"GET {raw.url}/hang: no answer within 0.5s")
    assert isinstance(step["duration_s"], float) and step["duration_s"] < 2.0  # not timeout + grace
    _wait_until("the request was never cancelled", lambda: raw.stats.closed_by_client == 1)


def test_a_trickling_server_is_cut_off_at_the_timeout(project: Project, raw: RawServer) -> None:
    """Issue 13, item 10: a server sending its answer a byte at a time kept the step for
    twice its timeout and the request running. The whole exchange has one deadline now."""
    step = _one_check(project, f"{raw.url}/trickle", "1s")
    assert (step["outcome"], step["message"]) == ("error", f"GET {raw.url}/trickle: no answer within 1s")
    assert isinstance(step["duration_s"], float) and step["duration_s"] < 2.0
    _wait_until("the request was left running", lambda: raw.stats.closed_by_client == 1)


def test_a_thousand_parallel_checks_against_a_server_that_refuses_half(
    project: Project, raw: RawServer
) -> None:
    """1,000 checks at once: the quarter whose connection is closed unanswered error, the
    quarter answered 503 fail, the half answered 200 pass; each step reports its own."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 8192)), hard))  # both ends here
    kinds = ["close", "busy", "ok", "ok"]
    steps = "\n".join(
        f"      - {{name: Check {i}, check: http, with: {{url: '{raw.url}/{kinds[i % 4]}?n={i}'}}}}"
        for i in range(1000)
    )
    project.runbook(
        "many",
        "kind: runbook\nname: many\nsections:\n  - name: S\n    parallel: true\n"
        f"    max_parallel: 1000\n    steps:\n{steps}\n",
    )
    _, journal = project.run_json("many")
    got = journal["sections"][0]["steps"]  # type: ignore[index]
    assert Counter(s["outcome"] for s in got) == {"passed": 500, "failed": 250, "error": 250}
    for i, s in enumerate(got):
        url = f"{raw.url}/{kinds[i % 4]}?n={i}"
        expected = {
            "close": ("error", f"GET {url}: the server closed the connection without a complete answer"),
            "busy": ("failed", "status < 400 -> status = 503"),
            "ok": ("passed", None),
        }[kinds[i % 4]]
        assert (s["outcome"], (s["message"] or "")[: len(expected[1] or "")] or None) == expected, s
    assert raw.stats.requests["/ok"] == 500 and raw.stats.requests["/busy"] == 250


def test_the_checks_of_a_run_share_keep_alive_connections(project: Project, raw: RawServer) -> None:
    """Twenty checks in a row, one connection: the run's pool keeps it open between steps
    (before: a new client, connection and SSL context per step)."""
    steps = "\n".join(
        f"      - {{name: Check {i}, check: http, with: {{url: '{raw.url}/ok'}}}}" for i in range(20)
    )
    project.runbook("k", f"kind: runbook\nname: k\nsections:\n  - name: S\n    steps:\n{steps}\n")
    _, journal = project.run_json("k")
    assert journal["verdict"] == "GO"
    assert (raw.stats.requests["/ok"], raw.stats.accepted) == (20, 1)


def test_redirects_are_followed_only_when_asked(project: Project, raw: RawServer) -> None:
    """Without follow_redirects the 302 is the fact (lean HTTP/1.1 path); with it, the final
    answer (httpx path)."""
    project.runbook(
        "r",
        f"""
        kind: runbook
        name: r
        sections:
          - name: S
            steps:
              - {{name: As is, check: http, with: {{url: "{raw.url}/redirect"}}, expect: status == 302}}
              - {{name: Followed, check: http, with: {{url: "{raw.url}/redirect", follow_redirects: true}}, expect: status == 200}}
        """,
    )
    _, journal = project.run_json("r")
    assert [s["outcome"] for s in journal["sections"][0]["steps"]] == ["passed", "passed"]  # type: ignore[index]


def test_ctrl_c_during_a_parallel_async_section_ends_promptly(tmp_path: Path, raw: RawServer) -> None:
    """200 checks waiting on a server that never answers (60 s timeouts): Ctrl-C ends the
    run in seconds, with every running check reported as interrupted and every request
    cancelled."""
    steps = "\n".join(
        f"      - {{name: Check {i}, check: http, timeout: 60s, with: {{url: '{raw.url}/hang'}}}}"
        for i in range(200)
    )
    (tmp_path / "runbooks").mkdir()
    (tmp_path / "runbooks" / "p.yaml").write_text(
        f"kind: runbook\nname: p\nsections:\n  - name: S\n    parallel: true\n    max_parallel: 200\n    steps:\n{steps}\n"
    )
    report = tmp_path / "out.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "runbook_engine", "run", "p", "--no-history", "-r", str(report)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _wait_until("the checks never reached the server", lambda: raw.stats.requests.get("/hang", 0) == 200, 30)
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    took = time.monotonic() - sent
    assert proc.returncode == 130, out + err
    assert took < 10, took  # not the 60 s timeouts
    journal = json.loads(report.read_text())
    assert journal["status"] == "interrupted"
    assert {(s["outcome"], s["message"]) for s in journal["sections"][0]["steps"]} == {
        ("error", "interrupted (Ctrl-C) while running")
    }
    _wait_until("requests were left running", lambda: raw.stats.closed_by_client == 200)
