"""What every report format shows, computed once from the journal.

Templates stay dumb: they lay out the strings and numbers built here (start offsets,
timeline geometry, trimmed evidence, tables for the journal's `extra` data), so the
Markdown, HTML and JUnit views cannot disagree about what happened.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from runbook_engine.format.durations import format_duration
from runbook_engine.journal import RunJournal, SectionResult, StepResult
from runbook_engine.report.comparison import ComparisonView, build_comparison
from runbook_engine.text import args_line, short

# The engine already redacts and trims (4000 characters, 50 items); a report shows less,
# and less still for a step that passed (its expectations already say what was seen).
EVIDENCE_LINES = 8
PASSED_LINES = 3
LINE_CHARS = 200
BLOCK_CHARS = 600
SUMMARY_CHARS = 80
TABLE_ROWS = 50

# Outputs that are long text: shown as a short block of their last lines.
TEXT_OUTPUTS = ("stdout", "stderr", "text", "output")
EXTRA_TITLES = {
    "score": "Score",
    "gate": "Gate",
    "drill": "Drill timings",
    "not_indicated": "Contingencies not indicated (their detect checks pass)",
}


def offset_label(seconds: float | None) -> str:
    """An event offset as people say it: T-2h, T-90m, T-30s, T-0, T+5m."""
    if seconds is None:
        return "-"
    sign = "-" if seconds < 0 else "+"
    s = abs(round(seconds))
    if s == 0:
        return "T-0"  # the moment itself, as timeline.t_minus and people say it
    if s and s % 3600 == 0:
        return f"T{sign}{s // 3600}h"
    if s % 60 == 0:
        return f"T{sign}{s // 60}m"
    return f"T{sign}{s}s"


def clock(value: datetime | None) -> str:
    return value.strftime("%H:%M:%S") if value else "-"


def _summary(value: Any) -> str:
    """An output value in a few words: small data as JSON, big data as its size."""
    text = short(value)
    if isinstance(value, dict | list) and len(text) > SUMMARY_CHARS:
        return f"{{…{len(value)} keys}}" if isinstance(value, dict) else f"[…{len(value)} items]"
    return text


def tail_block(text: str, lines: int = EVIDENCE_LINES, chars: int = BLOCK_CHARS) -> str:
    """The last lines of some output, each and all of them capped: the end says what happened."""
    kept = [ln if len(ln) <= LINE_CHARS else ln[: LINE_CHARS - 1] + "…" for ln in text.rstrip().splitlines()]
    dropped = max(len(kept) - lines, 0)
    body = "\n".join(kept[-lines:])
    if len(body) > chars:
        body = "…" + body[-(chars - 1) :]
    return (f"[{dropped} earlier lines]\n" if dropped else "") + body


@dataclass(frozen=True)
class StepView:
    step: StepResult
    number: int
    offset_s: float | None
    evidence: str
    outputs: list[tuple[str, str]]
    blocks: list[tuple[str, str]]
    args: str

    @property
    def start(self) -> str:
        """Clock time and offset from the run's start: 10:00:03 (+2.10s)."""
        if self.step.started_at is None or self.offset_s is None:
            return "-"
        return f"{clock(self.step.started_at)} (+{format_duration(self.offset_s)})"

    @property
    def has_detail(self) -> bool:
        s = self.step
        return bool(s.expectations or self.evidence or self.outputs or self.blocks or s.message)


@dataclass(frozen=True)
class SectionView:
    section: SectionResult
    steps: list[StepView]

    @property
    def budget_use(self) -> str:
        """Actual against budget: '0.72s of 1m00s (1%)', or just the time without a budget."""
        s = self.section
        took = format_duration(s.duration_s)
        if not s.budget_s:
            return took
        pct = f" ({100 * (s.duration_s or 0) / s.budget_s:.0f}%)" if s.duration_s is not None else ""
        return f"{took} of {format_duration(s.budget_s)}{pct}"


@dataclass(frozen=True)
class Bar:
    label: str
    outcome: str
    left: float  # percent of the axis
    width: float
    title: str


@dataclass(frozen=True)
class TimelineRow:
    section: str | None  # a section heading row when set
    bar: Bar | None = None


@dataclass(frozen=True)
class Timeline:
    rows: list[TimelineRow]
    ticks: list[tuple[float, str]]
    total_s: float


@dataclass(frozen=True)
class Table:
    title: str
    columns: list[str]
    rows: list[list[str]]
    more: int = 0  # rows left out


@dataclass
class ReportView:
    journal: RunJournal
    sections: list[SectionView] = field(default_factory=list)

    @property
    def steps(self) -> list[StepView]:
        return [sv for sec in self.sections for sv in sec.steps]

    @property
    def manual_steps(self) -> list[StepView]:
        return [sv for sv in self.steps if sv.step.kind == "manual"]

    @property
    def failing_critical(self) -> list[StepView]:
        return [sv for sv in self.steps if sv.step.is_bad and sv.step.severity == "critical"]

    @property
    def counts_line(self) -> str:
        counts = self.journal.counts()
        parts = [f"{n} {k}" for k, n in counts.items() if n]
        return f"{sum(counts.values())} steps: " + (", ".join(parts) if parts else "none")

    @property
    def why(self) -> list[str]:
        """The verdict in words: the reasons for NO-GO, or what GO means."""
        j = self.journal
        if j.verdict == "DRY-RUN":
            return ["dry run: nothing was executed"]
        if j.reasons:
            return list(j.reasons)
        if j.verdict == "GO":
            return ["no critical step failed, errored or was blocked, and every manual step was confirmed"]
        return [f"the run is {j.status}"]

    @property
    def scheduled(self) -> datetime | None:
        """When this runbook was meant to start: the event time plus the runbook's offset."""
        j = self.journal
        if j.event is None or j.offset_s is None:
            return None
        return j.event + timedelta(seconds=j.offset_s)

    @property
    def timeline(self) -> Timeline:
        return build_timeline(self.journal)

    @functools.cached_property
    def comparison(self) -> ComparisonView | None:
        data = self.journal.extra.get("comparison")
        return None if data is None else build_comparison(data, self.journal.started_at)

    @property
    def extra_tables(self) -> list[Table]:
        # The comparison has a section of its own; only data it cannot read is shown raw.
        skip = {"comparison"} if self.comparison is not None else set()
        return extra_tables({k: v for k, v in self.journal.extra.items() if k not in skip})


