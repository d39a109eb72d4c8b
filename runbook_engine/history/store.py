"""What `runbook history` reads: the index plus the records it does not hold yet.

`load()` lists the record files (the truth), reads the index's runs rows, and keeps the
newest entry of each record that still exists (pruned or deleted records drop out). A
record the index lacks is read from its file: a finished one (a killed run, now closed as
aborted; a record from an older engine) is added to the index for next time; a running
one is shown from memory. No DuckDB, no lock while reading (see index.py); the common
views (views.py) answer in Python, `--sql` (sql.py) hands the same snapshot to DuckDB.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from runbook_engine.errors import UserError
from runbook_engine.history.index import (
    END,
    NULL,
    OFFSETS,
    RUN_INDEX,
    Entry,
    IndexValueError,
    R,
    append,
    current_generation,
    entry_rows,
    expand,
    read_block,
    read_runs,
    unplain,
)
from runbook_engine.history.journals import Record, RecordError, list_records, read_record
from runbook_engine.history.stuck import close_stuck, is_stuck, mark_closed

OLD_STORE = "history.duckdb"  # the cache of engines before the index: no longer read
LOUD_CATCH_UP = 500  # say so on stderr when indexing this many records at once

Block = list[list[str]]


@dataclass
class Snapshot:
    """Every run as one runs row of index text (see index.RUN_INDEX), newest entry per record."""

    directory: Path
    gen: Path | None
    runs: list[list[str]] = field(default_factory=list)
    # Entries not (yet) in the index, by key: (steps, sections, extra JSON).
    live: dict[str, tuple[Block, Block, str]] = field(default_factory=dict)

    @property
    def indexed_keys(self) -> list[int]:
        return [int(r[0]) for r in self.runs if r[0] not in self.live]

    def steps(self, run: list[str]) -> Block:
        """The step rows of one entry (index.STEP_INDEX without the key)."""
        key = run[0]
        if key in self.live:
            return self.live[key][0]
        if self.gen is not None:
            expand(run)
            at, length = int(run[R["steps_at"]]), int(run[R["steps_len"]])
            block = read_block(self.gen, "steps", at, length, key)
            if block is not None:
                return block
        return self._from_record(run)

    def _from_record(self, run: list[str]) -> Block:
        """The index moved under us (compacted meanwhile): read the record itself."""
        try:
            _, steps, _, _ = entry_rows(read_record(self.directory, unplain(run[R["journal"]])))
        except (RecordError, IndexValueError):
            return []
        return steps


def load(directory: Path) -> Snapshot:
    """The history as it is now; catches up the index with finished records it lacks."""
    if not directory.is_dir():
        return Snapshot(directory, None)
    present = list_records(directory)
    gen = current_generation(directory)
    newest: dict[str, list[str]] = {}
    for row in read_runs(gen) if gen is not None else []:
        rel = unplain(row[R["journal"]])
        if rel in present:
            newest[rel] = row  # a record indexed twice: the later entry wins
    snap = Snapshot(directory, gen, list(newest.values()))
    missing = sorted(present - newest.keys())
    if missing:
        _catch_up(snap, missing)
    return snap


def _catch_up(snap: Snapshot, rels: list[str]) -> None:
    finals: list[Record] = []
    prepared: list[Entry] = []
    for rel in rels:
        try:
            record = read_record(snap.directory, rel)
        except RecordError:
            continue  # not ours or unreadable: never shown
        if is_stuck(record):
            try:
                close_stuck(snap.directory, record)
            except OSError as exc:
                warn(f"history: cannot mark {rel} as aborted: {exc.strerror or exc}")
        entry = _add_live(snap, record)
        if entry is not None and record.final:
            finals.append(record)
            prepared.append(entry)
    if len(finals) >= LOUD_CATCH_UP:
        warn(f"history: indexing {len(finals)} records once (recorded before the index, or not indexed yet)")
    try:
        append(snap.directory, prepared)
    except (OSError, UserError) as exc:
        # A full disk or a read-only folder: the answer comes from the records this time.
        warn(f"history: cannot update the index in {snap.directory}: {getattr(exc, 'strerror', None) or exc}")
        return
    for record in finals:
        mark_closed(snap.directory, str(record.journal.get("run_id") or ""))
    (snap.directory / OLD_STORE).unlink(missing_ok=True)  # superseded by the index


def _add_live(snap: Snapshot, record: Record) -> Entry | None:
    """Add a record read from its file to the snapshot; None (and named) when it does not fit."""
    try:
        entry = run, steps, sections, extra = entry_rows(record)
    except IndexValueError as exc:
        warn(f"history: skipped {record.rel}: {exc}")
        return None
    key = str(-1 - len(snap.live))  # index keys are positive
    snap.live[key] = (steps, sections, extra)
    snap.runs.append([key, *run, *([NULL] * len(OFFSETS)), END])
    assert len(snap.runs[-1]) == len(RUN_INDEX)
    return entry


_warned: set[str] = set()


def warn(line: str) -> None:
    """Once per process."""
    if line not in _warned:
        _warned.add(line)
        sys.stderr.write(line + "\n")
