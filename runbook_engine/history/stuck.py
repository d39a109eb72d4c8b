"""Records left at `running` by a process that is gone: closed as `aborted`, with the reason.

A run killed by SIGKILL, the OOM killer or a power cut cannot write its final record. The
next `runbook history` (any command) or the next `runbook run` / `drill` on that history
finds it: the record names its writer (pid, host, boot id, process start time), and a
writer that no longer runs on this host (liveness.py) means the run is over. The record
is rewritten as `aborted`, with the steps of its step log, its time as far as it got,
and the reason in `reasons` and `extra["aborted"]`; then it is indexed like any other.

Runs in progress leave a marker in `open/` (created when the run starts, removed when its
final record is indexed), so the next run finds stuck records without listing the whole
history. A record written on another host cannot be checked from here: it stays
`running` until that host looks at it.
"""

from __future__ import annotations

import contextlib
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from runbook_engine.history.journals import (
    Record,
    RecordError,
    parse_time,
    read_record,
    step_log_path,
    write_record,
)
from runbook_engine.history.liveness import this_process

OPEN_DIR = "open"


def open_marker(directory: Path, run_id: str) -> Path:
    return directory / OPEN_DIR / run_id


def mark_open(directory: Path, rel: str, run_id: str) -> None:
    """Note a run in progress (its record's path) for the sweep of the next run."""
    marker = open_marker(directory, run_id)
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(rel + "\n", encoding="utf-8")


def mark_closed(directory: Path, run_id: str) -> None:
    with contextlib.suppress(OSError):
        open_marker(directory, run_id).unlink()


def is_stuck(record: Record) -> bool:
    """The record says running, but its writer is gone (so its status reads `aborted`)."""
    return record.journal.get("status", "running") == "running" and record.status == "aborted"


def close_stuck(directory: Path, record: Record) -> None:
    """Rewrite a stuck record as aborted, with the reason (OSError: left as it was)."""
    j = record.journal
    proc = record.process
    now = datetime.now(UTC)
    last = record.updated_at
    who = f"pid {proc.pid} on {proc.host}" if proc else "its process"
    reason = f"aborted: the run's process ({who}) ended before the run finished" + (
        f"; last recorded at {last.isoformat().replace('+00:00', 'Z')}" if last else ""
    )
    j["status"] = "aborted"
    j["verdict"] = None
    j["reasons"] = [reason]
    started = parse_time(j.get("started_at"))
    if started is not None and last is not None:
        j["duration_s"] = max(0.0, (last - started).total_seconds())
    extra: dict[str, Any] = j["extra"] if isinstance(j.get("extra"), dict) else {}
    extra["aborted"] = {
        "reason": reason,
        "last_record_at": last.isoformat() if last else None,
        "found_at": now.isoformat(),
        "found_by": this_process().to_dict(),
    }
    j["extra"] = extra
    path = directory / record.rel
    # The writer's identity stays: the record still says which process wrote it.
    write_record(path, json.dumps(j), proc or this_process(), durable=True)
    step_log_path(path).unlink(missing_ok=True)  # its lines are in the record now
    record.updated_at = last
    mark_closed(directory, str(j.get("run_id") or ""))


def sweep_open(directory: Path) -> list[Record]:
    """Close the stuck records the `open/` markers point at; return the final ones to index."""
    folder = directory / OPEN_DIR
    try:
        markers = list(os.scandir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return []
    closed = []
    for marker in markers:
        try:
            rel = Path(marker.path).read_text(encoding="utf-8").strip()
            record = read_record(directory, rel)
        except (OSError, ValueError, RecordError):
            with contextlib.suppress(OSError):
                os.unlink(marker.path)  # its record is gone (pruned, deleted): nothing to close
            continue
        if record.journal.get("status", "running") != "running":
            # Finished, but its writer died before indexing it and removing the marker.
            closed.append(record)
        elif is_stuck(record):
            close_stuck(directory, record)
            closed.append(record)
    return closed
