"""Go/no-go gates against a real local HTTP server that the test breaks and mends."""

from __future__ import annotations

from typing import Any

from runbook_engine.journal import RunJournal, StepResult
from runbook_engine.judge.score import compute_score
from tests.conftest import Project
from tests.support.httpserver import Server

GATE = """
    kind: runbook
    name: go-no-go
    sections:
      - name: Platform
        steps:
          - name: API is healthy
            id: api
            check: http
            with: {{url: "{url}/health"}}
            expect: status == 200
          - name: Optional dashboard
            check: http
            with: {{url: "{url}/dash"}}
            severity: warning
    gate:
      stable_for: {stable}
      interval: 100ms
      max_wait: {max_wait}
"""


def test_gate_passes_after_its_window(project: Project, http_server: Server) -> None:
    """A healthy service holds for the whole window: GO, with the rounds recorded."""
    http_server.route("/health")
    http_server.route("/dash")
    project.runbook("gate", GATE.format(url=http_server.url, stable="600ms", max_wait="5s"))
    result, journal = project.run_json("go-no-go", "--operator", "alice")
    gate = journal["extra"]["gate"]
    assert (result.code, journal["verdict"], gate["held"], gate["flaps"]) == (0, "GO", True, [])
    assert gate["checks"] == ["api"]  # only critical checks are re-run
    assert gate["rounds"] >= 2  # the first round opens the window, a later one closes it
    assert gate["elapsed_s"] >= 0.6
    decision = journal["extra"]["decision"]
    assert (decision["confirmed_by"], decision["how"], decision["verdict"]) == ("alice", "flag", "GO")


def test_a_flap_in_the_window_fails_the_gate_and_is_named(project: Project, http_server: Server) -> None:
    """A check that breaks mid-window restarts it; when the window can no longer fit, NO-GO names the flap."""
    # Request 1 is the first pass, 2 opens the window, 3 flaps: the window restarts after
    # t=0, so with max_wait equal to stable_for it can no longer fit.
    http_server.route("/health", fail_on=frozenset({3}))
    http_server.route("/dash")
    project.runbook("gate", GATE.format(url=http_server.url, stable="1s", max_wait="1s"))
    result, journal = project.run_json("go-no-go")
    gate = journal["extra"]["gate"]
    assert (result.code, journal["verdict"], gate["held"]) == (1, "NO-GO", False)
    assert gate["flaps"], "the outage should have been seen"
    flap = gate["flaps"][0]
    assert (flap["step"], flap["outcome"], flap["message"]) == (
        "api",
        "failed",
        "status == 200 -> status = 503",
    )
    assert journal["reasons"][0].startswith(
        "not stable for 1s within 1s: 1 flap(s): API is healthy (last in round 2: status == 200 -> status = 503)"
    )


def test_stable_for_flag_shortens_the_window(project: Project, http_server: Server) -> None:
    """--stable-for overrides the runbook's window (a quick rehearsal)."""
    http_server.route("/health")
    http_server.route("/dash")
    project.runbook("gate", GATE.format(url=http_server.url, stable="5m", max_wait="10m"))
    result, journal = project.run_json("go-no-go", "--stable-for", "200ms")
    assert (result.code, journal["extra"]["gate"]["stable_for_s"]) == (0, 0.2)


def test_stable_for_without_a_gate_is_a_usage_error(project: Project) -> None:
    """--stable-for on a runbook with no gate would be silently ignored: refuse it instead."""
    project.runbook("p", "kind: runbook\nname: p\nsections: [{name: S, steps: [{manual: X}]}]\n")
    result = project.cli("run", "p", "--stable-for", "10s")
    assert (result.code, result.err) == (
        2,
        "--stable-for shortens a gate's window, and runbook 'p' has no `gate:`\n",
    )


def test_no_window_when_the_first_pass_already_failed(project: Project, http_server: Server) -> None:
    """A critical failure in the first pass is NO-GO at once; the window is not started."""
    http_server.route("/health", status=500)
    project.runbook("gate", GATE.format(url=http_server.url, stable="5m", max_wait="10m"))
    result, journal = project.run_json("go-no-go")
    assert (result.code, journal["verdict"], "gate" in journal["extra"]) == (1, "NO-GO", False)


def _step(outcome: str, weight: float = 1.0, severity: str = "critical") -> StepResult:
    return StepResult(id="s", name="s", kind="check", outcome=outcome, weight=weight, severity=severity)  # type: ignore[arg-type]


def test_score_weights_and_warnings_count_half() -> None:
    """Score is the weighted share of passed steps; a failed warning earns half; skipped don't count."""
    from datetime import UTC, datetime

    journal = RunJournal(run_id="r", runbook="x", started_at=datetime.now(UTC))
    journal.sections = [
        __import__("runbook_engine.journal", fromlist=["SectionResult"]).SectionResult(
            name="A", steps=[_step("passed", 30), _step("failed", 10, "warning"), _step("skipped", 50)]
        ),
        __import__("runbook_engine.journal", fromlist=["SectionResult"]).SectionResult(
            name="B", steps=[_step("failed", 10), _step("passed", 50)]
        ),
    ]
    score: dict[str, Any] = compute_score(journal, 95)
    # earned 30 + 5 + 0 + 50 = 85 of 100
    assert (score["score"], score["passed"]) == (85.0, False)
    assert score["sections"] == [
        {"name": "A", "earned": 35.0, "possible": 40.0},
        {"name": "B", "earned": 50.0, "possible": 60.0},
    ]


