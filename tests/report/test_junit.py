"""JUnit XML from real runs: CI failures are exactly the NO-GO reasons, and the verdict is a
testcase of its own, so a gate flap or a low score fails CI with its reason."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from runbook_engine.journal import RunJournal
from tests.conftest import Project
from tests.report import scenario
from tests.support.httpserver import Server


@pytest.fixture(autouse=True)
def _token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_TOKEN", scenario.SECRET)


def _parse(path: Path) -> ET.Element:
    """The XML, after checking every count attribute against the testcases it sums up."""
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites"
    assert set(root.attrib) == {"name", "tests", "failures", "errors", "time"}
    totals = {"tests": 0, "failures": 0, "errors": 0}
    for suite in root:
        assert suite.tag == "testsuite"
        cases = suite.findall("testcase")
        counted = {
            "tests": len(cases),
            "failures": sum(c.find("failure") is not None for c in cases),
            "errors": sum(c.find("error") is not None for c in cases),
            "skipped": sum(c.find("skipped") is not None for c in cases),
        }
        assert {k: int(suite.get(k) or "-1") for k in counted} == counted, suite.get("name")
        for case in cases:  # at most one outcome element per testcase
            outcomes = [el.tag for el in case if el.tag in ("failure", "error", "skipped")]
            assert len(outcomes) <= 1, (case.get("name"), outcomes)
        for key in totals:
            totals[key] += counted[key]
    assert {k: int(root.get(k) or "-1") for k in totals} == totals
    return root


def _outcomes(root: ET.Element) -> dict[str, str]:
    """testcase name -> 'failure:TYPE', 'error:TYPE', 'skipped' or 'ok'."""
    out = {}
    for case in root.iter("testcase"):
        el = next((e for e in case if e.tag in ("failure", "error", "skipped")), None)
        kind = "ok" if el is None else el.tag if el.tag == "skipped" else f"{el.tag}:{el.get('type')}"
        out[case.get("name") or ""] = kind
    return out


def _verdict(root: ET.Element) -> ET.Element:
    suite = root.findall("testsuite")[-1]
    assert suite.get("name") == "verdict"
    (case,) = suite.findall("testcase")
    return case


def test_junit_has_a_suite_per_section_and_a_case_per_step(project: Project, http_server: Server) -> None:
    """A suite per section plus the verdict suite, exact counts, messages with actual values, times in seconds."""
    scenario.setup(project, http_server)
    http_server.route("/health", status=500, body={"status": "degraded"})
    run = scenario.run(project, http_server, "journal", "junit.xml")
    root = _parse(project.root / "junit.xml")
    assert {k: root.get(k) for k in ("name", "tests", "failures", "errors")} == {
        "name": "runbook launch-check",
        "tests": "11",
        "failures": "3",
        "errors": "0",
    }
    suites = root.findall("testsuite")
    summary = [
        (s.get("name"), s.get("tests"), s.get("failures"), s.get("errors"), s.get("skipped")) for s in suites
    ]
    assert summary == [
        ("Service", "5", "1", "0", "0"),
        ("Data", "3", "1", "0", "1"),
        ("People", "2", "0", "0", "0"),
        ("verdict", "1", "1", "0", "0"),
    ]
    cases = {c.get("name"): c for c in root.iter("testcase")}
    health = cases["API is healthy"]
    assert health.get("classname") == "launch-check.Service"
    failure = health.find("failure")
    assert failure is not None
    assert (
        failure.get("message")
        == "status == 200 -> status = 500; json.status == \"healthy\" -> json.status = 'degraded'"
    )
    blocked = cases["Dashboard shows orders"].find("failure")
    assert blocked is not None
    assert (blocked.get("type"), blocked.get("message")) == (
        "blocked",
        "blocked: needs health, which did not pass",
    )
    when = cases["Containers are up"].find("skipped")
    assert when is not None and when.get("message") == 'skipped: when: vars.profile == "docker" is false'
    steps = {s.name: s for s in run.journal.steps()}
    for name, case in cases.items():
        if name != "go/no-go":
            assert float(case.get("time") or "x") == pytest.approx(steps[name].duration_s or 0.0, abs=0.0006)
    for suite, section in zip(suites, run.journal.sections, strict=False):
        assert float(suite.get("time") or "x") == pytest.approx(section.duration_s or 0.0, abs=0.0006)
    props = {p.get("name"): p.get("value") for p in suites[0].iter("property")}
    assert props == {
        "runbook": "launch-check",
        "run_id": run.journal.run_id,
        "environment": "",
        "verdict": "NO-GO",
        "budget_s": "60",
    }
    verdict = _verdict(root)
    assert verdict.get("classname") == "launch-check.verdict"
    assert verdict.get("name") == "go/no-go"


def test_a_failing_warning_step_is_recorded_but_not_a_ci_failure(
    project: Project, http_server: Server
) -> None:
    """The warning step's failure is in its system-out, marked as not deciding the verdict; a GO run has no failures."""
    scenario.setup(project, http_server)
    run = scenario.run(project, http_server, "journal", "junit.xml")
    assert run.journal.verdict == "GO"
    root = _parse(project.root / "junit.xml")
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("11", "0", "0")
    disk = next(c for c in root.iter("testcase") if c.get("name") == "Disk has room")
    out = disk.findtext("system-out") or ""
    assert out.startswith(
        "[warning] failed (does not decide the verdict): '97%' not in stdout -> stdout = 'disk1 97% used\\n"
    ), out
    verdict = _verdict(root)
    assert [el.tag for el in verdict] == ["system-out"]
    assert (verdict.findtext("system-out") or "").startswith("warning: Service / Disk has room failed: ")


