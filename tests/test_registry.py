"""One registry: built-ins, installed entry points and the project's checks/*.py."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import Project

LOCAL_PLUGIN = '''
"""Count lines in a file (a project-local check)."""
from pydantic import Field
from runbook_engine.plugin import Context, PluginSpec

NAME = "{name}"
KINDS = frozenset({{"check"}})
OUTPUTS = {{"lines": "number of lines"}}


class Spec(PluginSpec):
    path: str = Field(description="The file.")


def run(spec: Spec, ctx: Context) -> dict[str, int]:
    return {{"lines": len(ctx.resolve(spec.path).read_text().splitlines())}}
'''


def test_project_checks_folder_adds_a_plugin(project: Project) -> None:
    """A plugin in checks/ is listed, validated at load time and runs like a built-in."""
    project.write("checks/line_count.py", LOCAL_PLUGIN.format(name="line.count"))
    project.write("notes.txt", "a\nb\nc\n")
    project.runbook(
        "r",
        """
        kind: runbook
        name: r
        sections: [{name: S, steps: [{name: Three lines, check: line.count, with: {path: notes.txt}, expect: lines == 3}]}]
    """,
    )
    listing = project.cli("plugins")
    assert "line.count           check         checks/line_count.py" in listing.out
    result, journal = project.run_json("r")
    assert (result.code, journal["verdict"]) == (0, "GO")
    project.runbook(
        "bad",
        """
        kind: runbook
        name: bad
        sections: [{name: S, steps: [{name: Typo, check: line.count, with: {paht: notes.txt}}]}]
    """,
    )
    bad = project.cli("validate")
    assert (
        "runbooks/bad.yaml:3: sections[0].steps[0].with.paht: unknown key (did you mean 'path'?)" in bad.err
    )


def test_a_name_clash_is_a_load_error_naming_both(project: Project) -> None:
    """A project plugin named like a built-in is refused, naming both sources."""
    project.write("checks/myhttp.py", LOCAL_PLUGIN.format(name="http"))
    project.runbook("r", "kind: runbook\nname: r\nsections: [{name: S, steps: [{manual: x}]}]\n")
    result = project.cli("validate")
    assert result.code == 2
    assert result.err == (
        "checks/myhttp.py: plugin 'http' is defined twice: in built-in (runbook_engine.plugins.http) "
        "and in checks/myhttp.py; rename one (set NAME in the module)\n"
    )


def test_a_broken_project_plugin_is_reported_not_raised(project: Project) -> None:
    """A checks/ file that fails to import is a clear load error, not a traceback."""
    project.write("checks/broken.py", "import nonexistent_module_xyz\n")
    project.runbook("r", "kind: runbook\nname: r\nsections: [{name: S, steps: [{manual: x}]}]\n")
    result = project.cli("validate")
    assert (result.code, result.err) == (
        2,
        "checks/broken.py: cannot load plugin: ModuleNotFoundError: No module named 'nonexistent_module_xyz'\n",
    )


def test_entry_point_plugins_join_the_registry(tmp_path: Path) -> None:
    """A plugin installed through the runbook_engine.plugins entry point group is listed."""
    site = tmp_path / "site"
    pkg = site / "rb_extra_plugin"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(LOCAL_PLUGIN.format(name="extra.lines"))
    dist = site / "rb_extra_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: rb-extra-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[runbook_engine.plugins]\nextra.lines = rb_extra_plugin\n")
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; sys.path.insert(0, sys.argv[1]);"
            "from runbook_engine.cli import main; main(['plugins'])",
            str(site),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("extra.lines"))
    assert line.split(None, 2)[1:] == ["check", "entry point rb_extra_plugin (rb-extra-plugin)"]


def test_not_a_plugin_module_is_reported(project: Project) -> None:
    """A checks/ module without the contract is reported with what is missing."""
    project.write(
        "checks/half.py",
        textwrap.dedent("""
        KINDS = frozenset({"check"})
    """),
    )
    project.runbook("r", "kind: runbook\nname: r\nsections: [{name: S, steps: [{manual: x}]}]\n")
    result = project.cli("validate")
    assert result.err == (
        "checks/half.py: not a valid plugin 'half': Spec must be a subclass of "
        "runbook_engine.plugin.PluginSpec\n"
    )


def test_require_names_what_to_install() -> None:
    """A missing library fails the step with a pip command: runbook-engine's extra for its
    own integrations, the plugin's own package when it says so."""
    from runbook_engine.plugin import StepError, require

    assert require("json", "duckdb").__name__ == "json"
    with pytest.raises(StepError, match=r"pip install 'runbook-engine\[duckdb\]'"):
        require("no_such_module_for_runbook_tests", "duckdb")
    with pytest.raises(StepError, match=r"pip install 'acme-checks\[snow\]'"):
        require("no_such_module_for_runbook_tests.sub", install="acme-checks[snow]")
    with pytest.raises(StepError, match=r"pip install 'no_such_module_for_runbook_tests'"):
        require("no_such_module_for_runbook_tests.sub")


def test_run_plugin_refuses_undocumented_outputs(tmp_path: Path) -> None:
    """The testing helper fails a plugin that returns an output its OUTPUTS does not list."""
    import importlib.util

    from runbook_engine.testing import run_plugin

    source = tmp_path / "sloppy.py"
    source.write_text(
        "from runbook_engine.plugin import PluginSpec\n"
        "NAME = 'sloppy'\nKINDS = frozenset({'check'})\nOUTPUTS = {'count': 'how many'}\n"
        "class Spec(PluginSpec):\n    pass\n"
        "def run(spec, ctx):\n    return {'count': 1, 'cnt': 1}\n"
    )
    spec = importlib.util.spec_from_file_location("sloppy", source)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with pytest.raises(AssertionError, match=r"undocumented outputs \['cnt'\]"):
        run_plugin(module, {})
