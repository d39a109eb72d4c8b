"""The history folder on disk: one JSON record per run, written whole and renamed into place.

    <history>/runs/<runbook>/<run_id>.json      a run
    <history>/runs/<runbook>/.<run_id>.steps.jsonl  steps finished since that file was written
    <history>/drills/<contingency>/<run_id>.json a drill
    <history>/index/                            the rows of finished records, for queries (index.py)
    <history>/open/<run_id>                     a run in progress (stuck.py)
    <history>/.lock                             held while the index is appended to or compacted

Each run writes only its own files, so any number of runs can record at once without a
lock; a reader sees either the previous or the next complete version of a record.

While a run goes on, each finished step is appended to its step log (one JSON line) and the
whole record is rewritten only now and then: rewriting it after every step made recording
grow with the square of the step count. The record says how many log lines it already
holds (`logged`); a reader of a running record applies the lines after those. The log only
grows during a run and is removed once the final record is in place.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from runbook_engine.history.liveness import ProcessId, is_alive

FORMAT = "runbook-history"
FORMAT_VERSION = 1
KIND_FOLDERS = {"run": "runs", "drill": "drills"}
LOCK_NAME = ".lock"


class RecordError(Exception):
    """A file in the history folder that is not a readable record."""


def record_path(directory: Path, kind: str, name: str, run_id: str) -> Path:
    return directory / KIND_FOLDERS.get(kind, "runs") / name / f"{run_id}.json"


def step_log_path(record: Path) -> Path:
    """The append-only log of steps finished since `record` was last written whole."""
    return record.with_name(f".{record.stem}.steps.jsonl")


def append_step(log: Path, section: int, step: int, step_json: str) -> None:
    """Add one finished step (its StepResult as JSON) to a running record's log."""
    log.parent.mkdir(parents=True, exist_ok=True)
    # One write() of one line in append mode: a reader sees whole lines, or a torn last one
    # that it skips (the writer was killed mid-write).
    with open(log, "a", encoding="utf-8") as fh:
        fh.write(f'{{"at": [{section}, {step}], "step": {step_json}}}\n')


def write_record(
    path: Path, journal_json: str, process: ProcessId, durable: bool = False, logged: int = 0
) -> None:
    """Write the whole record beside its final name, then rename it over the old version.

    `logged`: how many lines of the step log this version already includes."""
    envelope = json.dumps(
        {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "updated_at": datetime.now(UTC).isoformat(),
            "process": process.to_dict(),
            "logged": logged,
        }
    )
    # The journal is already JSON: splice it in rather than parse and dump it again.
    text = f'{envelope[:-1]}, "journal": {journal_json}}}\n'
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass
class Record:
    """One run as read back from its file, with its status as seen now."""

    rel: str
    journal: dict[str, Any]
    process: ProcessId | None
    updated_at: datetime | None
    _status: str | None = field(default=None, repr=False)

    @property
    def status(self) -> str:
        """`running` only while the writer lives; a dead writer's run is `aborted`."""
        if self._status is None:
            status = str(self.journal.get("status") or "running")
            if status == "running" and self.process is not None and is_alive(self.process) is False:
                status = "aborted"
            self._status = status
        return self._status

    @property
    def final(self) -> bool:
        """Nothing will change this record any more."""
        return self.status != "running"


def read_record(directory: Path, rel: str) -> Record:
    try:
        data = json.loads((directory / rel).read_bytes())
    except (OSError, ValueError) as exc:
        raise RecordError(f"{rel}: {exc}") from None
    if (
        not isinstance(data, dict)
        or data.get("format") != FORMAT
        or not isinstance(data.get("journal"), dict)
    ):
        raise RecordError(f"{rel}: not a runbook history record")
    process = ProcessId.from_dict(data.get("process"))
    journal: dict[str, Any] = data["journal"]
    updated_at = parse_time(data.get("updated_at"))
    if journal.get("status", "running") == "running":
        logged = data.get("logged")
        log = step_log_path(directory / rel)
        if _apply_step_log(journal, log, logged if isinstance(logged, int) else 0):
            # The log was written after the record: it tells how far the run got.
            logged_at = datetime.fromtimestamp(log.stat().st_mtime, UTC)
            updated_at = max(updated_at, logged_at) if updated_at else logged_at
    return Record(rel, journal, process, updated_at)


def _apply_step_log(journal: dict[str, Any], log: Path, skip: int) -> bool:
    """Put the steps logged after this version of the record into its journal; True when
    there were any."""
    try:
        lines = log.read_text(encoding="utf-8").splitlines()
    except (OSError, ValueError):
        return False  # no log (nothing new, or the run just finished and removed it)
    sections = journal.get("sections")
    if not isinstance(sections, list):
        return False
    applied = False
    for line in lines[skip:]:
        try:
            entry = json.loads(line)
            (si, ki), step = entry["at"], entry["step"]
            sections[si]["steps"][ki] = step
            applied = True
        except (ValueError, KeyError, TypeError, IndexError):
            continue  # a torn last line of a killed writer, or a step this version cannot place
    return applied


def list_records(directory: Path) -> set[str]:
    """Every record's path relative to the history folder (forward slashes)."""
    found: set[str] = set()
    for folder in KIND_FOLDERS.values():
        base = directory / folder
        if not base.is_dir():
            continue
        with os.scandir(base) as names:
            for name in names:
                if name.is_dir():
                    found.update(f"{folder}/{name.name}/{f}" for f in _json_files(Path(name.path)))
    return found


def list_folder(directory: Path, kind: str, name: str) -> list[Path]:
    """The records of one runbook (or contingency), oldest first: run ids start with the time."""
    folder = directory / KIND_FOLDERS.get(kind, "runs") / name
    return [folder / f for f in sorted(_json_files(folder))]


def _json_files(folder: Path) -> list[str]:
    try:
        names = os.listdir(folder)  # names only: 10,000 of them in a few milliseconds
    except (FileNotFoundError, NotADirectoryError):
        return []
    # Dot files are half-written temporaries of a record being replaced.
    return [n for n in names if n.endswith(".json") and n[0] != "."]


def parse_time(value: object) -> datetime | None:
    """An ISO time from a record as an aware UTC datetime (naive ones are taken as UTC)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)
