"""`runbook history`: past runs, per-step trends and flaky checks, drills against the RTO, SQL."""

from __future__ import annotations

import csv
import json
import os
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from runbook_engine.cli.app import DirOpt, app
from runbook_engine.errors import UserError

SPARKS = "▁▂▃▄▅▆▇█"


class Format(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


HistoryOpt = Annotated[
    Path | None,
    typer.Option(
        "--history",
        help="History folder (default .runbook/history beside the runbooks, or $RUNBOOK_HISTORY).",
        show_default=False,
    ),
]


@app.command("history")
def history_cmd(
    name: Annotated[
        str | None,
        typer.Argument(
            help="A runbook (or contingency) name; or `prune` to apply the retention.", show_default=False
        ),
    ] = None,
    last: Annotated[
        int, typer.Option("--last", "-n", min=1, help="How many runs (per runbook for --drills).")
    ] = 20,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            help="Only runs since a date or time (2026-11-01, '2026-11-01 14:00') or an age (7d).",
            show_default=False,
        ),
    ] = None,
    steps: Annotated[
        bool, typer.Option("--steps", help="Per step of NAME: pass rate, median/p95 duration, flaky.")
    ] = False,
    drills: Annotated[
        bool, typer.Option("--drills", help="Drills: time to detect and recover against the RTO.")
    ] = False,
    sql: Annotated[
        str | None,
        typer.Option(
            "--sql",
            help="One read-only SELECT over the views runs, sections, steps, drills.",
            show_default=False,
        ),
    ] = None,
    sql_timeout: Annotated[
        str,
        typer.Option("--sql-timeout", help="--sql: stop the query after this long (30s, 5m)."),
    ] = "30s",
    sql_memory: Annotated[
        str, typer.Option("--sql-memory", help="--sql: most memory the query may use (512MB, 2GB).")
    ] = "1GB",
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.table,
    keep: Annotated[
        int | None,
        typer.Option(
            "--keep", min=1, help="prune: keep the last N runs of each runbook.", show_default=False
        ),
    ] = None,
    days: Annotated[
        float | None,
        typer.Option("--days", min=0, help="prune: keep the runs of the last N days.", show_default=False),
    ] = None,
    history: HistoryOpt = None,
    directory: DirOpt = None,
) -> None:
    """Past runs and drills from the local history (see docs/history.md)."""
    from runbook_engine.history import history_dir

    folder = history_dir(_project_dir(directory), history)
    if name == "prune":
        if steps or drills or sql or since:
            raise UserError("history prune takes only --keep and --days")
        _prune(folder, keep, days)
        return
    _check_options(keep, days, name, sql, steps, drills, since, sql_timeout != "30s" or sql_memory != "1GB")
    from runbook_engine.history import views
    from runbook_engine.history.store import load

    cutoff = _parse_since(since)
    if sql is not None:
        from runbook_engine.history.sql import user_sql  # the one view that needs DuckDB

        timeout_s = _parse_timeout(sql_timeout)
        columns, rows = user_sql(load(folder), sql, timeout_s, sql_memory)
        _emit(columns, rows, fmt)
        return
    snap = load(folder)
    if drills:
        columns, rows = views.drill_stats(snap, name, last, cutoff)
        _emit(columns, rows, fmt, empty=_nothing("drills", name, folder))
        if fmt is Format.table and rows:
            _drill_trends(columns, rows)
        return
    if steps:
        assert name is not None
        (columns, rows), used, total = views.step_stats(snap, name, last)
        if fmt is Format.table and rows:
            print(f"{name}: steps over the last {used} runs (of {total} recorded)")
        _emit(columns, rows, fmt, empty=_nothing("runs", name, folder))
        return
    columns, rows = views.list_runs(snap, name, last, cutoff)
    _emit(columns, rows, fmt, empty=_nothing("runs", name, folder))


