"""Real Ansible for tests: localhost inventories (connection local) and a run context.

ansible-playbook runs for real through ansible-runner; each run costs ~2 s, so test
modules share runs through module-scoped fixtures.
"""

from __future__ import annotations

import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runbook_engine.plugin import Context

HOST_VARS = f"ansible_connection=local ansible_python_interpreter={sys.executable}"


def ini_inventory(*hosts: str) -> str:
    """An inline INI inventory: every host is this machine, driven by this virtualenv's Python."""
    return "".join(f"{host} {HOST_VARS}\n" for host in hosts)


def mapping_inventory(*hosts: str) -> dict[str, Any]:
    """The same inventory as a YAML-style mapping."""
    local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    return {"all": {"hosts": {host: dict(local) for host in hosts}}}


def write_playbook(folder: Path, text: str, name: str = "site.yml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(text).lstrip())
    return path


@dataclass
class Evidence:
    """A Context whose log lines are kept, with a project folder and a run folder."""

    project: Path
    run_dir: Path
    lines: list[str] = field(default_factory=list)

    def context(self, timeout: float | None = 60.0, secrets: dict[str, str] | None = None) -> Context:
        self.project.mkdir(parents=True, exist_ok=True)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        return Context(
            step_id="deploy app", timeout=timeout, workdir=self.project, run_dir=self.run_dir,
            secrets=secrets or {}, log=self.lines.append,
        )


def files_containing(root: Path, needle: str) -> list[Path]:
    """Every file under ``root`` whose bytes contain ``needle`` (symlinks not followed)."""
    data = needle.encode()
    return [
        path for path in sorted(root.rglob("*"))
        if path.is_file() and not path.is_symlink() and data in path.read_bytes()
    ]
