"""What the `browser` and `material` checks cost, next to cheaper checks of the same things.

browser: one check of a local dashboard page (start Chromium, load, wait for the drawn data,
screenshot, close), against the `http` check of the same page (baseline: sees only the
status) and Chromium's own command-line screenshot (peer: no JavaScript waiting, no text).
material: 10 screenshots, one notebook and one short video, against the `file` check of the
same files (baseline: existence and size only).

    .venv/bin/python benchmarks/plugin_browser_material.py [--runs 3]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from runbook_engine.plugins import browser, file, http, material  # noqa: E402  (after sys.path)
from runbook_engine.testing import make_context, run_plugin  # noqa: E402
from tests.report.browser import screenshot  # noqa: E402
from tests.support.webpages import Page, serve_site  # noqa: E402

DASHBOARD = """<!doctype html><title>K2</title><h1>Throughput</h1><div id="chart"></div>
<script>setTimeout(() => { document.getElementById("chart").innerHTML =
  [120, 200, 160].map(h => `<div class="bar" style="display:inline-block;width:60px;margin:4px;` +
  `height:${h}px;background:#1565c0"></div>`).join("") + "<p>42 trades/s</p>"; }, 200);</script>"""


def median_s(fn: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        fn()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def import_cost(module: str) -> float:
    """Seconds a fresh interpreter spends importing `module` (minus the bare start)."""

    def run(code: str) -> float:
        began = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        return time.perf_counter() - began

    return max(0.0, run(f"import {module}") - run("pass"))


def bench_browser(runs: int, tmp: Path) -> None:
    with serve_site({"/": Page(DASHBOARD)}) as site:
        url = site.url + "/"
        args = {"url": url, "wait_for": "#chart .bar", "screenshot": str(tmp / "dash.png")}
        run_plugin(browser, args, make_context(timeout=60))  # warm up: imports, disk cache
        page = tmp / "dash.html"
        page.write_text(DASHBOARD)
        cost = median_s(lambda: run_plugin(browser, args, make_context(timeout=60)), runs)
        base = median_s(lambda: run_plugin(http, {"url": url}), runs)
        peer = median_s(lambda: screenshot(page, tmp / "cli.png", tmp / "cli-profile"), runs)
        lines: list[str] = []
        ctx = make_context(timeout=60)
        ctx.log = lines.append
        out = run_plugin(browser, args, ctx)
    started = next(line for line in lines if line.startswith("Chromium started"))
    imported = import_cost("playwright.sync_api")
    print(f"browser (median of {runs}; import of playwright.sync_api {imported:.2f} s once)")
    print(f"  browser check: start, load, wait_for, screenshot, close  {cost:6.2f} s")
    loaded = f"page loaded and data found in {out['elapsed_ms']:.0f} ms"
    print(f"    of one more run: {started.split(' (')[0]}; {loaded}")
    print(f"  http check of the same page (baseline)                   {base:6.3f} s")
    print(f"  chromium --screenshot on the command line (peer)         {peer:6.2f} s")


def bench_material(runs: int, tmp: Path) -> None:
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook, new_output

    shots = tmp / "materials"
    shots.mkdir()
    for n in range(10):
        shutil.copy(tmp / "dash.png", shots / f"view-{n:02}.png")
    cells = [
        new_code_cell(f"{n} + 1", execution_count=n, outputs=[
            new_output("execute_result", data={"text/plain": str(n + 1)}, execution_count=n)
        ])
        for n in range(1, 21)
    ]
    nbformat.write(new_notebook(cells=cells), shots / "demo.ipynb")
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg:
        source = "testsrc=duration=5:size=640x360:rate=25"
        subprocess.run(
            [ffmpeg, "-v", "error", "-y", "-f", "lavfi", "-i", source, "-pix_fmt", "yuv420p",
             str(shots / "walkthrough.mp4")],
            check=True,
        )
    ctx = make_context(workdir=tmp)
    run_plugin(material, {"path": "materials"}, ctx)  # warm up: Pillow and nbformat imports
    print(f"material (median of {runs}; import of PIL.Image {import_cost('PIL.Image'):.2f} s, "
          f"nbformat {import_cost('nbformat'):.2f} s, once)")
    for label, args in [
        ("10 screenshots 1280x800 (decode + blank measure)", {"path": "materials/*.png", "type": "image"}),
        ("1 notebook of 20 executed cells", {"path": "materials/demo.ipynb", "type": "notebook"}),
        ("1 video of 5 s (ffprobe)", {"path": "materials/walkthrough.mp4", "type": "video"}),
    ]:
        if "video" in label and not ffmpeg:
            print(f"  {label:52} not measured: ffmpeg is not installed")
            continue
        cost = median_s(lambda a=args: run_plugin(material, a, ctx), runs)  # type: ignore[misc]
        print(f"  {label:52} {cost * 1000:8.1f} ms")
    base = median_s(lambda: run_plugin(file, {"glob": "materials/*"}, ctx), runs)
    print(f"  {'file check of the same 12 files (baseline)':52} {base * 1000:8.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        bench_browser(args.runs, tmp)
        bench_material(args.runs, tmp)


if __name__ == "__main__":
    main()
