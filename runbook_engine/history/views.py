"""The questions `runbook history` answers, in plain Python over a snapshot (store.py).

No DuckDB here: importing it costs more than answering from the index, and these views
read at most the runs rows plus the step rows of the runs they show. The figures are
those of the SQL views (docs/history.md): medians and percentiles interpolate linearly
as DuckDB's quantile_cont does; NULLs sort last. Every function returns
(column names, rows), so the CLI formats them all the same way.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime
from typing import Any

from runbook_engine.history.index import RUN_INDEX, STEP_INDEX, R, S, decode, decode_run, expand, plain
from runbook_engine.history.store import Snapshot

Table = tuple[list[str], list[tuple[Any, ...]]]
Run = list[str]
FAILED = ("failed", "error")
RAN = ("passed", "failed", "error")

_RUN_TYPES = dict(RUN_INDEX)
_STEP_TYPES = dict(STEP_INDEX)
_NULL = "\\N"

RUN_LIST = [
    "started_at",
    "runbook",
    "kind",
    "status",
    "verdict",
    "duration_s",
    "environment",
    "user",
    "host",
    "steps",
    "passed",
    "failed",
    "run_id",
]
DRILL_LIST = [
    "contingency",
    "mode",
    "started_at",
    "status",
    "verdict",
    "time_to_detect_s",
    "time_to_recover_s",
    "rto_s",
    "within_rto",
    "margin_s",
    "environment",
    "user",
    "run_id",
]
STEP_LIST = [
    "section",
    "step_id",
    "name",
    "runs",
    "passed",
    "failed",
    "pass_rate",
    "median_s",
    "p95_s",
    "last_failure_at",
    "last_failure",
    "flaky",
]


def _get(run: Run, column: str) -> Any:
    at = R[column]
    return decode_run((run if at < len(run) - 1 else expand(run))[at], _RUN_TYPES[column])


def _newest_first(runs: list[Run]) -> list[Run]:
    """ORDER BY started_at DESC, run_id DESC with NULLs last (the text of a time sorts as the time)."""
    at, rid = R["started_at"], R["run_id"]
    return sorted(runs, key=lambda r: (r[at] != _NULL, r[at], r[rid]), reverse=True)


def _since(runs: list[Run], since: datetime | None) -> list[Run]:
    if since is None:
        return runs
    cutoff, at = since.isoformat(), R["started_at"]
    return [r for r in runs if r[at] != _NULL and r[at] >= cutoff]


def _of(snap: Snapshot, kind: str | None, name: str | None) -> list[Run]:
    k, n = R["kind"], R["runbook"]
    wanted = None if name is None else plain(name)  # as runs rows spell it
    return [r for r in snap.runs if (kind is None or r[k] == kind) and (wanted is None or r[n] == wanted)]


def list_runs(snap: Snapshot, name: str | None, last: int, since: datetime | None) -> Table:
    rows = []
    for run in _newest_first(_since(_of(snap, None, name), since))[:last]:
        values = {c: _get(run, c) for c in RUN_LIST if c != "failed"}
        values["failed"] = (_get(run, "failed") or 0) + (_get(run, "errors") or 0)
        rows.append(tuple(values[c] for c in RUN_LIST))
    return list(RUN_LIST), rows


def drill_stats(snap: Snapshot, name: str | None, last: int, since: datetime | None) -> Table:
    """Per contingency its newest `last` drills, shown oldest first."""
    by_name: dict[str, list[Run]] = {}
    for run in _newest_first(_since(_of(snap, "drill", name), since)):
        by_name.setdefault(_get(run, "runbook"), []).append(run)
    rows = []
    for contingency in sorted(by_name):
        for run in reversed(by_name[contingency][:last]):
            rto, ttr = _get(run, "rto_s"), _get(run, "time_to_recover_s")
            values = {c: _get(run, c) for c in DRILL_LIST if c not in {"contingency", "margin_s"}}
            values |= {
                "contingency": contingency,
                "margin_s": None if rto is None or ttr is None else rto - ttr,
            }
            rows.append(tuple(values[c] for c in DRILL_LIST))
    return list(DRILL_LIST), rows


def step_stats(snap: Snapshot, name: str, last: int) -> tuple[Table, int, int]:
    """Per step over the last `last` runs of `name` that ended: (table, runs used, runs in all).

    A step is flaky when, with one and the same runbook file (hash) in one environment, it
    both passed and failed: nothing the team controls changed, yet the answer did."""
    ended = [r for r in _of(snap, "run", name) if r[R["status"]] != "running"]
    recent = _newest_first(ended)[:last]
    groups: dict[str | None, list[tuple[Run, list[str]]]] = {}
    for run in recent:
        for step in snap.steps(run):
            groups.setdefault(_step(step, "step_id"), []).append((run, step))
    stats = [_one_step(sid, pairs) for sid, pairs in groups.items()]
    stats.sort(key=lambda s: (s[0] is None, s[0] if s[0] is not None else 0, s[1][1] or ""))
    return (list(STEP_LIST), [row for _, row in stats]), len(recent), len(ended)


def _step(step: list[str], column: str) -> Any:
    return decode(step[S[column] - 1], _STEP_TYPES[column])  # block rows have no key column


def _one_step(step_id: str | None, pairs: list[tuple[Run, list[str]]]) -> tuple[Any, tuple[Any, ...]]:
    """(position for ordering, the row) for one step id."""
    started = [_get(run, "started_at") for run, _ in pairs]
    outcomes = [_step(step, "outcome") for _, step in pairs]

    def newest(values: list[Any], where: Callable[[int], bool] = lambda i: True) -> Any:
        """arg_max(value, run_started_at) over the rows `where` keeps (NULL times ignored)."""
        best = None
        for i in range(len(values)):
            if where(i) and started[i] is not None and (best is None or started[i] > started[best]):
                best = i
        return None if best is None else values[best]

    ran = [i for i, o in enumerate(outcomes) if o in RAN]
    failed = [i for i, o in enumerate(outcomes) if o in FAILED]
    passed = sum(1 for o in outcomes if o == "passed")
    durations = sorted(d for i in ran if (d := _step(pairs[i][1], "duration_s")) is not None)
    fail_times = [started[i] for i in failed if started[i] is not None]
    messages = [_step(step, "message") or outcomes[i] for i, (_, step) in enumerate(pairs)]
    flips: dict[tuple[Any, Any], set[str]] = {}
    for (run, _), outcome in zip(pairs, outcomes, strict=True):
        key = (_get(run, "file_sha256"), _get(run, "environment"))
        flips.setdefault(key, set()).add(
            "passed" if outcome == "passed" else "failed" if outcome in FAILED else ""
        )
    row = (
        newest([_step(s, "section") for _, s in pairs]),
        step_id,
        newest([_step(s, "name") for _, s in pairs]),
        len(pairs),
        passed,
        len(failed),
        passed / len(ran) if ran else None,
        quantile(durations, 0.5),
        quantile(durations, 0.95),
        max(fail_times) if fail_times else None,
        newest(messages, lambda i: i in set(failed)),
        any({"passed", "failed"} <= seen for seen in flips.values()),
    )
    return newest([_step(s, "position") for _, s in pairs]), row


def quantile(ordered: list[float], q: float) -> float | None:
    """Linear interpolation between the two nearest values (quantile_cont), None when empty."""
    if not ordered:
        return None
    rn = (len(ordered) - 1) * q
    lo, hi = math.floor(rn), math.ceil(rn)
    if lo == hi:
        return ordered[lo]
    d = rn - lo
    return ordered[lo] * (1 - d) + ordered[hi] * d