def test_junit_error_for_a_step_that_could_not_check(project: Project, http_server: Server) -> None:
    """A refused connection is a JUnit <error> (could not check), not a <failure>."""
    scenario.setup(project, http_server)
    result = project.cli(
        "run", "launch-check", "--var", "api=http://127.0.0.1:1", "--confirm-manual", "--report", "junit.xml"
    )
    assert result.code == 1
    root = _parse(project.root / "junit.xml")
    # errors: health and orders; failures: the dashboard (blocked by health) and the verdict
    assert (root.get("failures"), root.get("errors")) == ("2", "2")
    error = next(c for c in root.iter("testcase") if c.get("name") == "API is healthy").find("error")
    assert error is not None
    message = error.get("message") or ""
    assert message.startswith("GET http://127.0.0.1:1/health: connection failed"), message


OUTCOMES = """
kind: runbook
name: outcomes
sections:
  - name: Checks
    steps:
      - {name: Critical fails, id: crit, check: shell, with: {command: "exit 1"}}
      - {name: Needs it, needs: [crit], check: shell, with: {command: "true"}}
      - {name: Warning fails, id: warn, check: shell, severity: warning, with: {command: "exit 1"}}
      - {name: Warning blocked, needs: [warn], check: shell, severity: warning, with: {command: "true"}}
      - {name: Info fails, check: shell, severity: info, with: {command: "exit 1"}}
      - {name: Passes, check: shell, with: {command: "true"}}
      - {manual: Presenter on stage, owner: host}
"""


