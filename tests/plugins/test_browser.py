"""The browser check against real pages served on 127.0.0.1, in Debian's real headless Chromium."""

from __future__ import annotations

import re
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image  # noqa: TID253  (a test of the browser extra needs Pillow anyway)
from pydantic import ValidationError

from runbook_engine.plugin import StepError
from runbook_engine.plugins import browser
from runbook_engine.registry import build_registry
from runbook_engine.testing import make_context, run_plugin
from tests.conftest import Project
from tests.support.webpages import (
    Page,
    ProcessWatcher,
    free_port_then_closed,
    processes_naming,
    self_signed,
    serve_site,
    silent_server,
)

# The data arrives from /data.json, which the server answers 2 s late, then JavaScript draws
# it: right after the load event the page shows only its heading.
DASHBOARD = """<!doctype html><title>K2 dashboard</title>
<h1>Throughput</h1><div id="chart"></div>
<script>
window.addEventListener("load", () => fetch("/data.json").then(r => r.json()).then(d => {
  const chart = document.getElementById("chart");
  for (const v of d.bars) {
    const bar = document.createElement("div");
    bar.className = "bar";
    bar.style = `display:inline-block;width:60px;margin:4px;height:${v}px;background:#1565c0`;
    chart.appendChild(bar);
  }
  chart.insertAdjacentHTML("beforeend", `<p>${d.rate} trades/s</p>`);
}));
</script>"""
DATA = Page('{"bars": [120, 200, 160, 240], "rate": 42}', delay_s=2.0, content_type="application/json")
BLANK = "<!doctype html><html><body></body></html>"
BROKEN = """<!doctype html><title>Broken</title><p>Latency</p>
<script>console.error("feed failed: 503");</script>
<script>throw new Error("boom");</script>"""


