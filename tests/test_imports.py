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


PLUGINS_PROBE = """
import atexit, sys
atexit.register(lambda: print("PLUGINS:" + ",".join(sorted(
    m.rsplit(".", 1)[1] for m in sys.modules if m.startswith("runbook_engine.plugins.")
)), file=sys.stderr))
from runbook_engine.cli import main
main(sys.argv[1:])
"""


def _plugins_imported(args: list[str], cwd: Path) -> tuple[int, str, str]:
    """Exit code, output, and the built-in plugin modules the command imported (comma-joined)."""
    proc = subprocess.run(
        [sys.executable, "-c", PLUGINS_PROBE, *args], capture_output=True, text=True, cwd=cwd
    )
    line = [ln for ln in proc.stderr.splitlines() if ln.startswith("PLUGINS:")]
    assert line, proc.stderr
    return proc.returncode, proc.stdout + proc.stderr, line[0].removeprefix("PLUGINS:")


def test_help_imports_no_plugin(tmp_path: Path) -> None:
    """`runbook --help` imports no plugin module at all (the registry is never built)."""
    assert _plugins_imported(["--help"], tmp_path)[2] == ""


def test_validate_imports_only_the_plugins_its_steps_use(tmp_path: Path) -> None:
    """`validate` imports the plugins its steps name (file, shell), not the other sixteen."""
    (tmp_path / "runbooks").mkdir()
    (tmp_path / "runbooks" / "two.yaml").write_text(
        "kind: runbook\nname: two\nsections:\n  - name: Checks\n    steps:\n"
        "      - {name: Notes, check: file, with: {path: notes.txt}}\n"
        "      - {name: Echo, action: shell, with: {command: 'true'}}\n"
    )
    code, out, plugins = _plugins_imported(["validate"], tmp_path)
    assert code == 0, out
    # _proctree is shell's helper module (process trees).
    assert plugins == "_proctree,file,shell"


def test_a_with_typo_is_still_found_with_a_lazy_registry(tmp_path: Path) -> None:
    """A wrong `with:` key of a lazily loaded plugin is still an error with file:line: key."""
    (tmp_path / "runbooks").mkdir()
    (tmp_path / "runbooks" / "bad.yaml").write_text(
        "kind: runbook\nname: bad\nsections:\n  - name: Checks\n    steps:\n"
        "      - {name: Notes, check: file, with: {paht: notes.txt}}\n"
    )
    code, out, plugins = _plugins_imported(["validate"], tmp_path)
    assert code == 2, out
    assert "runbooks/bad.yaml:6: sections[0].steps[0].with.paht: unknown key (did you mean 'path'?)" in out
    assert plugins == "file"


def test_plugins_command_still_lists_every_builtin(tmp_path: Path) -> None:
    """`runbook plugins` loads and lists all eighteen built-ins, in name order."""
    from runbook_engine.registry import BUILTINS

    code, out, plugins = _plugins_imported(["plugins"], tmp_path)
    assert code == 0, out
    listed = [ln.split()[0] for ln in out.splitlines() if ln.split() and "built-in (" in ln]
    assert listed == sorted(BUILTINS)
    assert set(BUILTINS.values()) <= {f"runbook_engine.plugins.{m}" for m in plugins.split(",")}


def test_an_http_step_loads_no_httpx_and_one_plugin(tmp_path: Path) -> None:
    """`runbook run` of a plain-HTTP step loads neither httpx nor pygments, and only the http plugin."""
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
        code, out, plugins = _plugins_imported(["run", "one", "--no-history"], tmp_path)
    assert code == 0, out
    assert plugins == "_http11,http"
    assert server.hits == {"/health": 2}


def test_help_imports_no_rich_help_machinery(tmp_path: Path) -> None:
    """`runbook --help` and `run --help` import neither typer's rich help nor markdown-it or pygments."""
    probe = PLUGINS_PROBE.replace(
        'm.rsplit(".", 1)[1] for m in sys.modules if m.startswith("runbook_engine.plugins.")',
        'm for m in ("typer.rich_utils", "markdown_it", "pygments", "rich.traceback") if m in sys.modules',
    )
    for args in (["--help"], ["run", "--help"]):
        proc = subprocess.run(
            [sys.executable, "-c", probe, *args], capture_output=True, text=True, cwd=tmp_path
        )
        assert proc.returncode == 0, proc.stderr
        assert "PLUGINS:" in proc.stderr.splitlines(), proc.stderr


def test_httpx_inside_runbook_skips_its_command_line_client() -> None:
    """When a step needs httpx (https, proxies), importing it inside runbook leaves out
    httpx._main (click, rich.syntax, pygments' lexers)."""
    probe = (
        "import sys; from runbook_engine.cli import _without_httpx_cli; _without_httpx_cli(); "
        "import httpx; print('pygments' in sys.modules, callable(httpx.Client))"
    )
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert proc.stdout.split() == ["False", "True"]
