"""Derived forms of a secret (`| reverse`, `| list | join(' ')`, `[:12]`, a prefix cut by the
shell, one character per line, any case) never reach the console, a report (md, html, junit,
json), the run folder, the history or `history --sql`: a real run through the CLI."""

from __future__ import annotations

import json
from typing import Any

import pytest

from runbook_engine.redact import MASK, Redactor
from tests.conftest import Project

SECRET = "Zq8vLm3Kx7Tw2Pr9Hn4Jc6"
SHORT = "pw12345"  # shorter than 8: masked exactly, as before


def derived(secret: str) -> dict[str, str]:
    """Each derived form a run below prints, and a distinctive 8-character part of it."""
    return {
        "reverse": secret[::-1],
        "spaced": " ".join(secret),
        "spaced-reverse": " ".join(secret[::-1]),
        "prefix": secret[:12],
        "middle": secret[5:15],
        "suffix-upper": secret[-10:].upper(),
        "python-list": str(list(secret)),
        "json-list": json.dumps(list(secret)),
        "lines": "\n".join(secret[:10]),
    }


def visible(text: str, secret: str) -> list[str]:
    """Every 8-character run of the secret found in the text, in any case, forwards or
    backwards, directly or with the list separators of the forms above between characters."""
    squeezed = text.lower()
    for sep in (" ", ",", "'", '"', "\n"):
        squeezed = squeezed.replace(sep, "")
    low = secret.lower()
    runs = [low[i : i + 8] for i in range(len(low) - 7)]
    return [r for r in runs if r in squeezed or r[::-1] in squeezed]


STEPS = [
    # In templates: the rendered command and its output.
    ("reverse filter", "echo {{ secrets.DERIVED_PW | reverse }}"),
    ("join filter", "echo {{ secrets.DERIVED_PW | list | join(' ') }}"),
    ("slice", "echo {{ secrets.DERIVED_PW[:12] }}"),
    ("list shown", 'echo "{{ secrets.DERIVED_PW | list }}"'),
    ("upper slice", "echo {{ secrets.DERIVED_PW[-10:] | upper }}"),
    # From the shell, with no template at all.
    ("shell prefix", "printf '%.12s\\n' \"$DERIVED_PW\""),
    ("shell cut", 'echo "$DERIVED_PW" | cut -c6-15'),
    ("shell rev", 'echo "$DERIVED_PW" | rev'),
    ("one per line", 'echo "$DERIVED_PW" | cut -c1-10 | fold -w1'),
    ("short secret", 'echo "$SHORT_PW" and rev $(echo "$SHORT_PW" | rev)'),
]


@pytest.fixture
def derived_run(project: Project, monkeypatch: pytest.MonkeyPatch) -> tuple[Project, str]:
    monkeypatch.setenv("DERIVED_PW", SECRET)
    monkeypatch.setenv("SHORT_PW", SHORT)
    lines = [
        "kind: runbook",
        "name: derived",
        "secrets: [DERIVED_PW, SHORT_PW]",
        "sections:",
        "  - name: S",
        "    steps:",
    ]
    for name, command in STEPS:
        # `expect` fails on purpose, so each output is also quoted in the step's message.
        lines.append(
            f"      - {{name: {name}, check: shell, with: {{command: {json.dumps(command)}}}, expect: \"stdout == 'x'\"}}"
        )
    project.write("runbooks/derived.yaml", "\n".join(lines) + "\n")
    reports = [project.root / f"out.{ext}" for ext in ("md", "json", "html", "xml")]
    history = project.root / "history"
    args = [a for r in reports for a in ("--report", str(r))]
    result = project.cli("run", "derived", *args, "--history", str(history))
    assert result.code == 1, result.err
    console = result.out + result.err
    sql = project.cli("history", "--history", str(history), "--sql", "SELECT * FROM steps", "-f", "json")
    assert sql.code == 0, sql.err
    listing = project.cli("history", "derived", "--history", str(history), "--steps")
    return project, console + sql.out + sql.err + listing.out + listing.err


def test_every_derived_form_was_printed(derived_run: tuple[Project, str]) -> None:
    """The steps really printed the derived forms: each output was masked, not empty."""
    project, _ = derived_run
    journal = json.loads((project.root / "out.json").read_text())
    outputs = {s["name"]: s["outputs"]["stdout"] for s in journal["sections"][0]["steps"]}
    assert outputs["reverse filter"] == f"{MASK}\n"
    assert outputs["join filter"] == f"{MASK}\n"
    assert outputs["list shown"] == f"['{MASK}']\n"
    assert outputs["shell prefix"] == f"{MASK}\n"
    assert outputs["one per line"] == f"{MASK}\n"
    assert outputs["short secret"] == f"{MASK} and rev 54321wp\n"  # under 8: exact forms only


def test_no_derived_form_reaches_any_output(derived_run: tuple[Project, str]) -> None:
    """Console, md/json/html/junit reports, every file of the run and of the history, and
    `history --sql` and `--steps` output hold no 8-character run of the secret in any form."""
    project, console = derived_run
    assert visible(console, SECRET) == []
    assert SHORT not in console
    files = [p for p in project.root.rglob("*") if p.is_file() and p.suffix not in (".yaml",)]
    assert {p.name for p in files} >= {"out.md", "out.json", "out.html", "out.xml"}
    assert any("history" in p.parts for p in files)
    for path in files:
        text = path.read_bytes().decode("utf-8", errors="replace")
        assert visible(text, SECRET) == [], path
        assert SHORT not in text, path


@pytest.mark.parametrize("name", sorted(derived(SECRET)))
def test_redactor_masks_each_derived_form(name: str) -> None:
    """Each form, inside other text, is masked and the text around it is kept."""
    masked = Redactor({"A": SECRET}).text(f"before {derived(SECRET)[name]} after")
    assert masked.startswith("before ") and masked.endswith(" after"), masked
    assert visible(masked, SECRET) == []


def test_parts_are_masked_exactly() -> None:
    """Exactly the part is replaced: 7 characters stay (too short to tell), 8 do not."""
    redactor = Redactor({"A": SECRET})
    assert redactor.text(f"id={SECRET[:7]};") == f"id={SECRET[:7]};"
    assert redactor.text(f"id={SECRET[:8]};") == f"id={MASK};"
    assert redactor.text(f"a {SECRET[3:11]} b {SECRET[::-1][2:14]} c") == f"a {MASK} b {MASK} c"
    assert redactor.text("x " + " ".join(SECRET[:9]) + " y") == f"x {MASK} y"
    assert redactor.text(f"{SECRET[:8]}{SECRET[:8]}") == MASK


def test_a_big_output_without_secrets_is_untouched() -> None:
    """64 KB of output with 100 secrets set comes back byte for byte."""
    secrets: dict[str, Any] = {f"S{i}": f"{i:03d}-Secret-Value-{i * 7919:08d}" for i in range(100)}
    text = ("2026-12-02T09:00:00Z GET /api/v1/items?page=3 200 0.0123s user=alice ['a', 'b']\n" * 800)[:65536]
    assert Redactor(secrets).text(text) == text
