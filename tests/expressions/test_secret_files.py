"""An environment's secrets_file (execute/data.py): encoding and malformed lines are user
errors with file:line (never exit 3), and a file outside the project is refused unless its
folder is named in RUNBOOK_SECRETS_DIRS."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Project

RUNBOOK = """
kind: runbook
name: r
secrets: [API_TOKEN]
sections: [{name: S, steps: [{name: a, check: shell, with: {command: "echo {{ secrets.API_TOKEN }}"}}]}]
"""


def environment(project: Project, secrets_file: str) -> None:
    project.runbook("r", RUNBOOK)
    project.write(
        "runbooks/local.yaml",
        f"kind: environment\nname: local\ndefault: true\nsecrets_file: {secrets_file}\n",
    )


@pytest.fixture(autouse=True)
def _no_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("API_TOKEN", raising=False)
    monkeypatch.delenv("RUNBOOK_SECRETS_DIRS", raising=False)


def test_a_non_utf8_byte_names_the_file_and_line(project: Project) -> None:
    """Latin-1 `é` on line 2: exit 2 with file:line and column (before: UnicodeDecodeError, exit 3)."""
    environment(project, "local.env")
    (project.root / "local.env").write_bytes(b"# keys\nAPI_TOKEN=caf\xe9-token-1234\n")
    result = project.cli("run", "r", "--no-history")
    assert (result.code, result.out + result.err) == (
        2,
        "local.env:2: byte 0xe9 at column 14 is not UTF-8 text; save the file as UTF-8\n",
    )


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("API_TOKEN tok-123456789", "has no '='"),
        ("API TOKEN=tok-123456789", "does not start with a name (letters, digits, _)"),
        ("=tok-123456789", "does not start with a name (letters, digits, _)"),
    ],
)
def test_a_malformed_line_names_the_line_without_showing_it(
    project: Project, line: str, problem: str
) -> None:
    """A line that is not NAME=value is an error at its line; the line (a secret) is not echoed."""
    environment(project, "local.env")
    (project.root / "local.env").write_text(f"# keys\n\nexport OTHER='x'\n{line}\n", encoding="utf-8")
    result = project.cli("run", "r", "--no-history")
    assert (result.code, result.out + result.err) == (
        2,
        f"local.env:4: this line {problem}; write NAME=value (or # for a comment)\n",
    )
    assert "tok-123456789" not in result.out + result.err


@pytest.mark.parametrize("where", ["../outside.env", "/etc/passwd", "link.env"])
def test_a_secrets_file_outside_the_project_is_refused(project: Project, where: str) -> None:
    """`../x.env`, an absolute path and a symbolic link out of the project are refused with
    the environment file's line and key (before: read without a word)."""
    outside = project.root.parent / "outside.env"
    outside.write_text("API_TOKEN=from-outside-123456\n", encoding="utf-8")
    (project.root / "link.env").symlink_to(outside)
    environment(project, where)
    result = project.cli("run", "r", "--no-history")
    assert result.code == 2
    assert result.out + result.err == (
        f"runbooks/local.yaml:4: secrets_file: {where!r} is outside the project folder (.); "
        "move the file into the project, or name its folder in RUNBOOK_SECRETS_DIRS (folders separated by ':')\n"
    )
    assert "from-outside" not in result.out


def test_runbook_secrets_dirs_allows_a_named_folder(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the folder named in RUNBOOK_SECRETS_DIRS, the outside file is read (and masked)."""
    outside = project.root.parent / "vault"
    outside.mkdir()
    (outside / "x.env").write_text("API_TOKEN=from-the-vault-123456\n", encoding="utf-8")
    environment(project, str(outside / "x.env"))
    monkeypatch.setenv("RUNBOOK_SECRETS_DIRS", f"/nonexistent:{outside}")
    result, journal = project.run_json("r", "--no-history")
    assert result.code == 0, result.err
    assert journal["sections"][0]["steps"][0]["outputs"]["stdout"] == "***\n"  # type: ignore[index]


def test_a_well_formed_file_still_reads_as_before(project: Project, tmp_path: Path) -> None:
    """Comments, blank lines, `export`, quotes and a UTF-8 BOM are accepted."""
    environment(project, "local.env")
    (project.root / "local.env").write_text(
        "\ufeff# keys\n\nexport OTHER='x'\nAPI_TOKEN=\"quoted-token-98765\"\n", encoding="utf-8"
    )
    result, journal = project.run_json("r", "--no-history")
    assert result.code == 0, result.err
    assert journal["sections"][0]["steps"][0]["outputs"]["stdout"] == "***\n"  # type: ignore[index]
