"""JUnit XML from the journal: a testsuite per section, a testcase per step, and one
testcase for the verdict itself.

CI systems (Jenkins, GitLab, GitHub test reporters) fail a build on `failure` and
`error` elements, so those mark exactly what makes the verdict NO-GO: a critical step
that failed (`failure`), could not be checked (`error`), was blocked, was not confirmed
or was skipped by the operator (`failure`). A warning or info step that failed is not a
CI failure (it never decides the verdict): its testcase passes and says so in
`system-out`. The `verdict` testcase carries the journal's reasons, so a NO-GO that no
single step explains (a gate flap, a score under the pass score, an interrupted run,
a drill that missed its RTO) still shows in CI. Times are seconds. Built with
ElementTree so every value is escaped.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import datetime

from runbook_engine.journal import RunJournal, StepResult
from runbook_engine.report.view import StepView, build_view

# Characters XML 1.0 cannot carry at all (terminal escapes in command output, NULs).
_NOT_XML = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
VERDICT_SUITE = "verdict"
VERDICT_CASE = "go/no-go"
# The verdict's own words (runbook_engine.judge.verdict) for a critical step that is not a pass.
_WHAT = {"blocked": "blocked", "pending": "not confirmed", "skipped": "skipped by the operator"}


def _x(text: object) -> str:
    return _NOT_XML.sub("\ufffd", str(text))


def _secs(value: float | None) -> str:
    return f"{value or 0.0:.3f}"


def _stamp(value: datetime | None) -> str:
    # The JUnit schema's timestamp is an ISO 8601 date-time without a zone; journals are UTC.
    return value.replace(tzinfo=None).isoformat(timespec="seconds") if value else ""


def decides_no_go(step: StepResult) -> bool:
    """The step is one of the verdict's NO-GO reasons (mirrors runbook_engine.judge.verdict.decide)."""
    return step.severity == "critical" and (step.is_bad or step.operator_skipped)


def _failed_message(step: StepResult) -> str:
    failed = [e.detail for e in step.expectations if not e.passed]
    return "; ".join(failed) or step.message or step.outcome


def _system_out(sv: StepView, note: str | None) -> str:
    parts = [note] if note else []
    if sv.args:
        parts.append(f"with: {sv.args}")
    if sv.outputs:
        parts.append("outputs: " + ", ".join(f"{k}={v}" for k, v in sv.outputs))
    if sv.step.answered_by:
        parts.append(f"answered by {sv.step.answered_by} at {sv.step.answered_at}")
    if sv.evidence:
        parts.append("evidence:\n" + sv.evidence)
    parts.extend(f"{name}:\n{text}" for name, text in sv.blocks)
    return "\n".join(parts)


def _testcase(parent: ET.Element, sv: StepView, classname: str) -> None:
    s = sv.step
    case = ET.SubElement(
        parent, "testcase", name=_x(s.name), classname=_x(classname), time=_secs(s.duration_s)
    )
    detail = "\n".join(f"{'ok' if e.passed else 'FAILED'}: {e.detail}" for e in s.expectations)
    note = None
    if decides_no_go(s):
        if s.outcome == "error":
            message = s.message or "could not be checked"
            ET.SubElement(case, "error", message=_x(message), type="error").text = _x(message)
        elif s.outcome == "failed":
            message = _failed_message(s)
            ET.SubElement(case, "failure", message=_x(message), type="failed").text = _x(detail or message)
        else:
            what = _WHAT.get(s.outcome, s.outcome)
            # "destructive step declined by the operator" says it already; a person's note does not.
            told = s.message or ""
            said = what in told or "operator" in told
            message = told if said else f"{what}: {told}" if told else what
            kind = "operator-skipped" if s.outcome == "skipped" else s.outcome
            ET.SubElement(case, "failure", message=_x(message), type=kind).text = _x(message)
    elif s.outcome in ("skipped", "blocked", "pending"):
        prefix = "" if s.severity == "critical" else f"[{s.severity}] "
        ET.SubElement(case, "skipped", message=_x(f"{prefix}{s.outcome}: {s.message or s.outcome}"))
    elif s.outcome in ("failed", "error"):
        # Recorded, not a CI failure: the verdict only warns about it (or ignores it, for info).
        what = "failed" if s.outcome == "failed" else "could not be checked"
        note = f"[{s.severity}] {what} (does not decide the verdict): {_failed_message(s)}"
        if detail:
            note += "\n" + detail
    out = _system_out(sv, note)
    if out:
        ET.SubElement(case, "system-out").text = _x(out)