def _step_view(step: StepResult, number: int, run_start: datetime) -> StepView:
    offset = (step.started_at - run_start).total_seconds() if step.started_at else None
    outputs: list[tuple[str, str]] = []
    blocks: list[tuple[str, str]] = []
    lines = PASSED_LINES if step.outcome == "passed" else EVIDENCE_LINES
    for key, value in step.outputs.items():
        if key in TEXT_OUTPUTS and isinstance(value, str):
            if value.strip():
                blocks.append((key, tail_block(value, lines)))
        else:
            outputs.append((key, _summary(value)))
    evidence = tail_block("\n".join(step.evidence), lines) if step.evidence else ""
    return StepView(step, number, offset, evidence, outputs, blocks, args_line(step.args))


def build_view(journal: RunJournal) -> ReportView:
    view = ReportView(journal)
    n = 0
    for sec in journal.sections:
        steps = []
        for step in sec.steps:
            n += 1
            steps.append(_step_view(step, n, journal.started_at))
        view.sections.append(SectionView(sec, steps))
    return view


def _tick_step(total: float) -> float:
    """A round spacing that puts at most 8 ticks on the axis."""
    for step in (
        0.01,
        0.02,
        0.05,
        0.1,
        0.2,
        0.25,
        0.5,
        1,
        2,
        5,
        10,
        15,
        30,
        60,
        120,
        300,
        600,
        900,
        1800,
        3600,
    ):
        if total / step <= 8:
            return float(step)
    return 7200.0


def build_timeline(journal: RunJournal) -> Timeline:
    """A bar per step on a shared time axis from the run's start (percentages, for CSS)."""
    spans: list[tuple[float, float]] = []
    for step in journal.steps():
        if step.started_at is not None:
            start = (step.started_at - journal.started_at).total_seconds()
            spans.append((start, start + (step.duration_s or 0.0)))
    total = max([journal.duration_s or 0.0, *(end for _, end in spans)]) or 1.0
    rows: list[TimelineRow] = []
    for sec in journal.sections:
        rows.append(TimelineRow(section=sec.name))
        for step in sec.steps:
            if step.started_at is None:
                continue
            start = (step.started_at - journal.started_at).total_seconds()
            dur = step.duration_s or 0.0
            left = max(0.0, min(100.0, 100 * start / total))
            width = max(0.4, min(100.0 - left, 100 * dur / total))
            title = f"{step.name}: {step.outcome}, +{format_duration(start)}, {format_duration(dur)}"
            rows.append(
                TimelineRow(None, Bar(step.name, step.outcome, round(left, 3), round(width, 3), title))
            )
    spacing = _tick_step(total)
    ticks = []
    t = 0.0
    while t <= total + 1e-9:
        ticks.append((round(100 * t / total, 3), format_duration(t) if t else "0"))
        t += spacing
    return Timeline(rows, ticks, total)


def _label(key: str) -> str:
    return key.removesuffix("_s").replace("_", " ")


def _moment(text: str) -> str:
    """An ISO time from extra data, to the millisecond (drill timings are that fine)."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return short(text)
    zone = "" if value.utcoffset() is None else (" UTC" if not value.utcoffset() else value.strftime(" %z"))
    return value.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + zone


def _cell(key: str, value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return {True: "yes", False: "no", None: "-"}[value]
    if key.endswith("_s") and isinstance(value, int | float):
        return format_duration(float(value))
    if key.endswith("_at") or key == "at":
        return _moment(value) if isinstance(value, str) else short(value)
    if isinstance(value, list) and all(not isinstance(v, dict | list) for v in value):
        return short(", ".join(str(v) for v in value)) or "-"
    return short(value)


def extra_tables(extra: dict[str, Any]) -> list[Table]:
    """Tables for data later features add to the journal (score, gate, drill, ...).

    Known keys come first with friendly titles; scalars become a name/value table and
    every list of records becomes a table of its own. Keys ending in `_s` are durations.
    """
    order = [k for k in EXTRA_TITLES if k in extra] + sorted(k for k in extra if k not in EXTRA_TITLES)
    tables: list[Table] = []
    for key in order:
        title = EXTRA_TITLES.get(key, _label(key).capitalize())
        value = extra[key]
        if not isinstance(value, dict):
            tables.append(Table(title, ["value"], [[_cell(key, value)]]))
            continue
        records = {k: v for k, v in value.items() if isinstance(v, list) and v and isinstance(v[0], dict)}
        scalars = [[_label(k), _cell(k, v)] for k, v in value.items() if k not in records]
        if scalars:
            tables.append(Table(title, ["", ""], scalars))
        for k, items in records.items():
            columns = list(dict.fromkeys(c for item in items if isinstance(item, dict) for c in item))
            rows = [
                [_cell(c, item.get(c)) for c in columns]
                for item in items[:TABLE_ROWS]
                if isinstance(item, dict)
            ]
            tables.append(
                Table(
                    f"{title}: {_label(k)}",
                    [_label(c) for c in columns],
                    rows,
                    max(len(items) - TABLE_ROWS, 0),
                )
            )
    return tables
