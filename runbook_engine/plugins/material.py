"""Judge backup materials by what they are: images that show something, executed notebooks,
videos that play (check)."""

from __future__ import annotations

import glob as globlib
from pathlib import Path
from typing import Literal

from pydantic import Field

from runbook_engine.plugin import Context, Duration, Outputs, PluginSpec, StepError
from runbook_engine.plugins import _materials as kinds

# Without an `expect:` of its own, a step must show this to pass.
DEFAULT_EXPECT = ["problems == []"]
KINDS = frozenset({"check"})
OUTPUTS = {
    "count": "how many files were examined",
    "valid": "how many of them are what they claim to be",
    "problems": "list of {path, problem}: what is wrong with each bad file (path relative to the "
    "project folder when inside it), and a missing count (at most 50)",
}
KEEP_PROBLEMS = 50
GLOB_CHARS = "*?["


class Spec(PluginSpec):
    path: str = Field(
        description="A file, a folder (every file in it, hidden files skipped) or a glob such as "
        "shots/*.png (** recurses). Relative to the project folder."
    )
    type: Literal["image", "notebook", "video", "any"] = Field(
        default="any",
        description="What the files must be; `any` decides per file from its extension "
        "(.png .jpg .jpeg, .ipynb, .mp4 .webm .mkv .mov .avi .ogv).",
    )
    min_count: int = Field(default=1, ge=0, description="At least this many files must be found.")
    min_duration: Duration = Field(
        default=0.0, ge=0, description="Videos must last at least this long (e.g. 2m)."
    )


def run(spec: Spec, ctx: Context) -> Outputs:
    files = _files(spec.path, ctx)
    problems: list[dict[str, str]] = []
    if len(files) < spec.min_count:
        what = "file" if spec.type == "any" else spec.type
        found = f"only {len(files)} {what}s" if files else f"no {what}"
        problems.append(
            {
                "path": spec.path,
                "problem": f"{found} found, at least {spec.min_count} expected",
            }
        )
    valid = 0
    for path in files:
        if ctx.cancel.is_set():
            raise StepError("cancelled")
        problem = _examine(path, spec, ctx)
        if problem is None:
            valid += 1
        else:
            problems.append({"path": _shown(path, ctx), "problem": problem})
            ctx.log(f"{path}: {problem}")
    ctx.log(f"{valid} of {len(files)} files are valid {spec.type if spec.type != 'any' else 'materials'}")
    return {"count": len(files), "valid": valid, "problems": problems[:KEEP_PROBLEMS]}


def _shown(path: Path, ctx: Context) -> str:
    """A path as the runbook names it: relative to the project folder when inside it, so a
    failure message shows `materials/shot-01.png` before it is cut short."""
    try:
        return str(path.relative_to(ctx.workdir))
    except ValueError:
        return str(path)


def _files(given: str, ctx: Context) -> list[Path]:
    """The files a path names: itself, a folder's files (recursively), or a glob's matches."""
    target = ctx.resolve(given)
    if any(c in given for c in GLOB_CHARS):
        return sorted(p for p in map(Path, globlib.glob(str(target), recursive=True)) if p.is_file())
    if target.is_dir():
        return sorted(
            p
            for p in target.rglob("*")
            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(target).parts)
        )
    return [target] if target.exists() else []


def _examine(path: Path, spec: Spec, ctx: Context) -> str | None:
    """What is wrong with one file, or None when it is what it should be."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        return f"cannot read: {exc.strerror or exc}"
    if size == 0:
        return "empty file"
    kind = spec.type if spec.type != "any" else kinds.kind_of(path)
    if kind is None:
        return (
            f"not a known material ({path.suffix or 'no extension'}); name it .png/.jpg, .ipynb or "
            ".mp4/.webm, or give type:"
        )
    if kind == "image":
        return kinds.image_problem(path)
    if kind == "notebook":
        return kinds.notebook_problem(path)
    return kinds.video_problem(path, spec.min_duration, ctx)
