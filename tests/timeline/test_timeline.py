"""The event timeline: plan order, status now, and how late a phase ran."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from runbook_engine.execute.timeline import lateness, run_timing, t_minus
from tests.conftest import Project

PHASES = {
    "early": ("-2h", "20m"),
    "middle": ("-30m", "15m"),
    "late": ("-5m", "10m"),
}


def _write_phases(project: Project) -> None:
    for name, (offset, budget) in PHASES.items():
        project.runbook(
            name,
            f"""
            kind: runbook
            name: {name}
            offset: {offset}
            budget: {budget}
            sections: [{{name: S, steps: [{{name: Echo, check: shell, with: {{command: "true"}}}}]}}]
        """,
        )


def test_t_minus_and_lateness_wording() -> None:
    """Offsets and lateness read the way people say them."""
    assert [t_minus(s) for s in (-7200, -7080, -5400, -65, 0, 3600, -9 * 86400 - 36000)] == [
        "T-2h",
        "T-1h58m",
        "T-1h30m",
        "T-1m05s",
        "T-0",
        "T+1h",
        "T-9d10h",
    ]
    assert [lateness(s) for s in (120, 10, -40, 95, 7300, -802920)] == [
        "2 minutes late",
        "on time",
        "40 seconds early",
        "1 minute late",
        "2 hours 1 minute late",
        "9 days 7 hours early",  # not "13382 minutes early"
    ]


def test_plan_lists_phases_in_order_with_status(project: Project) -> None:
    """plan orders phases by offset and marks overdue, due and upcoming ones."""
    _write_phases(project)
    event = (datetime.now(UTC) + timedelta(minutes=20)).strftime("%Y-%m-%dT%H:%M:%S+00:00")
    result = project.cli("plan", "--event", event)
    rows = [line.split() for line in result.out.splitlines()[1:]]
    # The deadline takes one column ("08:20") or two ("12-01 00:20", across midnight).
    names = [next(i for i, word in enumerate(r) if word in PHASES) for r in rows]
    # early: 08:00-08:20 before a 10:00 event, i.e. ended 1h20m before "now" (T-20m): overdue.
    # middle: starts T-30m, due until T-15m: now is T-20m, so due now. late: starts T-5m: upcoming.
    assert [(r[0], r[i], " ".join(r[i + 1 :])) for r, i in zip(rows, names, strict=True)] == [
        ("T-2h", "early", "overdue"),
        ("T-30m", "middle", "due now"),
        ("T-5m", "late", "upcoming (its budget runs 5m00s past T-0)"),
    ]
    assert result.code == 0


def test_a_phase_without_budget_is_due_until_the_next_one(project: Project) -> None:
    """Without a budget a phase's deadline is the next phase's start; the plan never says
    "due now" years after the event."""
    project.runbook("a", "kind: runbook\nname: a\noffset: -2h\nsections: [{name: S, steps: [{manual: X}]}]\n")
    project.runbook("b", "kind: runbook\nname: b\noffset: -1h\nsections: [{name: S, steps: [{manual: X}]}]\n")
    result = project.cli("plan", "--event", "2020-01-01 10:00+00:00")
    lines = result.out.splitlines()[1:]
    assert [line.split()[6:] for line in lines] == [["09:00", "a", "overdue"], ["01-02", "09:00", "b", "overdue"]]


def test_plan_needs_an_event_time(project: Project) -> None:
    """plan without --event or --in is a usage error."""
    _write_phases(project)
    result = project.cli("plan")
    assert (result.code, result.err) == (
        2,
        "give the event time with --event '2026-12-01 10:00' or --in 2h\n",
    )


def test_run_with_event_reports_how_late_it_ran(project: Project) -> None:
    """A phase run 2 minutes after its planned start reports T-1h58m, 2 minutes late."""
    _write_phases(project)
    event = datetime.now(UTC) + timedelta(hours=1, minutes=58)
    result, journal = project.run_json("early", "--event", event.isoformat())
    timing = journal["extra"]["timing"]
    assert (timing["planned"], timing["actual"], timing["lateness"]) == ("T-2h", "T-1h58m", "2 minutes late")
    assert "ran at T-1h58m, planned T-2h: 2 minutes late" in result.out


def test_run_timing_math() -> None:
    """run_timing compares the actual start with event + offset."""
    event = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    timing = run_timing(event, -7200, datetime(2026, 12, 1, 8, 2, 30, tzinfo=UTC))
    assert (timing["actual_offset_s"], timing["late_s"], timing["lateness"]) == (
        -7050.0,
        150.0,
        "2 minutes late",
    )
