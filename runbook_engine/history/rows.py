"""A history record flattened into the rows of the `runs`, `sections` and `steps` tables.

The column lists here are the one definition of the store's schema (docs/history.md
documents them); times are UTC without a zone, durations are seconds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from runbook_engine.history.journals import Record, parse_time

Row = list[Any]

RUN_COLUMNS: list[tuple[str, str]] = [
    ("run_id", "VARCHAR"),
    ("kind", "VARCHAR"),
    ("runbook", "VARCHAR"),
    ("title", "VARCHAR"),
    ("status", "VARCHAR"),
    ("verdict", "VARCHAR"),
    ("started_at", "TIMESTAMP"),
    ("finished_at", "TIMESTAMP"),
    ("duration_s", "DOUBLE"),
    ("environment", "VARCHAR"),
    ("user", "VARCHAR"),
    ("host", "VARCHAR"),
    ("file", "VARCHAR"),
    ("file_sha256", "VARCHAR"),
    ("engine_version", "VARCHAR"),
    ("event", "TIMESTAMP"),
    ("budget_s", "DOUBLE"),
    ("steps", "INTEGER"),
    ("passed", "INTEGER"),
    ("failed", "INTEGER"),
    ("errors", "INTEGER"),
    ("skipped", "INTEGER"),
    ("blocked", "INTEGER"),
    ("pending", "INTEGER"),
    ("reasons", "JSON"),
    ("rto_s", "DOUBLE"),
    ("time_to_detect_s", "DOUBLE"),
    ("time_to_recover_s", "DOUBLE"),
    ("within_rto", "BOOLEAN"),
    ("extra", "JSON"),
    ("journal", "VARCHAR"),
]

SECTION_COLUMNS: list[tuple[str, str]] = [
    ("run_id", "VARCHAR"),
    ("runbook", "VARCHAR"),
    ("kind", "VARCHAR"),
    ("section", "VARCHAR"),
    ("position", "INTEGER"),
    ("started_at", "TIMESTAMP"),
    ("duration_s", "DOUBLE"),
    ("budget_s", "DOUBLE"),
    ("over_budget", "BOOLEAN"),
]

STEP_COLUMNS: list[tuple[str, str]] = [
    ("run_id", "VARCHAR"),
    ("runbook", "VARCHAR"),
    ("kind", "VARCHAR"),
    ("run_started_at", "TIMESTAMP"),
    ("file_sha256", "VARCHAR"),
    ("section", "VARCHAR"),
    ("position", "INTEGER"),
    ("step_id", "VARCHAR"),
    ("name", "VARCHAR"),
    ("step_kind", "VARCHAR"),
    ("plugin", "VARCHAR"),
    ("severity", "VARCHAR"),
    ("outcome", "VARCHAR"),
    ("message", "VARCHAR"),
    ("attempts", "INTEGER"),
    ("started_at", "TIMESTAMP"),
    ("duration_s", "DOUBLE"),
    ("budget_s", "DOUBLE"),
]

TABLES: dict[str, list[tuple[str, str]]] = {
    "runs": RUN_COLUMNS,
    "sections": SECTION_COLUMNS,
    "steps": STEP_COLUMNS,
}
OUTCOMES = ("passed", "failed", "error", "skipped", "blocked", "pending")


@dataclass
class Rows:
    runs: list[Row] = field(default_factory=list)
    sections: list[Row] = field(default_factory=list)
    steps: list[Row] = field(default_factory=list)

    def table(self, name: str) -> list[Row]:
        rows: list[Row] = getattr(self, name)
        return rows

    def add(self, record: Record) -> None:
        """Append the rows of one record; only steps that finished are kept."""
        j = record.journal
        run_id, runbook, kind = j.get("run_id"), j.get("runbook"), j.get("kind") or "run"
        started = parse_time(j.get("started_at"))
        run_started = timestamp(started)
        counts = dict.fromkeys(OUTCOMES, 0)
        position = 0
        # Built aside and added at the end, so a record that fails half-way adds nothing.
        sections: list[Row] = []
        steps: list[Row] = []
        for s_pos, sec in enumerate(j.get("sections") or []):
            sections.append(
                [
                    run_id,
                    runbook,
                    kind,
                    sec.get("name"),
                    s_pos,
                    timestamp(sec.get("started_at")),
                    sec.get("duration_s"),
                    sec.get("budget_s"),
                    _over(sec.get("duration_s"), sec.get("budget_s")),
                ]
            )
            for step in sec.get("steps") or []:
                position += 1
                if step.get("duration_s") is None:
                    continue  # not started, or running when the run stopped
                outcome = step.get("outcome")
                if outcome in counts:
                    counts[outcome] += 1
                steps.append(
                    [
                        run_id,
                        runbook,
                        kind,
                        run_started,
                        j.get("file_sha256"),
                        sec.get("name"),
                        position,
                        step.get("id"),
                        step.get("name"),
                        step.get("kind"),
                        step.get("plugin"),
                        step.get("severity"),
                        outcome,
                        step.get("message"),
                        step.get("attempts"),
                        timestamp(step.get("started_at")),
                        step.get("duration_s"),
                        step.get("budget_s"),
                    ]
                )
        status = record.status
        duration = j.get("duration_s")
        if status in {"aborted", "running"} and started and record.updated_at:
            duration = (record.updated_at - started).total_seconds()  # as far as the record goes
        extra = _dict(j.get("extra"))
        drill = _dict(extra.get("drill"))
        proc = record.process
        run = [
            run_id,
            kind,
            runbook,
            j.get("title"),
            status,
            j.get("verdict"),
            run_started,
            timestamp(j.get("finished_at")),
            duration,
            j.get("environment"),
            j.get("user"),
            j.get("host") or (proc.host if proc else None),
            j.get("file"),
            j.get("file_sha256"),
            j.get("engine_version"),
            timestamp(j.get("event")),
            j.get("budget_s"),
            sum(counts.values()),
            counts["passed"],
            counts["failed"],
            counts["error"],
            counts["skipped"],
            counts["blocked"],
            counts["pending"],
            json.dumps(j.get("reasons") or []),
            _number(drill.get("rto_s")),
            _number(drill.get("time_to_detect_s")),
            _number(drill.get("time_to_recover_s")),
            drill.get("within_rto") if isinstance(drill.get("within_rto"), bool) else None,
            json.dumps(extra),
            record.rel,
        ]
        self.runs.append(run)
        self.sections += sections
        self.steps += steps


def timestamp(value: object) -> str | None:
    """An ISO time (string or datetime) as naive UTC text that DuckDB reads as TIMESTAMP."""
    if (
        isinstance(value, str)
        and value.endswith(("+00:00", "Z"))
        and value[4:5] == "-"
        and value[10:11] == "T"
    ):
        # The engine writes UTC: cut the zone off instead of parsing (the fold's hot path).
        return value[:-6] if value[-1] == "0" else value[:-1]
    t = parse_time(value.isoformat() if isinstance(value, datetime) else value)
    return t.replace(tzinfo=None).isoformat(sep=" ") if t is not None else None


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _over(duration: object, budget: object) -> bool | None:
    if not isinstance(duration, int | float) or not isinstance(budget, int | float):
        return None
    return duration > budget


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
