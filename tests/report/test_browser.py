"""The HTML report and the printable checklist in a real headless Chromium: printed to PDF
(page counts with pdfinfo, ink on every page with pdftoppm) and screenshotted."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Project
from tests.report import browser, scenario
from tests.report.library import write_event
from tests.support.httpserver import Server

GO_GREEN = (0x1A, 0x7F, 0x37)
NO_GO_RED = (0xCF, 0x22, 0x2E)


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_TOKEN", scenario.SECRET)
    monkeypatch.setenv("K2_API_KEY", "never-printed-key")


def _on_paper(html: Path, size: str) -> Path:
    """The same page with the paper size a printer would pick (the file says `size: auto`)."""
    text = html.read_text()
    assert text.count("@page { size: auto; margin: 12mm; }") == 1
    copy = html.with_name(f"{html.stem}-{size}.html")
    copy.write_text(text.replace("@page { size: auto;", f"@page {{ size: {size};"))
    return copy


@pytest.mark.parametrize("size", ["A4", "letter"])
def test_t90m_checklist_fits_two_pages(event_project: Project, tmp_path: Path, size: str) -> None:
    """The 25-step T-90m checklist prints on at most 2 pages of A4 and of Letter, every page with ink."""
    assert event_project.cli("checklist", "t-minus-90m", "-o", "t90.html").code == 0
    html = _on_paper(event_project.root / "t90.html", size)
    pdf = tmp_path / f"t90-{size}.pdf"
    browser.print_pdf(html, pdf, tmp_path / "profile")
    info = browser.pdf_info(pdf)
    assert info["Page size"].endswith(f"pts ({size})"), info["Page size"]  # pdfinfo names the paper
    pages = int(info["Pages"])
    assert 1 <= pages <= 2, f"{pages} pages on {size}"
    images = browser.pdf_page_images(pdf, tmp_path / f"pages-{size}")
    assert len(images) == pages
    assert all(img.dark_pixels() > 500 for img in images)
    text = "".join(browser.page_text(pdf, p) for p in range(1, pages + 1))
    assert "Go/no-go call held with presenter, AV and support" in text
    assert "Decided by" in text


def test_event_checklist_puts_each_runbook_on_its_own_page(event_project: Project, tmp_path: Path) -> None:
    """--all prints the plan, then each runbook from a new page, then the contingencies; no blank page."""
    assert event_project.cli("checklist", "--all", "-o", "event.html").code == 0
    pdf = tmp_path / "event.pdf"
    browser.print_pdf(_on_paper(event_project.root / "event.html", "A4"), pdf, tmp_path / "profile")
    pages = browser.pdf_pages(pdf)
    firsts = [browser.page_text(pdf, p) for p in range(1, pages + 1)]
    assert pages == 5, [t[:80] for t in firsts]
    assert "Event checklist" in firsts[0] and "T-2h environment setup" in firsts[0]
    assert (
        "T-90m final checks" in firsts[1] and "Decided by" in firsts[1]
    )  # 25 steps and sign-off on one page
    assert "T-30m warm-up" in firsts[2] and "T-5m last look" in firsts[3]
    assert "Contingencies" in firsts[4] and "Projector fails" in firsts[4]
    assert all(img.dark_pixels() > 500 for img in browser.pdf_page_images(pdf, tmp_path / "pages"))


def test_report_pdf_has_no_blank_pages(project: Project, http_server: Server, tmp_path: Path) -> None:
    """The NO-GO report prints with ink and text on every page (A4 and Letter)."""
    scenario.setup(project, http_server)
    http_server.route("/health", status=500, body={"status": "degraded"})
    scenario.run(project, http_server, "journal", "report.html")
    for size in ("A4", "letter"):
        pdf = tmp_path / f"report-{size}.pdf"
        browser.print_pdf(_on_paper(project.root / "report.html", size), pdf, tmp_path / "profile")
        pages = browser.pdf_pages(pdf)
        assert pages >= 2
        images = browser.pdf_page_images(pdf, tmp_path / f"pages-{size}")
        assert len(images) == pages
        for number, img in enumerate(images, start=1):
            assert img.dark_pixels() > 200, f"page {number} of {pages} on {size} is blank"
            assert browser.page_text(pdf, number).strip(), f"page {number} on {size} has no text"
        assert "NO-GO" in browser.page_text(pdf, 1)


@pytest.mark.parametrize(
    ("broken", "verdict", "colour", "other"),
    [(False, "GO", GO_GREEN, NO_GO_RED), (True, "NO-GO", NO_GO_RED, GO_GREEN)],
)
def test_screenshot_shows_the_verdict_banner(
    project: Project,
    http_server: Server,
    tmp_path: Path,
    broken: bool,
    verdict: str,
    colour: tuple[int, int, int],
    other: tuple[int, int, int],
) -> None:
    """A 1200x900 screenshot has the verdict's banner colour across the top, not the other verdict's."""
    scenario.setup(project, http_server)
    if broken:
        http_server.route("/health", status=500, body={"status": "degraded"})
    run = scenario.run(project, http_server, "journal", "report.html")
    assert run.journal.verdict == verdict
    png = tmp_path / "shot.png"
    browser.screenshot(project.root / "report.html", png, tmp_path / "profile")
    top = browser.read_png(png, max_rows=140)
    assert top.width == 1200
    banner = top.count(colour, rows=range(10, 110))
    # The banner spans the page's content width (about 1060 px) over 80+ px of height.
    assert banner > 60_000, banner
    assert top.count(other, rows=range(10, 110)) == 0


@pytest.fixture
def event_project(project: Project) -> Project:
    write_event(project)
    return project


def test_missing_chromium_fails_with_the_install_hint(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Without chromium on PATH the browser tests fail (not skip) and say how to install it."""
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(AssertionError, match=r"^chromium not found: run scripts/ci/install-browser\.sh$"):
        browser.chromium()
    with pytest.raises(
        AssertionError, match=r"^pdfinfo not found \(poppler-utils\): run scripts/ci/install-browser\.sh$"
    ):
        browser.poppler("pdfinfo")
