"""The CLI stays fast: heavy libraries are imported only by the steps that need them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HEAVY = ["duckdb", "pyiceberg", "docker", "ansible_runner", "httpx", "pyarrow", "prometheus_client"]

PROBE = """
import atexit, sys
heavy = {heavy!r}
atexit.register(lambda: print("HEAVY:" + ",".join(sorted(m for m in heavy if m in sys.modules)), file=sys.stderr))
from runbook_engine.cli import main
main(sys.argv[1:])
"""


def _heavy_imported(args: list[str], cwd: Path) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=HEAVY), *args], capture_output=True, text=True, cwd=cwd
    )
    line = [ln for ln in proc.stderr.splitlines() if ln.startswith("HEAVY:")]
    assert line, proc.stderr
    return line[0].removeprefix("HEAVY:")


def test_help_imports_no_heavy_library(tmp_path: Path) -> None:
    """`runbook --help` imports none of duckdb, pyiceberg, docker, ansible_runner, httpx."""
    assert _heavy_imported(["--help"], tmp_path) == ""


def test_validate_imports_no_heavy_library() -> None:
    """`runbook validate` on the project's own runbooks imports none of the heavy libraries."""
    root = Path(__file__).parent.parent
    assert _heavy_imported(["validate"], root) == ""


def test_a_plain_http_step_loads_neither_httpx_nor_pygments(tmp_path: Path) -> None:
    """`runbook run` of an http:// step goes through the lean HTTP/1.1 client: no httpx, no pygments."""
    from tests.support.httpserver import serve

    probe = PROBE.replace('print("HEAVY:"', 'print("HEAVY:" + str("pygments" in sys.modules) + ":"')
    with serve() as server:
        server.route("/health")
        (tmp_path / "runbooks").mkdir()
        (tmp_path / "runbooks" / "one.yaml").write_text(
            "kind: runbook\nname: one\nsections:\n  - name: Checks\n    steps:\n"
            f"      - {{name: Health, check: http, with: {{url: '{server.url}/health'}}}}\n"
        )
        proc = subprocess.run(
            [sys.executable, "-c", probe.format(heavy=HEAVY), "run", "one", "--no-history"],
            capture_output=True,
            text=True,
            cwd=tmp_path,
        )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "HEAVY:False:" in proc.stderr.splitlines()
    assert server.hits == {"/health": 1}


def test_httpx_inside_runbook_skips_its_command_line_client() -> None:
    """When a step needs httpx (https, proxies), importing it inside runbook leaves out
    httpx._main (click, rich.syntax, pygments' lexers)."""
    probe = (
        "import sys; from runbook_engine.cli import _without_httpx_cli; _without_httpx_cli(); "
        "import httpx; print('pygments' in sys.modules, callable(httpx.Client))"
    )
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert proc.stdout.split() == ["False", "True"]
