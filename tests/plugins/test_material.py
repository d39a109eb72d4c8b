"""The material check on real files: Chromium screenshots, nbformat notebooks, ffmpeg videos,
and the stand-ins it must see through (empty files, `{}`, renamed text)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import nbformat  # noqa: TID253  (tests of the material extra write real notebooks)
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output  # noqa: TID253
from PIL import Image  # noqa: TID253

from runbook_engine.plugin import StepError
from runbook_engine.plugins import material
from runbook_engine.testing import make_context, run_plugin
from tests.conftest import Project
from tests.report.browser import screenshot

DASHBOARD = """<!doctype html><body style="font-family: sans-serif">
<h1>K2 throughput</h1><p>42 trades/s, p99 38 ms</p>
<div style="display:flex;gap:8px;align-items:flex-end;height:220px">
<div style="width:60px;height:120px;background:#1565c0"></div>
<div style="width:60px;height:200px;background:#1565c0"></div>
<div style="width:60px;height:160px;background:#1565c0"></div></div></body>"""


def check(args: dict[str, object], folder: Path) -> dict[str, object]:
    return run_plugin(material, args, make_context(workdir=folder))


def shoot(folder: Path, name: str, html: str) -> Path:
    """A real screenshot of `html` taken by headless Chromium."""
    page = folder / f"{name}.html"
    page.write_text(html, encoding="utf-8")
    png = folder / f"{name}.png"
    screenshot(page, png, folder / f"profile-{name}", width=800, height=600)
    page.unlink()
    shutil.rmtree(folder / f"profile-{name}", ignore_errors=True)
    return png


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Chromium screenshot of a dashboard (dash.png) and of an empty page (white.png)."""
    folder = tmp_path_factory.mktemp("shots")
    shoot(folder, "dash", DASHBOARD)
    shoot(folder, "white", "<!doctype html><body></body>")
    return folder


def executed_notebook() -> nbformat.NotebookNode:
    """A notebook as a kernel leaves it: every code cell has an execution count and outputs."""
    return new_notebook(
        cells=[
            new_markdown_cell("# K2 demo"),
            new_code_cell("1 + 1", execution_count=1, outputs=[
                new_output("execute_result", data={"text/plain": "2"}, execution_count=1)
            ]),
            new_code_cell("print('snapshots: 12')", execution_count=2, outputs=[
                new_output("stream", name="stdout", text="snapshots: 12\n")
            ]),
        ]
    )


def test_real_screenshots_png_and_jpeg_are_valid(shots: Path, tmp_path: Path) -> None:
    """A Chromium screenshot of a dashboard is a valid image, as PNG and as JPEG."""
    shutil.copy(shots / "dash.png", tmp_path / "dash.png")
    with Image.open(shots / "dash.png") as image:
        image.convert("RGB").save(tmp_path / "dash.jpg", quality=80)
    out = check({"path": ".", "type": "image"}, tmp_path)
    assert out == {"count": 2, "valid": 2, "problems": []}


def test_blank_screenshots_fail_as_png_and_jpeg(shots: Path, tmp_path: Path) -> None:
    """An empty page's screenshot is a blank image, and stays blank through JPEG compression."""
    shutil.copy(shots / "white.png", tmp_path / "white.png")
    with Image.open(shots / "white.png") as image:
        image.convert("RGB").save(tmp_path / "white.jpg", quality=60)
    out = check({"path": "*", "type": "image"}, tmp_path)
    assert out["problems"] == [
        {"path": "white.jpg", "problem": "blank image (100.0% one colour)"},
        {"path": "white.png", "problem": "blank image (100.0% one colour)"},
    ]


