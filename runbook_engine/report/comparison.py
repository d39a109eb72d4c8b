"""The "compared with the previous run" section: `journal.extra["comparison"]` made readable.

The run history computes the comparison (runbook_engine/history/compare.py) and the run
stores it in the journal; here it becomes strings and sparkline geometry, so the Markdown
and HTML templates lay out the same figures. A journal whose comparison does not have the
expected shape (an older engine wrote it, or someone edited the file) gets None, and the
report then shows it with the other extra data as it is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from runbook_engine.format.durations import format_duration

SPARKS = "▁▂▃▄▅▆▇█"
NOT_RUN = "·"  # a run in which the section did not run (the runbook had no such section then)

# The HTML sparkline's box, in CSS pixels; the plot keeps PAD clear on every side so the
# stroke and the end dot are not clipped.
SPARK_W = 160
SPARK_H = 30
PAD = 3.0


@dataclass(frozen=True)
class ChangedStep:
    section: str
    name: str
    before: str
    after: str
    change: str  # slower steps: "+1.11s (+1037%)"; outcome changes: ""
    message: str  # outcome changes: the failure's message, or "-"


@dataclass(frozen=True)
class Spark:
    """One trend row: the durations of a section (or the whole run) over the last runs."""

    label: str
    budget: str
    latest: str
    over_budget: bool  # this run took longer than the budget
    values: str  # "0.11s, 1.22s", oldest first
    chars: str  # unicode sparkline, for Markdown
    path: str  # SVG path data of the line (gaps where the section did not run)
    dots: list[tuple[float, float]]  # points with no line through them (both neighbours missing)
    end: tuple[float, float] | None  # this run's point
    budget_y: float | None  # the budget line's height
    title: str  # a text alternative: what the picture shows


@dataclass(frozen=True)
class ComparisonView:
    run_id: str
    started: datetime | None
    before_this: str  # "1.02s" between the previous start and this one
    verdict: str
    duration: str
    same_file: bool
    threshold: str  # "at least 20% and 0.50s"
    slower: list[ChangedStep]
    new_failures: list[ChangedStep]
    fixed: list[ChangedStep]
    runs: int
    trend: list[Spark]  # the sections, then the whole run
    spark_w: int = SPARK_W
    spark_h: int = SPARK_H


def build_comparison(data: Any, this_start: datetime) -> ComparisonView | None:
    """The view of a comparison, or None when the data is not a comparison this engine wrote."""
    try:
        return _build(data, this_start)
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


def _build(data: Mapping[str, Any], this_start: datetime) -> ComparisonView:
    prev = data["previous"]
    threshold = data["threshold"]
    trend = data["trend"]
    started = _when(prev["started_at"])
    if this_start.tzinfo is None:  # journals keep UTC; an old one may lack the zone
        this_start = this_start.replace(tzinfo=UTC)
    gap = (this_start - started).total_seconds() if started and started.tzinfo else None
    return ComparisonView(
        run_id=str(prev["run_id"]),
        started=started,
        before_this=format_duration(gap) if gap is not None and gap >= 0 else "",
        verdict=str(prev.get("verdict") or "no verdict"),
        duration=format_duration(_num(prev.get("duration_s"))),
        same_file=prev.get("same_file") is True,
        threshold=f"at least {float(threshold['ratio']):.0%} and {format_duration(_num(threshold['min_s']))}",
        slower=[_slower(s) for s in data["slower"]],
        new_failures=[_outcome(s) for s in data["new_failures"]],
        fixed=[_outcome(s) for s in data["fixed"]],
        runs=len(trend["run_ids"]),
        trend=[
            *(
                _spark(str(s["name"]), _durations(s["durations_s"]), _num(s.get("budget_s")))
                for s in trend["sections"]
            ),
            _spark("Total", _durations(trend["total_s"]), _num(trend.get("budget_s"))),
        ],
    )


def _when(text: Any) -> datetime | None:
    return datetime.fromisoformat(text) if isinstance(text, str) else None


def _num(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"expected a number, got {value!r}")
    return float(value)


def _durations(values: Sequence[Any]) -> list[float | None]:
    if isinstance(values, str) or not isinstance(values, Sequence):
        raise TypeError("expected a list of durations")
    return [_num(v) for v in values]


def _slower(s: Mapping[str, Any]) -> ChangedStep:
    before, after, pct = float(s["before_s"]), float(s["after_s"]), float(s["change_pct"])
    change = "+" + format_duration(float(s["change_s"]))
    if before > 0:  # a step that took no time before has no meaningful percentage
        change += f" (+{pct:.0f}%)"
    return ChangedStep(
        str(s["section"]), str(s["name"]), format_duration(before), format_duration(after), change, "-"
    )


def _outcome(s: Mapping[str, Any]) -> ChangedStep:
    before = s.get("before")
    return ChangedStep(
        str(s["section"]),
        str(s["name"]),
        "new step" if before is None else str(before),
        str(s["after"]),
        "",
        str(s.get("message") or "-"),
    )


def _spark(label: str, values: list[float | None], budget: float | None) -> Spark:
    known = [v for v in values if v is not None]
    # One scale for the line and the budget: from 0 to the budget, or to the slowest run
    # when one went over it, so a line near the top means "close to the budget".
    top = max([*known, budget or 0.0]) or 1.0
    n = len(values)
    step = (SPARK_W - 2 * PAD) / (n - 1) if n > 1 else 0.0

    def point(i: int, v: float) -> tuple[float, float]:
        x = PAD + i * step if n > 1 else SPARK_W / 2
        return round(x, 1), round(PAD + (SPARK_H - 2 * PAD) * (1 - v / top), 1)

    path: list[str] = []
    dots: list[tuple[float, float]] = []
    for i, v in enumerate(values):
        if v is None:
            continue
        x, y = point(i, v)
        joined = i > 0 and values[i - 1] is not None
        path.append(f"{'L' if joined else 'M'}{x},{y}")
        if not joined and i + 1 < n and values[i + 1] is None:
            dots.append((x, y))  # a lone point draws no line (this run's point has its own dot)
    latest = values[-1] if values else None
    chars = "".join(NOT_RUN if v is None else SPARKS[round(v / top * (len(SPARKS) - 1))] for v in values)
    shown = ", ".join(format_duration(v) for v in values)
    budget_text = format_duration(budget) if budget else "-"
    return Spark(
        label=label,
        budget=budget_text,
        latest=format_duration(latest),
        over_budget=bool(budget and latest is not None and latest > budget),
        values=shown,
        chars=chars,
        path=" ".join(path),
        dots=dots,
        end=point(n - 1, latest) if latest is not None else None,
        budget_y=point(0, budget)[1] if budget else None,
        title=f"{label}: {shown} (oldest first)" + (f"; budget {budget_text}" if budget else ""),
    )
