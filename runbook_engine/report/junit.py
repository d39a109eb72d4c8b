"""JUnit XML from the journal: a testsuite per section, a testcase per step.

The structure CI systems read (Jenkins, GitLab, GitHub test reporters): `failure` for a
step that was checked and wrong (message: the failed expectations with actual values),
`error` for a step that could not be checked, `skipped` for skipped, blocked and
pending steps. Times are seconds. Built with ElementTree so every value is escaped.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import datetime

from runbook_engine.journal import RunJournal, StepResult
from runbook_engine.report.view import StepView, build_view

# Characters XML 1.0 cannot carry at all (terminal escapes in command output, NULs).
_NOT_XML = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _x(text: object) -> str:
    return _NOT_XML.sub("\ufffd", str(text))


def _secs(value: float | None) -> str:
    return f"{value or 0.0:.3f}"


def _stamp(value: datetime | None) -> str:
    # The JUnit schema's timestamp is an ISO 8601 date-time without a zone; journals are UTC.
    return value.replace(tzinfo=None).isoformat(timespec="seconds") if value else ""


def _severity_prefix(step: StepResult) -> str:
    return "" if step.severity == "critical" else f"[{step.severity}] "


def _system_out(sv: StepView) -> str:
    parts = []
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
    if s.outcome == "failed":
        failed = [e.detail for e in s.expectations if not e.passed]
        message = "; ".join(failed) or s.message or "failed"
        el = ET.SubElement(case, "failure", message=_x(_severity_prefix(s) + message), type="failed")
        el.text = _x(detail or message)
    elif s.outcome == "error":
        message = s.message or "could not be checked"
        el = ET.SubElement(case, "error", message=_x(_severity_prefix(s) + message), type="error")
        el.text = _x(message)
    elif s.outcome in ("skipped", "blocked", "pending"):
        ET.SubElement(case, "skipped", message=_x(f"{s.outcome}: {s.message or s.outcome}"))
    out = _system_out(sv)
    if out:
        ET.SubElement(case, "system-out").text = _x(out)


def render_junit(journal: RunJournal) -> str:
    view = build_view(journal)
    counts = journal.counts()
    root = ET.Element(
        "testsuites",
        name=_x(f"runbook {journal.runbook}"),
        tests=str(sum(counts.values())),
        failures=str(counts["failed"]),
        errors=str(counts["error"]),
        time=_secs(journal.duration_s),
    )
    for index, sec in enumerate(view.sections):
        steps = [sv.step for sv in sec.steps]
        suite = ET.SubElement(
            root,
            "testsuite",
            name=_x(sec.section.name),
            tests=str(len(steps)),
            failures=str(sum(s.outcome == "failed" for s in steps)),
            errors=str(sum(s.outcome == "error" for s in steps)),
            skipped=str(sum(s.outcome in ("skipped", "blocked", "pending") for s in steps)),
            time=_secs(sec.section.duration_s),
            timestamp=_stamp(sec.section.started_at or journal.started_at),
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
            ("budget_s", "" if sec.section.budget_s is None else f"{sec.section.budget_s:g}"),
        ):
            ET.SubElement(props, "property", name=key, value=_x(value))
        classname = f"{journal.runbook}.{sec.section.name}"
        for sv in sec.steps:
            _testcase(suite, sv, classname)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
