"""The history folder on disk: one JSON record per run, written whole and renamed into place.

    <history>/runs/<runbook>/<run_id>.json      a run
    <history>/drills/<contingency>/<run_id>.json a drill
    <history>/history.duckdb                    the query store (a cache, rebuilt from the records)
    <history>/.lock                             taken by `runbook history` while it reads or folds

Each run writes only its own file, so any number of runs can record at once without a
lock; a reader sees either the previous or the next complete version of a file.
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
STORE_NAME = "history.duckdb"
LOCK_NAME = ".lock"


class RecordError(Exception):
    """A file in the history folder that is not a readable record."""


def record_path(directory: Path, kind: str, name: str, run_id: str) -> Path:
    return directory / KIND_FOLDERS.get(kind, "runs") / name / f"{run_id}.json"


def write_record(path: Path, journal_json: str, process: ProcessId, durable: bool = False) -> None:
    """Write the whole record beside its final name, then rename it over the old version."""
    envelope = json.dumps(
        {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "updated_at": datetime.now(UTC).isoformat(),
            "process": process.to_dict(),
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
    return Record(rel, data["journal"], process, parse_time(data.get("updated_at")))


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
        with os.scandir(folder) as entries:
            # Dot files are half-written temporaries of a record being replaced.
            return [e.name for e in entries if e.name.endswith(".json") and not e.name.startswith(".")]
    except (FileNotFoundError, NotADirectoryError):
        return []


def parse_time(value: object) -> datetime | None:
    """An ISO time from a record as an aware UTC datetime (naive ones are taken as UTC)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)
