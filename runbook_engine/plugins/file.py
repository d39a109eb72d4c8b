"""Look at a file, or at the files matching a glob (check)."""

from __future__ import annotations

import glob as globlib
import time
from pathlib import Path

from pydantic import Field, model_validator

from runbook_engine.plugin import Context, Outputs, PluginSpec, StepError

# Without an `expect:` of its own, a step must show this to pass.
DEFAULT_EXPECT = ["exists"]
KINDS = frozenset({"check"})
OUTPUTS = {
    "exists": "true when at least one file matched",
    "count": "number of matching files (folders count too when `path` names a folder)",
    "size": "total size in bytes of the matches",
    "age_s": "seconds since the newest match was modified (null when none)",
    "paths": "the matching paths (at most 100)",
    "text": "the content of a single matched file (at most 64 KiB), when `read: true`",
}


class Spec(PluginSpec):
    path: str | None = Field(default=None, description="One file or folder.")
    glob: str | None = Field(default=None, description="A pattern such as shots/*.png (** recurses).")
    read: bool = Field(default=False, description="Also return the file's text (single file).")

    @model_validator(mode="after")
    def _one_form(self) -> Spec:
        if (self.path is None) == (self.glob is None):
            raise ValueError("give exactly one of path: or glob:")
        return self


def run(spec: Spec, ctx: Context) -> Outputs:
    if spec.path is not None:
        p = ctx.resolve(spec.path)
        matches = [p] if p.exists() else []
    else:
        pattern = str(ctx.resolve(spec.glob or ""))
        matches = sorted(Path(m) for m in globlib.glob(pattern, recursive=True))
    stats = [m.stat() for m in matches]
    newest = max((s.st_mtime for s in stats), default=None)
    out: Outputs = {
        "exists": bool(matches),
        "count": len(matches),
        "size": sum(s.st_size for s in stats),
        "age_s": None if newest is None else round(time.time() - newest, 3),
        "paths": [str(m) for m in matches[:100]],
    }
    if spec.read:
        out["text"] = _read(matches[0]) if len(matches) == 1 and matches[0].is_file() else None
    return out


def _read(path: Path) -> str:
    try:
        with path.open(encoding="utf-8", errors="replace") as fh:
            return fh.read(64 * 1024)  # the first 64 KB, without loading a huge file whole
    except OSError as exc:
        raise StepError(f"cannot read {path}: {exc.strerror or exc}") from None
