"""The history index: the rows of every finished record, appended once when the run ends.

Reading 10,000 JSON records to answer one question takes seconds; the index holds the same
rows as four append-only CSV files, written by the recorder as each run ends (and by a
reader for a finished record it finds unindexed: a killed run, a record from an older
engine). The record files stay the truth; the index is a cache (delete `index/` and the
next reader rebuilds it).

    index/CURRENT          the generation in use (a number; compaction starts a new one)
    index/<gen>/runs.csv   one row per entry: the run's columns, where its other rows sit, "."
    index/<gen>/steps.csv  its finished steps     (first column: the entry key)
    index/<gen>/sections.csv, extra.csv

An entry's key is random, so compaction copies the step, section and extra blocks byte
for byte and rewrites only runs.csv. Appends hold the history lock for a few
milliseconds and write each block in one write(); a failed append is cut off again
(ftruncate), so a full disk leaves no half rows. Readers take no lock: they keep only runs
rows that end in the "." column and whose record file exists, so a row being written is
simply not there yet. The runs row is written last: its blocks are complete before it.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import secrets
import shutil
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from runbook_engine.history.journals import LOCK_NAME, Record
from runbook_engine.history.lock import locked
from runbook_engine.history.rows import RUN_COLUMNS, SECTION_COLUMNS, STEP_COLUMNS, Rows

INDEX_DIR = "index"
NULL = "\\N"  # how the index spells NULL (a text of exactly `\N` reads back as NULL)
END = "."  # the last column of a complete runs row
FILES = ("runs", "steps", "sections", "extra")

_RUN_SHARED = ("run_id", "runbook", "kind")  # columns a step/section row gets from its run
_STEP_FROM_RUN = {*_RUN_SHARED, "run_started_at", "file_sha256"}

OFFSETS = ["steps_at", "steps_len", "sections_at", "sections_len", "extra_at", "extra_len"]
# Readers split only these first columns of every runs row (what filtering and sorting
# need); the rest of a row is split when it is shown. 10,000 rows of 41 columns would be
# 410,000 strings, most never looked at.
HEAD_COLUMNS = ["key", "journal", "started_at", "run_id", "runbook", "kind", "status"]
HEAD = len(HEAD_COLUMNS)
_RUN_TYPES = dict(RUN_COLUMNS) | {"key": "BIGINT"}
RUN_INDEX: list[tuple[str, str]] = [
    *[(c, _RUN_TYPES[c]) for c in HEAD_COLUMNS],
    *[(c, t) for c, t in RUN_COLUMNS if c != "extra" and c not in HEAD_COLUMNS],
    ("mode", "VARCHAR"),
    *[(c, "BIGINT") for c in OFFSETS],
    ("end", "VARCHAR"),
]
STEP_INDEX: list[tuple[str, str]] = [
    ("key", "BIGINT"),
    *[(c, t) for c, t in STEP_COLUMNS if c not in _STEP_FROM_RUN],
]
SECTION_INDEX: list[tuple[str, str]] = [
    ("key", "BIGINT"),
    *[(c, t) for c, t in SECTION_COLUMNS if c not in _RUN_SHARED],
]
EXTRA_INDEX: list[tuple[str, str]] = [("key", "BIGINT"), ("extra", "JSON")]
INDEX_COLUMNS = {"runs": RUN_INDEX, "steps": STEP_INDEX, "sections": SECTION_INDEX, "extra": EXTRA_INDEX}
R = {c: i for i, (c, _) in enumerate(RUN_INDEX)}  # runs row: column -> position
S = {c: i for i, (c, _) in enumerate(STEP_INDEX)}

_INT32 = 2**31

Entry = tuple[list[str], list[list[str]], list[list[str]], str]
"""An entry as index text: runs row (no key, no offsets), step rows, section rows, extra JSON."""


class IndexValueError(ValueError):
    """A record value that does not fit its column (a hand-edited record): not indexed."""


def index_dir(directory: Path) -> Path:
    return directory / INDEX_DIR


def current_generation(directory: Path) -> Path | None:
    """The folder of the generation in use, or None before the first entry."""
    base = index_dir(directory)
    try:
        gen = (base / "CURRENT").read_text(encoding="ascii").strip()
    except (OSError, ValueError):
        return None
    return base / gen if gen.isdigit() else None


def encode(value: Any, sql_type: str) -> str:
    """A value as index text; IndexValueError when it does not fit the column's type."""
    if value is None:
        return NULL
    if sql_type in {"INTEGER", "BIGINT"}:
        if (
            not isinstance(value, int)
            or isinstance(value, bool)
            or (sql_type == "INTEGER" and abs(value) >= _INT32)
        ):
            raise IndexValueError(f"{value!r} is not an {sql_type.lower()}")
        return str(value)
    if sql_type == "DOUBLE":
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise IndexValueError(f"{value!r} is not a number")
        return repr(float(value))
    if sql_type == "BOOLEAN":
        if not isinstance(value, bool):
            raise IndexValueError(f"{value!r} is not true or false")
        return "true" if value else "false"
    if sql_type == "TIMESTAMP":
        try:
            # One spelling for every time, so the text sorts as the time does.
            return datetime.fromisoformat(str(value)).replace(tzinfo=None).isoformat()
        except ValueError:
            raise IndexValueError(f"{value!r} is not a time") from None
    return value if isinstance(value, str) else str(value)


