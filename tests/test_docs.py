"""Docs that cannot drift: every plugin and every command is documented, and the plugin index agrees
with the code.

The plugin reference is an index (docs/plugins.md) that links one fragment per plugin
(docs/plugins/<name>.md, headed `## <name>`), each kept next to the plugin it documents.
"""

from __future__ import annotations

import re
from pathlib import Path

import typer

from runbook_engine.cli import app
from runbook_engine.registry import PluginInfo, build_registry

DOCS = Path(__file__).resolve().parents[1] / "docs"
INDEX = DOCS / "plugins.md"


def _plugins() -> dict[str, PluginInfo]:
    return build_registry().plugins


def _index_row(name: str) -> list[str] | None:
    """The cells of the index table row that links plugins/<name>.md, or None."""
    for line in INDEX.read_text(encoding="utf-8").splitlines():
        if line.startswith(f"| [{name}](plugins/{name}.md) |"):
            return [cell.strip() for cell in line.strip().strip("|").split(" | ")]
    return None


def test_every_registered_plugin_has_a_section() -> None:
    """Each registered plugin has docs/plugins/<name>.md with a `## <name>` heading, linked from the index."""
    problems = []
    for name in sorted(_plugins()):
        fragment = DOCS / "plugins" / f"{name}.md"
        if not fragment.is_file():
            problems.append(f"{name}: docs/plugins/{name}.md is missing")
        elif f"## {name}" not in fragment.read_text(encoding="utf-8").splitlines():
            problems.append(f"{name}: docs/plugins/{name}.md has no '## {name}' heading")
        if _index_row(name) is None:
            problems.append(f"{name}: docs/plugins.md has no table row linking plugins/{name}.md")
    assert problems == []


def test_every_plugin_fragment_is_linked_from_the_index() -> None:
    """Every fragment in docs/plugins/ is linked from docs/plugins.md, so no plugin page is orphaned."""
    index = INDEX.read_text(encoding="utf-8")
    fragments = sorted(p.name for p in (DOCS / "plugins").glob("*.md"))
    assert [f for f in fragments if f"](plugins/{f})" not in index] == []


def test_plugin_index_matches_kinds_and_default_expectations() -> None:
    """The index row of each registered plugin lists its KINDS and its DEFAULT_EXPECT exactly."""
    mismatches = []
    for name, info in sorted(_plugins().items()):
        row = _index_row(name)
        if row is None:
            continue  # reported by test_every_registered_plugin_has_a_section
        kinds = set(row[1].split(", "))
        expected = list(getattr(info.module, "DEFAULT_EXPECT", []))
        documented = re.findall(r"`([^`]*)`", row[3]) if not row[3].startswith("none") else []
        if kinds != set(info.kinds):
            mismatches.append(f"{name}: kinds {sorted(kinds)} in docs, {sorted(info.kinds)} in code")
        if documented != expected:
            mismatches.append(f"{name}: default expectation {documented} in docs, {expected} in code")
    assert mismatches == []


def test_every_command_is_in_the_cli_reference() -> None:
    """Each `runbook` command has a `## runbook <command>` section in docs/cli.md, and only those."""
    commands = set(typer.main.get_command(app).commands)  # type: ignore[attr-defined]
    text = (DOCS / "cli.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^## runbook (\S+)$", text, re.MULTILINE))
    assert sorted(commands - documented) == []
    assert sorted(documented - commands) == []


def test_the_shipped_json_schema_is_current() -> None:
    """The runbooks' editor line points at docs/runbook.schema.json: it must be what
    `runbook schema` prints now (regenerate: `runbook schema > docs/runbook.schema.json`)."""
    import json

    from runbook_engine.format.schema import json_schema

    shipped = json.loads((DOCS / "runbook.schema.json").read_text(encoding="utf-8"))
    assert shipped == json_schema(build_registry(DOCS.parent)), "regenerate docs/runbook.schema.json"
    schema_file = (DOCS / "runbook.schema.json").resolve()
    checked = 0
    for path in (DOCS.parent / "runbooks").rglob("*.yaml"):
        first = path.read_text(encoding="utf-8").splitlines()[0]
        if "$schema=" in first:
            target = (path.parent / first.split("$schema=", 1)[1]).resolve()
            assert target == schema_file, f"{path}: the editor line points at {target}"
            checked += 1
    assert checked >= 8, "the K2 runbooks lost their editor lines"