def _verdict_out(journal: RunJournal) -> str:
    """What else the decision rested on: warnings, gate window, score, recommendations."""
    lines = [f"warning: {w}" for w in journal.warnings]
    gate = journal.extra.get("gate")
    if isinstance(gate, dict):
        lines.append(
            f"gate: {'held' if gate.get('held') else 'did not hold'} after {gate.get('rounds', 0)} "
            f"round(s), {gate.get('flap_rounds', 0)} with a flap"
        )
    score = journal.extra.get("score")
    if isinstance(score, dict) and isinstance(score.get("score"), int | float):
        bar = score.get("pass_score")
        lines.append(
            f"score: {score['score']:g}" + (f" (pass score {bar:g})" if isinstance(bar, int | float) else "")
        )
    lines.extend(f"recommended contingency: {r.name} ({r.title})" for r in journal.recommended)
    return "\n".join(lines)


def _deciding_s(journal: RunJournal) -> float | None:
    """The gate's stability window runs after the sections: the time spent deciding."""
    gate = journal.extra.get("gate")
    elapsed = gate.get("elapsed_s") if isinstance(gate, dict) else None
    return float(elapsed) if isinstance(elapsed, int | float) else None


def _verdict_case(parent: ET.Element, journal: RunJournal) -> None:
    case = ET.SubElement(
        parent,
        "testcase",
        name=VERDICT_CASE,
        classname=_x(f"{journal.runbook}.{VERDICT_SUITE}"),
        time=_secs(_deciding_s(journal)),
    )
    if journal.verdict == "NO-GO":
        reasons = journal.reasons or [f"the run is {journal.status}"]
        ET.SubElement(case, "failure", message=_x("NO-GO: " + "; ".join(reasons)), type="no-go").text = _x(
            "\n".join(reasons)
        )
    elif journal.verdict == "DRY-RUN":
        ET.SubElement(case, "skipped", message="dry run: nothing was executed")
    elif journal.verdict is None:
        message = f"no verdict: the run is {journal.status}"
        ET.SubElement(case, "error", message=_x(message), type="no-verdict").text = _x(message)
    out = _verdict_out(journal)
    if out:
        ET.SubElement(case, "system-out").text = _x(out)


def _suite(
    root: ET.Element,
    journal: RunJournal,
    index: int,
    name: str,
    time: float | None,
    started: datetime | None,
    budget_s: float | None,
) -> ET.Element:
    # Counts are set once the testcases exist (_count); listed here to keep attribute order.
    suite = ET.SubElement(
        root,
        "testsuite",
        name=_x(name),
        tests="0",
        failures="0",
        errors="0",
        skipped="0",
        time=_secs(time),
        timestamp=_stamp(started or journal.started_at),
        hostname=_x(journal.host),
        id=str(index),
        package=_x(journal.runbook),
    )
    props = ET.SubElement(suite, "properties")
    for key, value in (
        ("runbook", journal.runbook),
        ("run_id", journal.run_id),
        ("environment", journal.environment or ""),
        ("verdict", journal.verdict or journal.status),
        ("budget_s", "" if budget_s is None else f"{budget_s:g}"),
    ):
        ET.SubElement(props, "property", name=key, value=_x(value))
    return suite


def _count(element: ET.Element, cases: list[ET.Element]) -> None:
    """Set tests/failures/errors(/skipped) from the testcases themselves, so they always agree."""
    counts = {
        "tests": len(cases),
        "failures": sum(c.find("failure") is not None for c in cases),
        "errors": sum(c.find("error") is not None for c in cases),
        "skipped": sum(c.find("skipped") is not None for c in cases),
    }
    for key, value in counts.items():
        if key in element.attrib:
            element.set(key, str(value))


def render_junit(journal: RunJournal) -> str:
    view = build_view(journal)
    # `skipped` is not an attribute of <testsuites> in the Jenkins schema; the suites carry it.
    root = ET.Element(
        "testsuites",
        name=_x(f"runbook {journal.runbook}"),
        tests="0",
        failures="0",
        errors="0",
        time=_secs(journal.duration_s),
    )
    for index, sec in enumerate(view.sections):
        suite = _suite(
            root,
            journal,
            index,
            sec.section.name,
            sec.section.duration_s,
            sec.section.started_at,
            sec.section.budget_s,
        )
        classname = f"{journal.runbook}.{sec.section.name}"
        for sv in sec.steps:
            _testcase(suite, sv, classname)
        _count(suite, suite.findall("testcase"))
    suite = _suite(
        root, journal, len(view.sections), VERDICT_SUITE, _deciding_s(journal), None, journal.budget_s
    )
    _verdict_case(suite, journal)
    _count(suite, suite.findall("testcase"))
    _count(root, list(root.iter("testcase")))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