_PLAIN = str.maketrans({"%": "%25", ",": "%2C", '"': "%22", "\n": "%0A", "\r": "%0D"})


def plain(text: str) -> str:
    """Runs rows hold no comma, quote or line break (percent-encoded; DuckDB's url_decode and
    urllib's unquote undo it), so a row is one line split at its commas."""
    return text.translate(_PLAIN)


def unplain(text: str) -> str:
    return unquote(text) if "%" in text else text


_DECODE: dict[str, Callable[[str], Any]] = {
    "INTEGER": int,
    "BIGINT": int,
    "DOUBLE": float,
    "BOOLEAN": lambda text: text == "true",
    "TIMESTAMP": datetime.fromisoformat,
}


def decode(text: str, sql_type: str) -> Any:
    """Index text back as a Python value (TIMESTAMP: naive UTC datetime; JSON: the text)."""
    return None if text == NULL else _DECODE.get(sql_type, str)(text)


def decode_run(text: str, sql_type: str) -> Any:
    """A runs row's text back as a value (its text columns are plain(), see there)."""
    return None if text == NULL else _DECODE.get(sql_type, unplain)(text)


def entry_rows(record: Record) -> Entry:
    """(runs row without key and offsets, step rows, section rows, extra JSON) as index text."""
    rows = Rows()
    try:
        rows.add(record)
    except (AttributeError, TypeError, ValueError, KeyError) as exc:
        raise IndexValueError(f"{type(exc).__name__}: {exc}") from None
    run = dict(zip([c for c, _ in RUN_COLUMNS], rows.runs[0], strict=True))
    mode = (record.journal.get("extra") or {}).get("drill", {})
    mode = mode.get("mode") if isinstance(mode, dict) else None
    run_text = []
    for c, t in RUN_INDEX[1 : R["mode"] + 1]:
        text = _field(c, mode if c == "mode" else run[c], t)
        run_text.append(plain(text) if t in {"VARCHAR", "JSON"} and text != NULL else text)
    step_names = [c for c, _ in STEP_COLUMNS]
    steps = [_pick(dict(zip(step_names, r, strict=True)), STEP_INDEX) for r in rows.steps]
    section_names = [c for c, _ in SECTION_COLUMNS]
    sections = [_pick(dict(zip(section_names, r, strict=True)), SECTION_INDEX) for r in rows.sections]
    return run_text, steps, sections, str(run["extra"])


def _field(column: str, value: Any, sql_type: str) -> str:
    try:
        return encode(value, sql_type)
    except IndexValueError as exc:
        raise IndexValueError(f"{column}: {exc}") from None


def _pick(row: dict[str, Any], columns: list[tuple[str, str]]) -> list[str]:
    return [_field(c, row[c], t) for c, t in columns[1:]]


def _line(fields: list[str]) -> bytes:
    """A runs row: plain fields (see plain()), so no CSV quoting."""
    return (",".join(fields) + "\n").encode("utf-8")


