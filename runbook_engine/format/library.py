"""A loaded library: every validated document under the runbook directory.

Kept apart from the loader so that the checks which read a library (semantics) and the
loader which fills one do not import each other.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from runbook_engine.errors import display_path
from runbook_engine.format.lines import show_key
from runbook_engine.format.spec import Contingency, Environment, Runbook
from runbook_engine.registry import Registry

D = TypeVar("D", Runbook, Contingency, Environment)


@dataclass
class Loaded(Generic[D]):
    """A validated document and where it came from."""

    doc: D
    path: Path
    sha256: str
    raw: Any = field(repr=False, default=None)

    @property
    def shown(self) -> str:
        return display_path(self.path)


@dataclass
class Library:
    """Every document under the runbook directory, validated together."""

    root: Path
    registry: Registry
    runbooks: dict[str, Loaded[Runbook]] = field(default_factory=dict)
    contingencies: dict[str, Loaded[Contingency]] = field(default_factory=dict)
    environments: dict[str, Loaded[Environment]] = field(default_factory=dict)

    @property
    def project_dir(self) -> Path:
        return self.root.parent

    def default_environment(self) -> str | None:
        """--env, else RUNBOOK_ENV, else the one marked `default: true`, else `local`."""
        chosen = os.environ.get("RUNBOOK_ENV")
        if chosen:
            return chosen
        for name, loaded in sorted(self.environments.items()):
            if loaded.doc.default:
                return name
        return "local" if "local" in self.environments else None


def key_path(loc: tuple[str | int, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{show_key(part)}" if out else show_key(part))
    return out
