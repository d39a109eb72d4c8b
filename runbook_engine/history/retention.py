"""Retention: keep the last N runs of each runbook and/or the runs of the last N days.

Pruning deletes record files; readers of the index leave out the entries of records that
are gone at once, and the index itself is compacted (rewritten without them) by
`runbook history prune`, or by a run's own retention once COMPACT_EVERY records were
deleted since the last compaction. A run still in progress is never deleted.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from runbook_engine.history.index import compact, current_generation
from runbook_engine.history.journals import (
    KIND_FOLDERS,
    RecordError,
    list_folder,
    list_records,
    read_record,
    step_log_path,
)

ENV_KEEP = "RUNBOOK_HISTORY_KEEP"
ENV_DAYS = "RUNBOOK_HISTORY_DAYS"
COMPACT_EVERY = 1000  # records deleted before a run's retention compacts the index


@dataclass(frozen=True)
class Retention:
    keep: int | None = None
    days: float | None = None

    @property
    def is_set(self) -> bool:
        return self.keep is not None or self.days is not None

    def describe(self) -> str:
        parts = []
        if self.keep is not None:
            parts.append(f"the last {self.keep} runs of each runbook")
        if self.days is not None:
            parts.append(f"runs of the last {self.days:g} days")
        return " and ".join(parts) or "everything"

    @classmethod
    def from_env(cls) -> Retention:
        """The default retention from the environment; ValueError names a bad variable."""
        keep = _env_number(ENV_KEEP, int)
        return cls(int(keep) if keep is not None else None, _env_number(ENV_DAYS, float))

    def check(self) -> None:
        if self.keep is not None and self.keep < 1:
            raise ValueError(f"keep must be at least 1, got {self.keep}")
        if self.days is not None and self.days <= 0:
            raise ValueError(f"days must be more than 0, got {self.days:g}")


def _env_number(name: str, kind: type[int] | type[float]) -> float | None:
    text = os.environ.get(name, "").strip()
    if not text:
        return None
    try:
        value = kind(text)
    except ValueError:
        raise ValueError(f"${name}={text!r} is not a number") from None
    if value <= 0:
        raise ValueError(f"${name}={text!r} must be more than 0")
    return value


def prune_folder(
    directory: Path, kind: str, name: str, retention: Retention, now: datetime, spare: Path | None = None
) -> list[str]:
    """Delete the records of one runbook that fall outside the retention; return their paths."""
    files = list_folder(directory, kind, name)
    doomed: set[Path] = set()
    if retention.keep and len(files) > retention.keep:
        files = _settle_boundary(directory, files, files[-retention.keep].name[:16])
        doomed.update(files[: -retention.keep])
    if retention.days is not None:
        cutoff = now - timedelta(days=retention.days)
        doomed.update(f for f in files if _started(f) < cutoff)
    if spare is not None:
        doomed.discard(spare)
    removed = []
    for path in sorted(doomed):
        rel = path.relative_to(directory).as_posix()
        try:
            if not read_record(directory, rel).final:
                continue
        except RecordError:
            pass  # unreadable: nothing to keep it for
        path.unlink(missing_ok=True)
        step_log_path(path).unlink(missing_ok=True)  # left by a run that was killed
        removed.append(rel)
    return removed


def _settle_boundary(directory: Path, files: list[Path], second: str) -> list[Path]:
    """File names order runs by the second they started in; the runs of the second where
    the cut falls are put in the order they started (read from their records)."""
    group = [f for f in files if f.name[:16] == second]
    if len(group) < 2:
        return files
    first = files.index(group[0])
    ordered = sorted(group, key=lambda f: _recorded_start(directory, f))
    return files[:first] + ordered + files[first + len(group) :]


def _recorded_start(directory: Path, path: Path) -> str:
    try:
        return str(read_record(directory, path.relative_to(directory).as_posix()).journal.get("started_at"))
    except RecordError:
        return ""


def prune_all(directory: Path, retention: Retention, now: datetime | None = None) -> list[str]:
    now = now or datetime.now(UTC)
    removed: list[str] = []
    for kind, folder in KIND_FOLDERS.items():
        base = directory / folder
        if base.is_dir():
            for sub in sorted(p for p in base.iterdir() if p.is_dir()):
                removed += prune_folder(directory, kind, sub.name, retention, now)
    return removed


def _started(path: Path) -> datetime:
    """A run's start from its id (`20261121T231736Z-...`), else the file's time."""
    try:
        return datetime.strptime(path.name[:16], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        pass
    try:
        return datetime.fromtimestamp(path.stat().st_mtime, UTC)
    except OSError:
        return datetime.max.replace(tzinfo=UTC)  # gone already: nothing to prune


def compact_if_due(directory: Path, removed: int, force: bool = False) -> int:
    """Count deleted records against the index; compact it when due (or forced). Returns
    the index entries dropped."""
    gen = current_generation(directory)
    if gen is None or (removed == 0 and not force):
        return 0
    counter = gen / "pruned"  # one byte per record deleted since this generation began
    with counter.open("ab") as fh:
        fh.write(b"x" * removed)
    if force or counter.stat().st_size >= COMPACT_EVERY:
        return compact(directory, list_records(directory))
    return 0
