"""Layout of the K2 home folder and small JSON-file helpers.

Everything the miniature owns lives under one folder so a drill can be torn
down with `rm -rf` and two stacks (e.g. parallel tests) never share state.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_HOME = ".k2"
DEFAULT_PORT = 8000
DEFAULT_FEED_INTERVAL = 1.0
DEFAULT_KERNEL_INTERVAL = 3.0

# Fault flag files (see faults.py) live in HOME/faults/<name>.
FAULT_API_SLOW = "api-slow"
FAULT_METRICS_EMPTY = "metrics-empty"


def resolve_home(arg: str | None) -> Path:
    """--home wins, then $K2_HOME, then ./.k2; always absolute so children agree."""
    raw = arg or os.environ.get("K2_HOME") or DEFAULT_HOME
    return Path(raw).expanduser().resolve()


@dataclass(frozen=True)
class Home:
    """Paths inside a K2 home folder."""

    root: Path

    @property
    def catalog_db(self) -> Path:
        return self.root / "catalog.db"

    @property
    def warehouse(self) -> Path:
        return self.root / "warehouse"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def faults(self) -> Path:
        return self.root / "faults"

    @property
    def feed_state(self) -> Path:
        return self.root / "feed_state.json"

    @property
    def kernel_heartbeat(self) -> Path:
        return self.root / "kernel_heartbeat.json"

    @property
    def config(self) -> Path:
        """Settings of the last `start`, reused by `heal` and `status`."""
        return self.run / "config.json"

    def pid_file(self, role: str) -> Path:
        return self.run / f"{role}.pid"

    def log_file(self, role: str) -> Path:
        return self.logs / f"{role}.log"

    def fault_flag(self, name: str) -> Path:
        return self.faults / name

    def ensure_dirs(self) -> None:
        for d in (self.root, self.warehouse, self.logs, self.run, self.faults):
            d.mkdir(parents=True, exist_ok=True)


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Write via rename so a concurrent reader never sees a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
    os.replace(tmp, path)


def read_json(path: Path) -> dict[str, Any] | None:
    """Return the parsed object, or None if missing or unreadable."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