def _check_options(
    keep: int | None,
    days: float | None,
    name: str | None,
    sql: str | None,
    steps: bool,
    drills: bool,
    since: str | None,
    sql_limits: bool,
) -> None:
    """Options that do not go together: usage errors before anything is read."""
    if keep is not None or days is not None:
        raise UserError("--keep and --days go with `runbook history prune`")
    if sql is not None and (name or steps or drills or since):
        raise UserError("--sql stands alone: put filters in the query")
    if sql is None and (sql_limits):
        raise UserError("--sql-timeout and --sql-memory go with --sql")
    if steps and drills:
        raise UserError("choose one of --steps and --drills")
    if steps and not name:
        raise UserError("--steps needs a runbook name: runbook history NAME --steps")
    if steps and since:
        raise UserError("--steps looks at the last N runs: use --last, not --since")


def _project_dir(directory: Path | None) -> Path:
    """The folder holding the runbook directory: loader.runbook_dir's rule, without importing the
    loader (pydantic, Jinja2, the plugin registry): `history` answers before those would load."""
    return Path(directory or os.environ.get("RUNBOOK_DIR") or "runbooks").resolve().parent


def _prune(folder: Path, keep: int | None, days: float | None) -> None:
    from runbook_engine.history.retention import Retention, compact_if_due, prune_all

    try:
        retention = Retention(keep, days) if keep is not None or days is not None else Retention.from_env()
        retention.check()
    except ValueError as exc:
        raise UserError(f"history prune: {exc}") from None
    if not retention.is_set:
        raise UserError(
            "history prune: say what to keep with --keep N (runs of each runbook) and/or --days N, "
            "or set RUNBOOK_HISTORY_KEEP / RUNBOOK_HISTORY_DAYS"
        )
    removed = prune_all(folder, retention) if folder.is_dir() else []
    if removed:
        compact_if_due(folder, len(removed), force=True)  # the index without them, now
    print(f"pruned {len(removed)} runs; kept {retention.describe()}")


def _parse_timeout(text: str) -> float:
    from runbook_engine.format.durations import parse_duration

    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise UserError(f"--sql-timeout {text!r}: {exc}") from None
    if not 0 < seconds <= 86400:
        raise UserError(f"--sql-timeout {text!r}: give a time between 1ms and 24h, e.g. 30s or 5m")
    return seconds


def _parse_since(text: str | None) -> datetime | None:
    """A cutoff as naive UTC (how the store keeps times); local time when no zone is given."""
    if not text:
        return None
    from runbook_engine.format.durations import parse_duration

    try:
        return (datetime.now(UTC) - timedelta(seconds=parse_duration(text))).replace(tzinfo=None)
    except ValueError:
        pass
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise UserError(
            f"--since {text!r}: write a date (2026-11-01), a time ('2026-11-01 14:00') or an age (7d, 12h)"
        ) from None
    return (value if value.tzinfo else value.astimezone()).astimezone(UTC).replace(tzinfo=None)


def _nothing(what: str, name: str | None, folder: Path) -> str:
    return f"no {what}{f' of {name}' if name else ''} recorded in {folder}"


# -- output ---------------------------------------------------------------------------


def _emit(columns: list[str], rows: list[tuple[Any, ...]], fmt: Format, empty: str | None = None) -> None:
    if fmt is Format.json:
        data = [dict(zip(columns, (_plain(v) for v in row), strict=True)) for row in rows]
        print(json.dumps(data, indent=2, ensure_ascii=False))
    elif fmt is Format.csv:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([_csv_cell(_plain(v)) for v in row] for row in rows)
    elif not rows and empty:
        print(empty)
    else:
        if "flaky" in columns:  # the mark people look for: first, not off the right edge
            i = columns.index("flaky")
            columns = [columns[i], *columns[:i], *columns[i + 1 :]]
            rows = [(row[i], *row[:i], *row[i + 1 :]) for row in rows]
        _print_table(columns, [[_cell(c, v) for c, v in zip(columns, row, strict=True)] for row in rows])


def _iso(value: datetime) -> str:
    """ISO 8601 in UTC with a Z (the store keeps UTC without a zone)."""
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat().replace("+00:00", "Z")


# Checked in order: a datetime is also a date.
_CONVERT: tuple[tuple[type, Callable[[Any], Any]], ...] = (
    (datetime, _iso),
    (date, date.isoformat),
    (Decimal, float),
    (timedelta, timedelta.total_seconds),
)