def test_stand_in_images_fail_saying_what_they_are(shots: Path, tmp_path: Path) -> None:
    """An empty file, a renamed text file, an SVG named .png and a cut-off PNG each fail with
    what is wrong."""
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "notes.png").write_text('{"trades": 42}\n')
    (tmp_path / "drawing.png").write_text('<svg xmlns="http://www.w3.org/2000/svg"></svg>')
    data = (shots / "dash.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    out = check({"path": str(tmp_path), "type": "image"}, tmp_path)
    problems = {Path(p["path"]).name: p["problem"] for p in out["problems"]}  # type: ignore[attr-defined]
    assert (out["count"], out["valid"]) == (4, 0)
    assert problems == {
        "cut.png": "PNG does not decode (image file is truncated)",
        "drawing.png": "not a PNG/JPEG (starts with '<svg xmlns=\"')",
        "empty.png": "empty file",
        "notes.png": "not a PNG/JPEG (starts with '{\"trades\": 4')",
    }


def test_a_decompression_bomb_is_refused_not_decoded(tmp_path: Path) -> None:
    """A small PNG that claims 200 million pixels is reported, not decoded into gigabytes."""
    Image.new("1", (20_000, 10_000)).save(tmp_path / "bomb.png")
    out = check({"path": "bomb.png", "type": "image"}, tmp_path)
    assert out["problems"] == [
        {"path": "bomb.png", "problem": "PNG is too large to decode safely (over 178,956,970 pixels)"}
    ]


def test_ten_empty_screenshots_fail_the_default_expectation(project: Project) -> None:
    """The issue's trick: ten empty files as screenshots make a runbook NO-GO, naming them."""
    for n in range(10):
        project.write(f"materials/shot-{n:02}.png", "")
    project.runbook(
        "materials",
        """
        kind: runbook
        name: materials
        sections:
          - name: Backup materials
            steps:
              - {name: Screenshots, check: material, with: {path: "materials/*.png", type: image, min_count: 10}}
    """,
    )
    result, journal = project.run_json("materials")
    step = journal["sections"][0]["steps"][0]  # type: ignore[index]
    assert (result.code, step["outcome"]) == (1, "failed")
    assert step["message"].startswith(
        "problems == [] -> problems = [{'path': 'materials/shot-00.png', 'problem': 'empty file'}"
    )
    assert step["outputs"]["valid"] == 0
    assert step["outputs"]["problems"][0] == {
        "path": "materials/shot-00.png",
        "problem": "empty file",
    }


def test_an_executed_notebook_is_valid(tmp_path: Path) -> None:
    """A notebook whose code cells carry execution counts and outputs passes."""
    nbformat.write(executed_notebook(), tmp_path / "demo.ipynb")
    assert check({"path": "demo.ipynb", "type": "notebook"}, tmp_path) == {"count": 1, "valid": 1, "problems": []}


def test_stand_in_notebooks_fail_saying_what_is_wrong(tmp_path: Path) -> None:
    """`{}`, plain text, a never-run notebook, one whose cell raised, and a broken structure
    each fail with their own message."""
    (tmp_path / "a-empty-object.ipynb").write_text("{}")
    (tmp_path / "b-text.ipynb").write_text("print('hello')\n")
    fresh = new_notebook(cells=[new_code_cell("import k2"), new_code_cell("k2.snapshots()"), new_code_cell("")])
    nbformat.write(fresh, tmp_path / "c-never-run.ipynb")
    failed = executed_notebook()
    failed.cells.append(new_code_cell("1/0", execution_count=3, outputs=[
        new_output("error", ename="ZeroDivisionError", evalue="division by zero", traceback=[])
    ]))
    nbformat.write(failed, tmp_path / "d-raised.ipynb")
    (tmp_path / "e-broken.ipynb").write_text('{"cells": "none", "nbformat": 4, "nbformat_minor": 5, "metadata": {}}')
    out = check({"path": "*.ipynb", "type": "notebook"}, tmp_path)
    assert [p["problem"] for p in out["problems"]] == [  # type: ignore[attr-defined]
        "not a notebook: '{}' has no 'cells' and 'nbformat' (nbformat 4 JSON)",
        "not a notebook: not JSON (starts with \"print('hello\")",
        "notebook has 2 code cells (cells 1, 2) never executed (no execution count); "
        "2 code cells (cells 1, 2) without outputs",
        "notebook has 1 code cell (cell 4) with errors (first: cell 4: ZeroDivisionError: division by zero)",
        "not a valid notebook: cells must be array",
    ]


def ffmpeg(*args: str) -> None:
    found = shutil.which("ffmpeg")
    assert found, "ffmpeg not found: run scripts/ci/install-browser.sh"
    subprocess.run([found, "-v", "error", "-y", *args], check=True, timeout=60)


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2 s test-pattern video and a 1 s audio-only file named .mp4, both made by ffmpeg."""
    folder = tmp_path_factory.mktemp("clips")
    ffmpeg("-f", "lavfi", "-i", "testsrc=duration=2:size=160x120:rate=10", "-pix_fmt", "yuv420p", str(folder / "walkthrough.mp4"))
    ffmpeg("-f", "lavfi", "-i", "sine=duration=1", "-c:a", "aac", "-f", "mp4", str(folder / "sound.mp4"))
    return folder


def test_a_real_video_long_enough_is_valid(clips: Path) -> None:
    """ffprobe reads the 2 s video's duration: valid for min_duration 1.5s, too short for 5s."""
    ok = check({"path": "walkthrough.mp4", "type": "video", "min_duration": "1.5s"}, clips)
    short = check({"path": "walkthrough.mp4", "type": "video", "min_duration": "5s"}, clips)
    assert ok == {"count": 1, "valid": 1, "problems": []}
    assert short["problems"] == [
        {"path": "walkthrough.mp4", "problem": "video lasts 2.0s, at least 5s expected"}
    ]


def test_stand_in_videos_fail_saying_what_is_wrong(clips: Path, tmp_path: Path) -> None:
    """A text file named .mp4, an empty .webm and an audio-only file are not videos."""
    (tmp_path / "a-recording.mp4").write_text("recording of the walkthrough\n")
    (tmp_path / "b-empty.webm").write_bytes(b"")
    shutil.copy(clips / "sound.mp4", tmp_path / "c-sound.mp4")
    out = check({"path": ".", "type": "video"}, tmp_path)
    assert [p["problem"] for p in out["problems"]] == [  # type: ignore[attr-defined]
        "not a video ffprobe can read (Invalid data found when processing input)",
        "empty file",
        "no video stream (streams: audio)",
    ]


def test_missing_ffprobe_is_an_error_not_a_pass(clips: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Without ffprobe on PATH nobody can tell whether a video plays: the step is an error
    that names Debian's package."""
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(StepError) as caught:
        check({"path": "walkthrough.mp4", "type": "video"}, clips)
    assert str(caught.value) == (
        "ffprobe is not installed, so videos cannot be checked; install Debian's package: apt-get install ffmpeg"
    )


def test_any_type_judges_each_file_by_what_it_claims(shots: Path, clips: Path, tmp_path: Path) -> None:
    """type: any checks .png as an image, .ipynb as a notebook, .mp4 as a video, and refuses
    files that claim to be none of them; hidden files are skipped."""
    shutil.copy(shots / "dash.png", tmp_path / "dash.png")
    shutil.copy(clips / "walkthrough.mp4", tmp_path / "walkthrough.mp4")
    nbformat.write(executed_notebook(), tmp_path / "demo.ipynb")
    (tmp_path / "readme.txt").write_text("see the screenshots\n")
    (tmp_path / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    out = check({"path": "."}, tmp_path)
    assert (out["count"], out["valid"]) == (4, 3)
    assert out["problems"] == [
        {
            "path": "readme.txt",
            "problem": "not a known material (.txt); name it .png/.jpg, .ipynb or .mp4/.webm, or give type:",
        }
    ]


def test_too_few_or_no_materials_is_a_problem(shots: Path, tmp_path: Path) -> None:
    """Fewer files than min_count, or none at all, is reported as a problem naming the path."""
    for n in range(3):
        shutil.copy(shots / "dash.png", tmp_path / f"view-{n}.png")
    few = check({"path": "view-*.png", "type": "image", "min_count": 10}, tmp_path)
    none = check({"path": "missing/*.png", "type": "image"}, tmp_path)
    assert few == {
        "count": 3,
        "valid": 3,
        "problems": [{"path": "view-*.png", "problem": "only 3 images found, at least 10 expected"}],
    }
    assert none == {
        "count": 0,
        "valid": 0,
        "problems": [{"path": "missing/*.png", "problem": "no image found, at least 1 expected"}],
    }