def _csv(rows: Iterable[list[str]]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue().encode("utf-8")


def append_records(directory: Path, records: list[Record]) -> list[str]:
    """Index records; returns the rels whose values do not fit (not indexed, for the caller
    to name). OSError: nothing half-written stays."""
    prepared: list[Entry] = []
    bad = []
    for record in records:
        try:
            prepared.append(entry_rows(record))
        except IndexValueError:
            bad.append(record.rel)
    append(directory, prepared)
    return bad


def append(directory: Path, prepared: list[Entry]) -> None:
    """Append entries (from entry_rows) under the history lock; OSError leaves no half rows."""
    if not prepared:
        return
    with locked(directory / LOCK_NAME, exclusive=True):
        gen = current_generation(directory) or _new_generation(directory, "1")
        gen.mkdir(parents=True, exist_ok=True)  # CURRENT may outlive a folder deleted by hand
        with _open_all(gen) as fds:
            sizes = {name: os.fstat(fd).st_size for name, fd in fds.items()}
            try:
                for run, steps, sections, extra in prepared:
                    key = str(secrets.randbits(62))
                    at = {}
                    for name, rows in (
                        ("steps", [[key, *r] for r in steps]),
                        ("sections", [[key, *r] for r in sections]),
                        ("extra", [[key, extra]]),
                    ):
                        at[name] = _write(fds[name], _csv(rows))
                    offsets = [str(v) for name in ("steps", "sections", "extra") for v in at[name]]
                    _write(fds["runs"], _line([key, *run, *offsets, END]))
            except OSError:
                for name, fd in fds.items():  # a full disk: leave no half rows behind
                    with contextlib.suppress(OSError):
                        os.ftruncate(fd, sizes[name])
                raise


@contextlib.contextmanager
def _open_all(gen: Path) -> Iterator[dict[str, int]]:
    fds: dict[str, int] = {}
    try:
        for name in FILES:
            fds[name] = os.open(gen / f"{name}.csv", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        yield fds
    finally:
        for fd in fds.values():
            os.close(fd)


def _write(fd: int, data: bytes) -> tuple[int, int]:
    """Append data in one write (a killed writer leaves whole blocks); (offset, length)."""
    start = os.lseek(fd, 0, os.SEEK_END)
    view = memoryview(data)
    while view:
        done = os.write(fd, view)
        view = view[done:]
    return start, len(data)


def _new_generation(directory: Path, gen: str) -> Path:
    folder = index_dir(directory) / gen
    folder.mkdir(parents=True, exist_ok=True)
    for name in FILES:
        (folder / f"{name}.csv").touch()
    _point_to(directory, gen)
    return folder


def _point_to(directory: Path, gen: str) -> None:
    tmp = index_dir(directory) / f".CURRENT.{os.getpid()}"
    tmp.write_text(gen + "\n", encoding="ascii")
    os.replace(tmp, index_dir(directory) / "CURRENT")


def read_runs(gen: Path) -> list[list[str]]:
    """Every complete runs row, in file order, split into its HEAD columns and the rest as one
    text (expand() splits that); torn or foreign lines are skipped."""
    try:
        data = (gen / "runs.csv").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    rows = []
    for line in data.split("\n"):
        if line.endswith(",."):  # complete: the END column is there
            row = line.split(",", HEAD)
            if len(row) == HEAD + 1:
                rows.append(row)
    return rows


def expand(row: list[str]) -> list[str]:
    """The whole runs row (in place): every column of RUN_INDEX."""
    if len(row) == HEAD + 1:
        rest = row.pop().split(",")
        row.extend(rest)
    if len(row) != len(RUN_INDEX):
        raise IndexValueError("not a runs row of this index version")
    return row


def read_block(gen: Path, name: str, at: int, length: int, key: str) -> list[list[str]] | None:
    """The rows an entry has in steps/sections.csv; None when they are not what the entry
    says (the index changed under us): the caller reads the record instead."""
    try:
        with open(gen / f"{name}.csv", "rb") as fh:
            fh.seek(at)
            data = fh.read(length)
    except OSError:
        return None
    if len(data) != length:
        return None
    rows = list(csv.reader(io.StringIO(data.decode("utf-8", errors="replace"))))
    return [r[1:] for r in rows] if all(r and r[0] == key for r in rows) else None


def compact(directory: Path, keep: set[str]) -> int:
    """Rewrite the index with only the newest entry of each record in `keep` (under the lock);
    returns the entries dropped. Readers of the old generation are left the previous one."""
    with locked(directory / LOCK_NAME, exclusive=True):
        old = current_generation(directory)
        if old is None:
            return 0
        rows = read_runs(old)
        latest: dict[str, list[str]] = {}
        for row in rows:
            if unplain(row[R["journal"]]) in keep:
                latest[row[R["journal"]]] = row
        gen = str(int(old.name) + 1)
        new = index_dir(directory) / gen
        shutil.rmtree(new, ignore_errors=True)
        new.mkdir(parents=True)
        runs = []
        with _open_all(new) as fds:
            for row in latest.values():
                try:
                    out = list(expand(row))
                except IndexValueError:
                    continue
                for name in ("steps", "sections", "extra"):
                    at, length = int(row[R[f"{name}_at"]]), int(row[R[f"{name}_len"]])
                    with open(old / f"{name}.csv", "rb") as fh:
                        fh.seek(at)
                        block = fh.read(length)
                    out[R[f"{name}_at"]], out[R[f"{name}_len"]] = (str(v) for v in _write(fds[name], block))
                runs.append(out)
            _write(fds["runs"], b"".join(_line(r) for r in runs))
        _point_to(directory, gen)
        for stale in index_dir(directory).iterdir():
            if stale.is_dir() and stale.name.isdigit() and stale.name not in {gen, old.name}:
                shutil.rmtree(stale, ignore_errors=True)
        return len(rows) - len(runs)
