"""Which heavy libraries a fresh interpreter loads when it imports a module."""

from __future__ import annotations

import json
import subprocess
import sys


def loaded_after_import(module: str, heavy: tuple[str, ...]) -> list[str]:
    """The names in `heavy` found in sys.modules of a new Python after `import module`."""
    code = f"import json, sys, {module}; print(json.dumps(sorted(m for m in {heavy!r} if m in sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded: list[str] = json.loads(done.stdout)
    return loaded
