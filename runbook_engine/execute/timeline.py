"""The event timeline: when each phase should run relative to the event, and how late it is."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from runbook_engine.format.durations import format_duration
from runbook_engine.format.library import Library
from runbook_engine.text import counted


def t_minus(seconds: float) -> str:
    """-7080 -> 'T-1h58m'; 300 -> 'T+5m'; 0 -> 'T-0'."""
    sign = "-" if seconds <= 0 else "+"
    s = round(abs(seconds))
    if s == 0:
        return "T-0"
    if s >= 2 * 86400:
        d, rest = divmod(s, 86400)
        return f"T{sign}{d}d{rest // 3600}h" if rest // 3600 else f"T{sign}{d}d"
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    parts = (f"{h}h" if h else "") + (f"{m:02d}m" if h and m else f"{m}m" if m else "")
    if not h and not m:
        parts = f"{sec}s"
    elif not h and sec and m < 10:
        parts += f"{sec:02d}s"
    return f"T{sign}{parts}"


def lateness(seconds: float) -> str:
    """How far from the plan, in words: '2 minutes late', 'on time', '30 seconds early'."""
    s = round(abs(seconds))
    if s < 30:
        return "on time"
    if s < 90:
        amount = f"{s} seconds"
    elif s < 2 * 3600:
        amount = counted(s // 60, "minute")
    elif s < 2 * 86400:
        h, m = divmod(s // 60, 60)
        amount = counted(h, "hour") + (f" {counted(m, 'minute')}" if m else "")
    else:
        d, h = divmod(s // 3600, 24)
        amount = counted(d, "day") + (f" {counted(h, 'hour')}" if h else "")
    return f"{amount} {'late' if seconds > 0 else 'early'}"


def run_timing(event: datetime, offset_s: float | None, started_at: datetime) -> dict[str, Any]:
    actual = (started_at - event).total_seconds()
    out: dict[str, Any] = {
        "event": event.isoformat(),
        "actual_offset_s": round(actual, 1),
        "actual": t_minus(actual),
    }
    if offset_s is not None:
        late = actual - offset_s
        out.update(
            {
                "planned_offset_s": offset_s,
                "planned": t_minus(offset_s),
                "late_s": round(late, 1),
                "lateness": lateness(late),
            }
        )
    return out


@dataclass(frozen=True)
class PlanRow:
    name: str
    title: str
    offset_s: float
    start: datetime
    budget_s: float | None
    deadline: datetime | None
    status: str  # "upcoming", "due now" (started, before its deadline) or "overdue"
    note: str = ""


def plan(lib: Library, event: datetime, now: datetime) -> list[PlanRow]:
    """Every runbook with an offset, in time order, with its start, deadline and status now.

    The deadline is the start plus the budget; a runbook without a budget is due until
    the next phase starts (the last one, until its own start has passed by a day)."""
    timed = sorted(
        (
            (loaded.doc.offset, name, loaded.doc)
            for name, loaded in lib.runbooks.items()
            if loaded.doc.offset is not None
        ),
        key=lambda t: (t[0], t[1]),
    )
    rows = []
    for i, (offset, name, doc) in enumerate(timed):
        start = event + timedelta(seconds=offset)
        if doc.budget:
            deadline: datetime | None = start + timedelta(seconds=doc.budget)
        elif i + 1 < len(timed):
            deadline = event + timedelta(seconds=timed[i + 1][0])
        else:
            deadline = start + timedelta(days=1) if now > start + timedelta(days=1) else None
        if deadline is not None and now > deadline:
            status = "overdue"
        elif now >= start:
            status = "due now"
        else:
            status = "upcoming"
        note = ""
        if offset < 0 and doc.budget and deadline is not None and deadline > event:
            note = f"its budget runs {format_duration((deadline - event).total_seconds())} past T-0"
        rows.append(PlanRow(name, doc.title or name, offset, start, doc.budget, deadline, status, note))
    return rows