@pytest.fixture
def profiles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Chromium profiles (and so every Chromium process's command line) under this test's
    own folder, so the test can find exactly its own browser processes in /proc."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    yield folder
    assert processes_naming(folder) == []


def test_waits_for_data_drawn_after_load(tmp_path: Path, profiles: Path) -> None:
    """Without wait_for the check sees the page before its data; with it (CSS or text) the
    data, a non-blank screenshot of the viewport's size, and no console errors."""
    with serve_site({"/": Page(DASHBOARD), "/data.json": DATA}) as site:
        early = run_plugin(browser, {"url": site.url + "/"})
        shot = tmp_path / "shots" / "dash.png"
        args = {"url": site.url + "/", "wait_for": "#chart .bar", "screenshot": str(shot)}
        out = run_plugin(browser, args)
        by_text = run_plugin(browser, {"url": site.url + "/", "wait_for": "42 trades/s"})
    assert (early["text"], early["found"], early["screenshot"]) == ("Throughput", None, None)
    assert out["text"] == "Throughput\n\n42 trades/s"
    assert (out["status"], out["title"], out["found"], out["console_errors"]) == (200, "K2 dashboard", True, [])
    assert (out["screenshot"], out["blank"]) == (str(shot), False)
    assert out["one_colour_pct"] < 99.0
    assert out["elapsed_ms"] >= 2000  # it really waited for the late data
    with Image.open(shot) as image:
        assert (image.format, image.size) == ("PNG", (1280, 800))
    assert (by_text["found"], by_text["text"]) == (True, "Throughput\n\n42 trades/s")


def test_missing_wait_for_is_a_fact_and_fails_the_default(profiles: Path) -> None:
    """Data that never appears within timeout: is found: false (a fact), and the default
    expectation then fails on it."""
    with serve_site({"/": Page("<title>Empty</title><h1>Throughput</h1>")}) as site:
        out = run_plugin(browser, {"url": site.url + "/", "wait_for": "#chart .bar", "timeout": "3s"})
    assert (out["status"], out["found"], out["text"]) == (200, False, "Throughput")
    info = build_registry().plugins["browser"]
    assert [e.source for e in info.default_expect if not e.evaluate(out)] == ["found != false"]


def test_blank_white_page_is_blank(tmp_path: Path, profiles: Path) -> None:
    """A page with nothing on it is blank: one colour over 100% of the real screenshot."""
    with serve_site({"/": Page(BLANK)}) as site:
        out = run_plugin(browser, {"url": site.url + "/", "screenshot": "blank.png", "viewport": {"width": 640, "height": 480}}, make_context(workdir=tmp_path))
    assert (out["blank"], out["one_colour_pct"], out["text"], out["title"]) == (True, 100.0, "", "")
    assert out["screenshot"] == str(tmp_path / "blank.png")
    with Image.open(tmp_path / "blank.png") as image:
        assert image.size == (640, 480)
        assert image.convert("RGB").getcolors() == [(640 * 480, (255, 255, 255))]


def test_console_errors_and_uncaught_exceptions_are_reported(profiles: Path) -> None:
    """console.error and an uncaught exception both appear in console_errors, in order."""
    with serve_site({"/broken": Page(BROKEN)}) as site:
        out = run_plugin(browser, {"url": site.url + "/broken"})
    assert out["console_errors"] == [f"feed failed: 503 ({site.url}/broken:2)", "uncaught Error: boom"]
    assert (out["status"], out["text"]) == (200, "Latency")


def test_a_404_is_a_fact(profiles: Path) -> None:
    """A missing page is status 404 with what it shows, and fails the default expectation."""
    with serve_site({}) as site:
        out = run_plugin(browser, {"url": site.url + "/nope"})
    assert (out["status"], out["title"], out["text"]) == (404, "Not here", "Not found")
    assert out["console_errors"] == [
        f"Failed to load resource: the server responded with a status of 404 (Not Found) ({site.url}/nope)"
    ]
    info = build_registry().plugins["browser"]
    assert [e.source for e in info.default_expect if not e.evaluate(out)] == ["status < 400"]


def test_refused_connection_is_an_error_naming_the_url(profiles: Path) -> None:
    """Nothing listening: a StepError that names the url and says the connection was refused."""
    url = f"http://127.0.0.1:{free_port_then_closed()}/dash"
    with pytest.raises(StepError) as caught:
        run_plugin(browser, {"url": url})
    assert str(caught.value) == f"cannot load {url}: connection refused; is the server up? (net::ERR_CONNECTION_REFUSED)"


def test_self_signed_tls_is_refused_unless_verify_is_false(tmp_path: Path, profiles: Path) -> None:
    """An HTTPS page with a self-signed certificate is an error by default and loads with
    verify: false."""
    with serve_site({"/": Page("<title>Secure</title><p>Latency 38 ms</p>")}, tls=self_signed(tmp_path)) as site:
        with pytest.raises(StepError) as caught:
            run_plugin(browser, {"url": site.url + "/"})
        out = run_plugin(browser, {"url": site.url + "/", "verify": False})
    assert str(caught.value) == (
        f"cannot load {site.url}/: the TLS certificate is not trusted (net::ERR_CERT_AUTHORITY_INVALID)"
    )
    assert (out["status"], out["title"], out["text"]) == (200, "Secure", "Latency 38 ms")


def test_a_server_that_never_answers_times_out_and_leaves_no_chromium(profiles: Path) -> None:
    """A server that accepts and says nothing: StepError at the page timeout; every Chromium
    process of the step (seen running during it) is gone and its profile is removed."""
    with silent_server() as silent, ProcessWatcher(profiles) as watcher:
        began = time.monotonic()
        with pytest.raises(StepError) as caught:
            run_plugin(browser, {"url": silent.url, "timeout": "2s"})
        took = time.monotonic() - began
    assert str(caught.value) == f"{silent.url}: the page did not load within 2s"
    assert silent.accepted.is_set()
    assert watcher.most >= 3  # browser, zygote, renderer... really ran
    assert processes_naming(profiles) == []
    assert list(profiles.iterdir()) == []
    assert took < 30  # launch plus 2 s; generous for a loaded machine


def test_through_the_engine_a_silent_page_is_an_error_within_the_step_timeout(
    profiles: Path, project: Project
) -> None:
    """Run by the engine (a worker thread, the step's timeout): a page that never answers is
    the plugin's own error before the step's 15 s are up, and no Chromium is left."""
    with silent_server() as silent:
        project.runbook(
            "dash",
            f"""
            kind: runbook
            name: dash
            sections:
              - name: Demo
                steps:
                  - {{name: Dashboard, check: browser, with: {{url: "{silent.url}"}}, timeout: 15s}}
        """,
        )
        result, journal = project.run_json("dash")
    step = journal["sections"][0]["steps"][0]  # type: ignore[index]
    assert (result.code, step["outcome"]) == (1, "error")
    assert re.fullmatch(rf"{re.escape(silent.url)}: the page did not load within \d+(\.\d)?s", step["message"])
    assert processes_naming(profiles) == []


def test_cancel_closes_the_browser_at_once(profiles: Path) -> None:
    """A run interrupted while the page loads (ctx.cancel, as Ctrl-C or the engine's timeout
    set it) ends the Chromium processes and says so, long before the step's timeout."""
    ctx = make_context(timeout=120)
    with silent_server() as silent, ProcessWatcher(profiles) as watcher:
        threading.Thread(target=lambda: silent.accepted.wait(60) and ctx.cancel.set(), daemon=True).start()
        with pytest.raises(StepError) as caught:
            run_plugin(browser, {"url": silent.url}, ctx)
        after_cancel = time.monotonic()
    assert str(caught.value) == f"{silent.url}: cancelled; the browser was closed"
    assert ctx.remaining() is not None and ctx.remaining() > 60  # did not wait for the timeout
    assert watcher.most >= 3
    assert processes_naming(profiles) == []
    assert time.monotonic() - after_cancel < 5


def test_missing_chromium_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """With no chromium on PATH the step is an error naming Debian's package, not a download."""
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(StepError) as caught:
        run_plugin(browser, {"url": "http://127.0.0.1:1/"})
    assert str(caught.value) == (
        "Chromium is not installed (no 'chromium' on PATH); install Debian's package: apt-get install "
        "chromium (runbook never downloads a browser; `playwright install` is not needed)"
    )


def test_arguments_are_checked_at_load_time() -> None:
    """A url that is not http(s) and an unknown viewport key are refused by the Spec."""
    with pytest.raises(ValidationError, match=r"url must start with http:// or https:// \(got 'file:///x'\)"):
        browser.Spec.model_validate({"url": "file:///x"})
    with pytest.raises(ValidationError, match="depth"):
        browser.Spec.model_validate({"url": "http://x/", "viewport": {"width": 800, "depth": 3}})
