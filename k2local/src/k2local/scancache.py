"""The current snapshot of the trades table as Arrow, reading each data file once.

Iceberg data files never change once written, so their rows can be kept by path: a new
snapshot costs only the files it added, and files that left the snapshot (an overwrite, a
compaction) are dropped with it.
"""

from __future__ import annotations

import threading
from typing import Any


class ScanCache:
    """Per-file rows and the last assembled snapshot, shared by the API's threads."""

    def __init__(self) -> None:
        self._cache_lock = threading.Lock()
        self._file_rows: dict[str, Any] = {}
        self._cached_snapshot: int | None = None
        self._cached_table: Any = None

    def current(self, table: Any) -> Any:
        """The current snapshot as Arrow, reading only data files not read before.

        The feed commits a small file every second, so a full scan per request would
        re-read every file each time and slow down as the day goes on. Files are
        immutable in Iceberg: keep each one's rows, keyed by path, and read only new
        ones; files that left the snapshot (overwrite, compaction) are dropped.
        """
        import pyarrow as pa
        from pyiceberg.io.pyarrow import ArrowScan

        snap = table.current_snapshot()
        if snap is None:
            return table.scan().to_arrow()
        with self._cache_lock:
            if self._cached_snapshot == snap.snapshot_id:
                return self._cached_table
        scan = table.scan()
        tasks = list(scan.plan_files())
        if any(t.delete_files for t in tasks):  # row-level deletes: let pyiceberg apply them
            return scan.to_arrow()
        with self._cache_lock:
            known = dict(self._file_rows)
        new = [t for t in tasks if t.file.file_path not in known]
        if new:
            fresh = ArrowScan(
                table.metadata, table.io, scan.projection(), scan.row_filter, scan.case_sensitive
            )
            for task in new:
                known[task.file.file_path] = fresh.to_table([task])
        parts = [known[t.file.file_path] for t in tasks]
        data = pa.concat_tables(parts) if parts else scan.to_arrow()
        with self._cache_lock:
            self._file_rows = {t.file.file_path: known[t.file.file_path] for t in tasks}
            self._cached_snapshot, self._cached_table = snap.snapshot_id, data
        return data