def _plain(value: Any) -> Any:
    """A value as JSON data."""
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    for kind, convert in _CONVERT:
        if isinstance(value, kind):
            return convert(value)
    return value


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False)
    return value


def _cell(column: str, value: Any) -> str:
    """A value as a person reads it: local times, short durations, percentages."""
    return "-" if value is None else _human(column, value).replace("\n", " ")


def _human(column: str, value: Any) -> str:
    from runbook_engine.format.durations import format_duration

    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return aware.astimezone().strftime("%Y-%m-%d %H:%M:%S")
    if column == "flaky":
        return "FLAKY" if value else ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float) and (column == "pass_rate" or column.endswith("_s")):
        return f"{value * 100:.0f}%" if column == "pass_rate" else format_duration(float(value))
    return f"{value:g}" if isinstance(value, float) else str(value)


# Left out first when a table is wider than the terminal: what a person reads least.
# (`--format json|csv`, pipes and `--sql` always have every column.)
DROPPABLE = ("host", "kind", "user", "environment", "step_id", "last_failure_at", "mode")


def _print_table(columns: list[str], rows: list[list[str]]) -> None:
    width = _terminal_width()
    for name in DROPPABLE:
        if width is None or sum(_fit_widths(columns, rows, None)) + 2 * len(columns) <= width:
            break
        if name in columns:
            i = columns.index(name)
            columns = columns[:i] + columns[i + 1 :]
            rows = [r[:i] + r[i + 1 :] for r in rows]
    widths = _fit_widths(columns, rows, width)
    for line in [columns, *rows]:
        cells = (_clip(cell, w).ljust(w) for cell, w in zip(line, widths, strict=True))
        print("  ".join(cells).rstrip())


def _terminal_width() -> int | None:
    """The terminal's width ($COLUMNS wins); None for a pipe or file, which get every
    character (text to grep and diff)."""
    import shutil

    if os.environ.get("COLUMNS", "").isdigit() or sys.stdout.isatty():
        return shutil.get_terminal_size((160, 24)).columns
    return None


def _fit_widths(columns: list[str], rows: list[list[str]], width: int | None) -> list[int]:
    """Column widths that fit `width`: the widest columns (names, messages) give way first,
    a character at a time, never below their header or 8 characters; numbers show whole."""
    widths = [max([len(c), *(len(r[i]) for r in rows)]) for i, c in enumerate(columns)]
    floors = [max(8, len(c)) for c in columns]
    excess = 0 if width is None else sum(widths) + 2 * (len(widths) - 1) - width
    while excess > 0:
        room = [i for i in range(len(widths)) if widths[i] > floors[i]]
        if not room:
            break  # as narrow as it goes; the terminal wraps the rest
        widths[max(room, key=lambda i: widths[i])] -= 1
        excess -= 1
    return widths


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _drill_trends(columns: list[str], rows: list[tuple[Any, ...]]) -> None:
    """One line per contingency: time to recover over the drills shown, as a sparkline."""
    from runbook_engine.format.durations import format_duration

    at = {c: i for i, c in enumerate(columns)}
    by_name: dict[str, list[tuple[Any, ...]]] = {}
    for row in rows:
        by_name.setdefault(row[at["contingency"]], []).append(row)
    print()
    for contingency, drills in by_name.items():
        ttr = [r[at["time_to_recover_s"]] for r in drills]
        within = sum(1 for r in drills if r[at["within_rto"]] is True)
        rto = drills[-1][at["rto_s"]]
        print(
            f"{contingency}: time to recover {sparkline(ttr)} (RTO {format_duration(rto)}), "
            f"within RTO in {within} of {len(drills)} drills"
        )


def sparkline(values: list[float | None]) -> str:
    """Values as block characters scaled between their minimum and maximum; a gap for None."""
    known = [v for v in values if v is not None]
    if not known:
        return " " * len(values)
    low, high = min(known), max(known)
    span = (high - low) or 1.0
    return "".join(" " if v is None else SPARKS[round((v - low) / span * (len(SPARKS) - 1))] for v in values)