def test_critical_blocked_and_unconfirmed_steps_fail_ci_like_the_verdict(project: Project) -> None:
    """Blocked and unconfirmed critical steps are <failure>s; warning and info problems are not;
    the verdict testcase lists the journal's reasons, one per line."""
    project.runbook("outcomes", OUTCOMES)
    result = project.cli(
        "run", "outcomes", "-r", "j.json", "-r", "j.xml"
    )  # no terminal: manual stays pending
    assert result.code == 1
    root = _parse(project.root / "j.xml")
    assert _outcomes(root) == {
        "Critical fails": "failure:failed",
        "Needs it": "failure:blocked",
        "Warning fails": "ok",
        "Warning blocked": "skipped",
        "Info fails": "ok",
        "Passes": "ok",
        "Presenter on stage": "failure:pending",
        "go/no-go": "failure:no-go",
    }
    cases = {c.get("name"): c for c in root.iter("testcase")}
    pending = cases["Presenter on stage"].find("failure")
    assert pending is not None
    assert pending.get("message") == "not confirmed: no terminal to ask (pass --confirm-manual to confirm)"
    skipped = cases["Warning blocked"].find("skipped")
    assert skipped is not None
    assert skipped.get("message") == "[warning] blocked: needs warn, which did not pass"
    info = cases["Info fails"].findtext("system-out") or ""
    assert info.startswith("[info] failed (does not decide the verdict): exit_code == 0 -> exit_code = 1\n")
    journal = RunJournal.model_validate_json((project.root / "j.json").read_text())
    assert len(journal.reasons) == 3  # the three CI failures among the steps, no more
    verdict = _verdict(root).find("failure")
    assert verdict is not None
    assert verdict.text == "\n".join(journal.reasons)
    assert verdict.get("message") == "NO-GO: " + "; ".join(journal.reasons)


GATE = """
kind: runbook
name: go-no-go
sections:
  - name: Platform
    steps:
      - {name: API is healthy, id: api, check: http, with: {url: "{url}/health"}, expect: status == 200}
gate: {stable_for: 1s, interval: 100ms, max_wait: 1s}
"""


def test_a_gate_flap_fails_the_verdict_testcase_with_its_reason(
    project: Project, http_server: Server
) -> None:
    """Every step passed, but the gate saw a flap: only the verdict testcase fails, naming the flap."""
    http_server.route("/health", fail_on=frozenset({3}))
    project.runbook("gate", GATE.replace("{url}", http_server.url))
    result = project.cli("run", "go-no-go", "-r", "j.json", "-r", "j.xml")
    assert result.code == 1
    root = _parse(project.root / "j.xml")
    assert _outcomes(root) == {"API is healthy": "ok", "go/no-go": "failure:no-go"}
    verdict = _verdict(root)
    failure = verdict.find("failure")
    assert failure is not None
    assert (failure.get("message") or "").startswith(
        "NO-GO: not stable for 1s within 1s: 1 flap(s): API is healthy (last in round 2: "
        "status == 200 -> status = 503)"
    )
    out = verdict.findtext("system-out") or ""
    assert out.startswith("gate: did not hold after ")
    assert "round(s), 1 with a flap\n" in out
    journal = RunJournal.model_validate_json((project.root / "j.json").read_text())
    elapsed = journal.extra["gate"]["elapsed_s"]
    assert elapsed > 0
    assert verdict.get("time") == f"{elapsed:.3f}"  # the stability window is the time spent deciding


def test_a_score_under_the_pass_score_fails_the_verdict_testcase(
    project: Project, http_server: Server
) -> None:
    """A warning step that fails is not a CI failure, but the score it costs is: the verdict testcase says so."""
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
    assert project.cli("run", "scored", "-r", "j.xml").code == 1
    root = _parse(project.root / "j.xml")
    assert _outcomes(root) == {"API": "ok", "Dashboards": "ok", "go/no-go": "failure:no-go"}
    verdict = _verdict(root)
    failure = verdict.find("failure")
    assert failure is not None
    assert failure.get("message") == "NO-GO: readiness score 80 is below the pass score 95"
    assert "score: 80 (pass score 95)" in (verdict.findtext("system-out") or "").splitlines()


def test_a_dry_run_verdict_is_skipped(project: Project) -> None:
    """A dry run executes nothing: the verdict testcase is skipped, nothing fails."""
    project.runbook("outcomes", OUTCOMES)
    assert project.cli("run", "outcomes", "--dry-run", "-r", "j.xml").code == 0
    root = _parse(project.root / "j.xml")
    skipped = _verdict(root).find("skipped")
    assert skipped is not None and skipped.get("message") == "dry run: nothing was executed"
    assert (root.get("failures"), root.get("errors")) == ("0", "0")