def test_score_below_pass_score_is_no_go(project: Project, http_server: Server) -> None:
    """A weighted run under its pass_score is NO-GO even without a critical failure."""
    http_server.route("/health")
    project.runbook(
        "scored",
        f"""
        kind: runbook
        name: scored
        sections:
          - name: Rubric
            steps:
              - {{name: API, check: http, with: {{url: "{http_server.url}/health"}}, weight: 60}}
              - {{name: Dashboards, check: http, with: {{url: "{http_server.url}/missing"}}, weight: 40, severity: warning}}
        gate: {{pass_score: 95}}
    """,
    )
    result, journal = project.run_json("scored")
    assert journal["extra"]["score"]["score"] == 80.0
    assert (result.code, journal["reasons"]) == (1, ["readiness score 80 is below the pass score 95"])


def test_contingencies_are_ranked_by_matching_detect_checks(project: Project, http_server: Server) -> None:
    """On NO-GO the contingency whose detect check looks at the failed target comes first."""
    http_server.route("/health")
    http_server.route("/v1/trades/recent", body={"count": 0})
    project.runbook(
        "t30",
        f"""
        kind: runbook
        name: t-minus-30m
        vars: {{api: "{http_server.url}"}}
        sections:
          - name: Data
            steps:
              - name: Stream has recent trades
                check: http
                with: {{url: "{{{{ vars.api }}}}/v1/trades/recent?seconds=60"}}
                expect: json.count > 0
        on_no_go: [api-down, stream-stalled]
    """,
    )
    project.write(
        "runbooks/c1.yaml",
        f"""
        kind: contingency
        name: api-down
        title: API down
        rto: 30s
        detect: [{{name: API answers, check: http, with: {{url: "{http_server.url}/health"}}}}]
        recover: [{{name: Restart API, action: shell, with: {{command: "true"}}}}]
    """,
    )
    project.write(
        "runbooks/c2.yaml",
        f"""
        kind: contingency
        name: stream-stalled
        title: Stream not ingesting
        rto: 2m
        detect:
          - name: Trades are recent
            check: http
            with: {{url: "{http_server.url}/v1/trades/recent?seconds=30"}}
            expect: json.count > 0
        recover: [{{name: Restart the feed, action: shell, with: {{command: "true"}}}}]
    """,
    )
    result, journal = project.run_json("t-minus-30m")
    recs = journal["recommended"]
    assert result.code == 1
    # Their detect checks were run at the verdict: only the stream's saw its scenario, so
    # the API one is ruled out rather than recommended.
    assert [(r["name"], r["confirmed"]) for r in recs] == [("stream-stalled", True)]
    assert recs[0]["matched"] == ["stream-has-recent-trades"]
    assert journal["extra"]["not_indicated"] == ["api-down"]
    assert "(not indicated: api-down: their detect checks pass)" in result.out
    assert (recs[0]["rto_s"], recs[0]["first_step"]) == (120.0, "Restart the feed")
    assert (
        "> contingency stream-stalled (Stream not ingesting), RTO 2m00s; first: Restart the feed"
        in result.out
    )


def test_a_flap_restarts_the_window_which_can_still_hold(project: Project, http_server: Server) -> None:
    """With room before max_wait, the window restarts after a flap and the gate still passes, reporting it."""
    http_server.route("/health", fail_on=frozenset({3}))
    http_server.route("/dash")
    project.runbook("gate", GATE.format(url=http_server.url, stable="500ms", max_wait="5s"))
    result, journal = project.run_json("go-no-go")
    gate = journal["extra"]["gate"]
    assert (result.code, gate["held"], [f["round"] for f in gate["flaps"]]) == (0, True, [2])


def test_gate_rechecks_only_checks_that_ran(project: Project, http_server: Server) -> None:
    """A critical check skipped by `when` in the first pass is not re-run in the window."""
    http_server.route("/health")
    project.runbook("gate", f"""
        kind: runbook
        name: g
        vars: {{profile: local}}
        sections:
          - name: S
            steps:
              - {{name: API, id: api, check: http, with: {{url: "{http_server.url}/health"}}}}
              - {{name: Docker only, id: docker, check: tcp, with: {{host: 127.0.0.1, port: 1}}, expect: connected, when: vars.profile == "docker"}}
        gate: {{stable_for: 200ms, interval: 50ms}}
    """)
    result, journal = project.run_json("g")
    assert (result.code, journal["extra"]["gate"]["checks"], journal["extra"]["gate"]["flaps"]) == (0, ["api"], [])
