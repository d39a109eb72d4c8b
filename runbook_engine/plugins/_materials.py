"""What is wrong with an image, a notebook or a video: the judgements behind `material`.

Each function returns None for a good file, or one sentence that says what a person opening
the file would find ("empty file", "blank image (99.98% one colour)"). They read the content,
never only the name or size, so a renamed text file or `{}` as a notebook cannot pass.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any, Literal

from runbook_engine.plugin import Context, StepError, require
from runbook_engine.plugins._pixels import is_blank, one_colour_share, share_pct

Kind = Literal["image", "notebook", "video"]
SUFFIXES: dict[str, Kind] = {
    ".png": "image",
    ".jpg": "image",
    ".jpeg": "image",
    ".ipynb": "notebook",
    ".mp4": "video",
    ".webm": "video",
    ".mkv": "video",
    ".mov": "video",
    ".avi": "video",
    ".ogv": "video",
}
PNG = b"\x89PNG\r\n\x1a\n"
JPEG = b"\xff\xd8\xff"
FFPROBE_HINT = "install Debian's package: apt-get install ffmpeg"


def kind_of(path: Path) -> Kind | None:
    """The kind of material a file claims to be: its extension, else its first bytes."""
    by_name = SUFFIXES.get(path.suffix.lower())
    if by_name is not None:
        return by_name
    head = _head(path, 16)
    if head.startswith((PNG, JPEG)):
        return "image"
    if head.lstrip().startswith(b"{"):
        return "notebook"
    if head[4:8] == b"ftyp" or head.startswith(b"\x1a\x45\xdf\xa3"):  # MP4/MOV, Matroska/WebM
        return "video"
    return None


def _head(path: Path, n: int) -> bytes:
    try:
        with path.open("rb") as fh:
            return fh.read(n)
    except OSError:
        return b""


def _starts_with(data: bytes) -> str:
    """The first characters of a file, as a person would read them ('{', '<svg xmlns=')."""
    text = data[:12].decode("utf-8", errors="replace").split("\n")[0]
    return repr(text)


def image_problem(path: Path) -> str | None:
    head = _head(path, 16)
    if not head.startswith((PNG, JPEG)):
        return f"not a PNG/JPEG (starts with {_starts_with(head)})"
    image_module = require("PIL.Image", "material")
    what = "PNG" if head.startswith(PNG) else "JPEG"
    try:
        with image_module.open(path) as image:
            image.load()  # decodes every pixel: a truncated file fails here, not at open()
            share = one_colour_share(image)
    except (OSError, ValueError, SyntaxError) as exc:  # Pillow's errors for broken files
        return f"{what} does not decode ({exc})"
    except image_module.DecompressionBombError:  # a tiny file claiming billions of pixels
        return f"{what} is too large to decode safely (over {image_module.MAX_IMAGE_PIXELS * 2:,} pixels)"
    if is_blank(share):
        return f"blank image ({share_pct(share)}% one colour)"
    return None


def notebook_problem(path: Path) -> str | None:
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
        data = json.loads(text)
    except (UnicodeDecodeError, ValueError):
        return f"not a notebook: not JSON (starts with {_starts_with(raw)})"
    if not isinstance(data, dict) or "cells" not in data or "nbformat" not in data:
        shown = text.strip()[:20]
        return f"not a notebook: {shown!r} has no 'cells' and 'nbformat' (nbformat 4 JSON)"
    if data["nbformat"] != 4:
        return f"nbformat {data['nbformat']!r} notebook: open and save it in a current Jupyter (nbformat 4)"
    nbformat = require("nbformat", "material")
    validator = require("nbformat.validator", "material")
    # The schema check on the raw JSON: nbformat.validate() would also repair the notebook
    # and warn about it, and a judge must not change what it judges.
    schema = validator.get_validator(4, data.get("nbformat_minor"))
    if schema is None:
        return f"not a valid notebook: unknown nbformat_minor {data.get('nbformat_minor')!r}"
    for error in schema.iter_errors(data):
        said = str(getattr(error, "message", error)).removeprefix("data.").removeprefix("data ")
        return f"not a valid notebook: {said[:200]}"
    return _cells_problem(nbformat.from_dict(data).cells)


def _cells_problem(cells: list[Any]) -> str | None:
    """Code cells that were never run, show nothing, or raised, by position (1 = first cell)."""
    code = [(n, cell) for n, cell in enumerate(cells, start=1) if cell.cell_type == "code"]
    code = [(n, cell) for n, cell in code if _text(cell.source).strip()]  # an empty cell runs nothing
    if not code:
        return "notebook has no code cells"
    never = [n for n, cell in code if cell.get("execution_count") is None]
    silent = [n for n, cell in code if not cell.get("outputs")]
    errors = [
        (n, out) for n, cell in code for out in cell.get("outputs", []) if out.get("output_type") == "error"
    ]
    found = []
    if never:
        found.append(f"{_cells(never)} never executed (no execution count)")
    if silent:
        found.append(f"{_cells(silent)} without outputs")
    if errors:
        n, out = errors[0]
        cells_with_errors = sorted({n for n, _ in errors})
        found.append(
            f"{_cells(cells_with_errors)} with errors "
            f"(first: cell {n}: {out.get('ename', '?')}: {str(out.get('evalue', ''))[:120]})"
        )
    return "notebook has " + "; ".join(found) if found else None


def _text(source: str | list[str]) -> str:
    """A cell's source: on disk it is often a list of lines."""
    return source if isinstance(source, str) else "".join(source)


def _cells(numbers: list[int]) -> str:
    shown = ", ".join(str(n) for n in numbers[:10]) + (", ..." if len(numbers) > 10 else "")
    noun = "code cell" if len(numbers) == 1 else "code cells"
    return f"{len(numbers)} {noun} ({'cell' if len(numbers) == 1 else 'cells'} {shown})"


def video_problem(path: Path, min_duration: float, ctx: Context) -> str | None:
    ffprobe = shutil.which("ffprobe")
    if ffprobe is None:
        # Not a problem of the file: without ffprobe nobody can tell whether it plays.
        raise StepError(f"ffprobe is not installed, so videos cannot be checked; {FFPROBE_HINT}")
    command = [ffprobe, "-v", "error", "-show_entries", "format=duration:stream=codec_type"]
    left = ctx.remaining()
    try:
        proc = subprocess.run(
            [*command, "-of", "json", str(path)],
            capture_output=True,
            text=True,
            check=False,  # a file ffprobe cannot read is a finding, reported below
            timeout=None if left is None else max(0.1, left),
        )
    except subprocess.TimeoutExpired:
        raise StepError(f"ffprobe did not finish reading {path} within the step's timeout") from None
    if proc.returncode != 0:
        said = (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
        return f"not a video ffprobe can read ({said.replace(str(path) + ': ', '')})"
    info = json.loads(proc.stdout or "{}")
    types = [s.get("codec_type") for s in info.get("streams", [])]
    if "video" not in types:
        return f"no video stream (streams: {', '.join(map(str, types)) or 'none'})"
    try:
        duration = float(info.get("format", {}).get("duration"))
    except (TypeError, ValueError):
        return "duration unknown (ffprobe cannot tell how long it plays; the file may be cut short)"
    ctx.log(f"{path}: video of {duration:.1f}s")
    if duration <= 0:
        return "video has no duration (0s)"
    if duration < min_duration:
        return f"video lasts {duration:.1f}s, at least {min_duration:g}s expected"
    return None
