"""The engine as it was at an earlier commit, for before/after figures in the same run.

`git archive` writes that commit's runbook_engine/ into benchmarks/.before/<rev>/ (ignored by
git; no worktree is registered). Run it with PYTHONPATH pointing there: the project's venv has
the same dependencies, and a folder on PYTHONPATH comes before the editable install.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The commit before the performance work of issue 12 (the tree as the issue measured it).
DEFAULT_BEFORE = "48336c2"


def before_tree(rev: str) -> Path:
    """A folder whose runbook_engine/ is the engine at `rev` (extracted once)."""
    full = subprocess.run(
        ["git", "rev-parse", "--short=12", rev], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    dest = ROOT / "benchmarks" / ".before" / full
    if not (dest / "runbook_engine" / "__init__.py").exists():
        dest.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(
            ["git", "archive", full, "runbook_engine"], cwd=ROOT, capture_output=True, check=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest
