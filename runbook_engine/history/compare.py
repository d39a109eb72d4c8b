"""How this run differs from the previous run of the same runbook, as plain JSON data.

The `run` command stores the result in `journal.extra["comparison"]` before reports are
written; report templates render it. Reads record files only (no DuckDB): the previous
runs of one runbook are the newest files of its folder.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypedDict

from runbook_engine.history.journals import RecordError, list_folder, parse_time, read_record
from runbook_engine.journal import RunJournal

SLOWER_RATIO = 0.2  # a step is "slower" when it took 20% longer...
SLOWER_MIN_S = 0.5  # ...and at least half a second longer (timing noise of fast steps is not news)
TREND_RUNS = 10  # runs in the trend, this one included
FAILED = frozenset({"failed", "error", "blocked"})
NOT_RUN = frozenset({"skipped", "blocked", "pending"})


class PreviousRun(TypedDict):
    run_id: str
    started_at: str
    verdict: str | None
    duration_s: float | None
    same_file: bool  # the runbook file had the same SHA-256 then


class Threshold(TypedDict):
    ratio: float
    min_s: float


class SlowerStep(TypedDict):
    id: str
    name: str
    section: str
    before_s: float
    after_s: float
    change_s: float
    change_pct: float


class OutcomeChange(TypedDict):
    id: str
    name: str
    section: str
    before: str | None  # None: the step did not exist in the previous run
    after: str
    message: str | None  # the failure's message (this run's for new failures, the previous one's for fixed)


class SectionTrend(TypedDict):
    name: str
    budget_s: float | None
    durations_s: list[float | None]  # one per trend run, oldest first; None: not run then


class Trend(TypedDict):
    run_ids: list[str]
    started_at: list[str]
    total_s: list[float | None]
    budget_s: float | None
    sections: list[SectionTrend]


class Comparison(TypedDict):
    previous: PreviousRun
    threshold: Threshold
    slower: list[SlowerStep]
    new_failures: list[OutcomeChange]
    fixed: list[OutcomeChange]
    trend: Trend


def compare_with_previous(
    journal: RunJournal,
    history_dir: Path,
    *,
    ratio: float = SLOWER_RATIO,
    min_s: float = SLOWER_MIN_S,
    trend_runs: int = TREND_RUNS,
) -> Comparison | None:
    """Compare with the newest earlier finished run of this runbook; None if there is none."""
    earlier = _earlier_runs(journal, history_dir, trend_runs - 1)
    if not earlier:
        return None
    now = journal.model_dump(mode="json")
    prev = earlier[-1]
    before = _steps(prev)
    after = _steps(now)
    return Comparison(
        previous=PreviousRun(
            run_id=str(prev["run_id"]),
            started_at=str(prev["started_at"]),
            verdict=prev.get("verdict"),
            duration_s=prev.get("duration_s"),
            same_file=bool(journal.file_sha256) and prev.get("file_sha256") == journal.file_sha256,
        ),
        threshold=Threshold(ratio=ratio, min_s=min_s),
        slower=_slower(before, after, ratio, min_s),
        new_failures=[
            _change(s, before.get(sid), s)
            for sid, s in after.items()
            if s["outcome"] in FAILED and (before.get(sid) or {}).get("outcome") not in FAILED
        ],
        fixed=[
            _change(s, before[sid], before[sid])
            for sid, s in after.items()
            if s["outcome"] == "passed" and sid in before and before[sid]["outcome"] in FAILED
        ],
        trend=_trend([*earlier, now]),
    )


def _earlier_runs(journal: RunJournal, history_dir: Path, limit: int) -> list[dict[str, Any]]:
    """Up to `limit` finished, real runs that started before this one, oldest first."""
    found: list[tuple[datetime, dict[str, Any]]] = []
    this_start = _aware(journal.started_at)
    oldest_second = None
    for path in reversed(list_folder(history_dir, journal.kind, journal.runbook)):
        # File names order runs by the second they started in; within one second only the
        # recorded start time tells, so read on until the second changes.
        second = path.name[:16]
        if len(found) >= limit and second != oldest_second:
            break
        if path.stem == journal.run_id:
            continue
        try:
            data = read_record(history_dir, path.relative_to(history_dir).as_posix()).journal
        except RecordError:
            continue
        started = parse_time(data.get("started_at"))
        if (
            data.get("status") == "finished"
            and not data.get("dry_run")
            and data.get("runbook") == journal.runbook
            and started is not None
            and started < this_start
        ):
            found.append((started, data))
            oldest_second = second
    found.sort(key=lambda pair: pair[0])
    return [data for _, data in found[-limit:]]


def _aware(t: datetime) -> datetime:
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t


def _steps(journal: dict[str, Any]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for section in journal.get("sections") or []:
        for step in section.get("steps") or []:
            if step.get("duration_s") is not None:  # finished steps only
                out[str(step["id"])] = step
    return out


def _slower(
    before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]], ratio: float, min_s: float
) -> list[SlowerStep]:
    out = []
    for sid, s in after.items():
        b = before.get(sid)
        if b is None or s["outcome"] in NOT_RUN or b["outcome"] in NOT_RUN:
            continue
        # Rounded first, so the figures shown add up: after - before == change.
        was, now = round(float(b["duration_s"]), 3), round(float(s["duration_s"]), 3)
        if now - was >= min_s and now >= was * (1 + ratio):
            out.append(
                SlowerStep(
                    id=sid,
                    name=str(s["name"]),
                    section=str(s.get("section") or ""),
                    before_s=was,
                    after_s=now,
                    change_s=round(now - was, 3),
                    change_pct=round((now - was) / was * 100, 1) if was > 0 else 0.0,
                )
            )
    return sorted(out, key=lambda c: -c["change_s"])


def _change(step: dict[str, Any], before: dict[str, Any] | None, failed: dict[str, Any]) -> OutcomeChange:
    return OutcomeChange(
        id=str(step["id"]),
        name=str(step["name"]),
        section=str(step.get("section") or ""),
        before=None if before is None else str(before["outcome"]),
        after=str(step["outcome"]),
        message=failed.get("message"),
    )


def _trend(runs: list[dict[str, Any]]) -> Trend:
    current = runs[-1]
    sections = []
    for sec in current.get("sections") or []:
        name = sec.get("name")
        durations: list[float | None] = []
        for run in runs:
            match = next((s for s in run.get("sections") or [] if s.get("name") == name), None)
            durations.append(_round(match.get("duration_s")) if match else None)
        sections.append(SectionTrend(name=str(name), budget_s=sec.get("budget_s"), durations_s=durations))
    return Trend(
        run_ids=[str(r["run_id"]) for r in runs],
        started_at=[str(r["started_at"]) for r in runs],
        total_s=[_round(r.get("duration_s")) for r in runs],
        budget_s=current.get("budget_s"),
        sections=sections,
    )


def _round(value: object) -> float | None:
    return round(float(value), 3) if isinstance(value, int | float) else None
