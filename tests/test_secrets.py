"""Secret masking (runbook_engine/redact.py) over the forms a secret takes on its way out.

Real runs: shell steps print the secret raw, repr-escaped, JSON-escaped, HTML-escaped,
URL-quoted, upper-cased, base64-encoded..., and the console, every report format, the
run folder and the history must hold none of these forms.
"""

from __future__ import annotations

import base64
import html
import inspect
import json
import subprocess
import sys
from typing import Any
from urllib.parse import quote, quote_plus

import pytest

from runbook_engine.redact import MASK, Redactor
from tests.conftest import Project

# Every character that some encoding changes: backslash, both quotes, space, &, <, >, é.
SECRET = "Tr0ub4dor\\3\"x y&z<é>'"
API_KEY = "abcdef-key-123"


def forms(secret: str) -> dict[str, str]:
    """The secret as programs commonly print it."""
    b64 = base64.b64encode(secret.encode()).decode()
    return {
        "raw": secret,
        "repr": repr(secret),
        "json": json.dumps({"pw": secret}),
        "json-ascii": json.dumps(secret, ensure_ascii=True),
        "json-in-repr": repr(json.dumps({"pw": secret})),
        "html": html.escape(secret),
        "html-numeric": secret.replace("&", "&amp;").replace('"', "&#34;").replace("'", "&#39;"),
        "json-in-html": html.escape(json.dumps(secret)),
        "url": quote(secret, safe=""),
        "url-path": quote(secret),
        "url-plus": quote_plus(secret),
        "upper": secret.upper(),
        "lower": secret.lower(),
        "base64": b64,
        "base64-url": base64.urlsafe_b64encode(secret.encode()).decode().rstrip("="),
        "basic-auth": "Authorization: Basic " + base64.b64encode(f"admin:{secret}".encode()).decode(),
        "basic-auth-2": base64.b64encode(f"ops:{secret}".encode()).decode(),
        "quotes-escaped-only": secret.replace('"', '\\"'),
    }


# The steps' program: the function above, and a line to print one form of $AUDIT_PW.
FORMS_SCRIPT = f"""
from __future__ import annotations
import base64, html, json, os, sys
from urllib.parse import quote, quote_plus
{inspect.getsource(forms)}
print("form:", forms(os.environ["AUDIT_PW"])[sys.argv[1]])
"""


def traces(secret: str) -> list[str]:
    """What would show the secret leaked: each form, and each form as a report escapes it."""
    out = []
    # The system shell's echo (dash) reads `\3` in the secret as the byte 0x03: ask it.
    echoed = subprocess.run(
        ["sh", "-c", 'echo "$S"'], env={"S": secret}, capture_output=True, text=True, check=True
    ).stdout.rstrip("\n")
    for form in [*forms(secret).values(), echoed]:
        out += [form, json.dumps(form)[1:-1], html.escape(form), html.escape(form, quote=False)]
    return sorted({t for t in out if t}, key=len)


def leaks(text: str, secret: str) -> list[str]:
    found = [t for t in traces(secret) if t in text]
    # A distinctive part of the secret, in any case, catches forms not listed above.
    if secret[:9].lower() in text.lower():
        found.append(secret[:9])
    return found


@pytest.fixture
def secret_run(project: Project, monkeypatch: Any) -> tuple[Project, str]:
    """A run whose shell steps print the secret in every form, with every report and a history."""
    monkeypatch.setenv("AUDIT_PW", SECRET)
    monkeypatch.setenv("K2_API_KEY", API_KEY)
    (project.root / "forms.py").write_text(FORMS_SCRIPT, encoding="utf-8")
    steps = [
        f'{{name: "print {name}", check: shell, with: {{command: "{sys.executable} forms.py {name}"}}, '
        "expect: \"stdout == 'x'\"}"
        for name in forms(SECRET)
    ]
    steps += [
        "{name: upper in args, check: shell, with: {command: 'echo {{ secrets.K2_API_KEY | upper }}'}, "
        "expect: \"stdout == 'x'\"}",
        "{name: urlencoded in args, check: shell, with: {command: 'true {{ secrets.AUDIT_PW | urlencode }}'}}",
        "{name: echo under dash, check: shell, with: {command: 'echo \"$AUDIT_PW\"'}, expect: \"stdout == 'x'\"}",
        f"{{name: cut short, check: shell, with: {{command: 'printf %s%s {'a' * 100} \"$AUDIT_PW\"'}}, "
        "expect: \"stdout == 'x'\"}",
    ]
    header = (
        "kind: runbook\nname: leak\nsecrets: [AUDIT_PW, K2_API_KEY]\nsections:\n  - name: S\n    steps:\n"
    )
    project.write("runbooks/leak.yaml", header + "".join(f"      - {step}\n" for step in steps))
    reports = [project.root / f"out.{ext}" for ext in ("md", "json", "html", "xml")]
    args = [a for r in reports for a in ("--report", str(r))]
    result = project.cli("run", "leak", *args, "--history", str(project.root / "history"))
    assert result.code == 1, result.err
    console = result.out + result.err
    return project, console


def test_every_form_is_printed_by_the_steps(secret_run: tuple[Project, str]) -> None:
    """The run really printed each form: every step failed on its masked stdout."""
    project, _ = secret_run
    journal = json.loads((project.root / "out.json").read_text())
    steps = journal["sections"][0]["steps"]
    assert len(steps) == len(forms(SECRET)) + 4
    for step in steps[: len(forms(SECRET))]:
        assert step["outcome"] == "failed", step
        assert step["outputs"]["stdout"].startswith("form: "), step["outputs"]


def test_no_form_of_the_secret_reaches_console_reports_or_history(secret_run: tuple[Project, str]) -> None:
    """Console, md/json/html/xml reports, the run folder and the history hold no form of it."""
    project, console = secret_run
    assert leaks(console, SECRET) == []
    assert leaks(console, API_KEY) == []
    files = [p for p in project.root.rglob("*") if p.is_file() and p.suffix not in (".yaml", ".py")]
    assert {p.name for p in files} >= {"out.md", "out.json", "out.html", "out.xml"}
    assert any("history" in p.parts for p in files)
    for path in files:
        text = path.read_bytes().decode("utf-8", errors="replace")
        assert leaks(text, SECRET) == [], path
        assert leaks(text, API_KEY) == [], path


def test_explanations_show_the_mask(secret_run: tuple[Project, str]) -> None:
    """A failed expectation explains the masked stdout, as repr: `stdout = 'form: ***\\n'`."""
    project, console = secret_run
    journal = json.loads((project.root / "out.json").read_text())
    by_id = {s["id"]: s for s in journal["sections"][0]["steps"]}
    assert by_id["print-raw"]["message"] == "stdout == 'x' -> stdout = 'form: ***\\n'"
    assert by_id["print-json"]["message"] == "stdout == 'x' -> stdout = 'form: {\"pw\": \"***\"}\\n'"
    assert by_id["print-upper"]["outputs"]["stdout"] == "form: ***\n"
    assert by_id["print-basic-auth"]["outputs"]["stdout"].startswith("form: Authorization: Basic YWRtaW46")
    assert "stdout = 'form: ***\\n'" in console


def test_template_filters_of_a_secret_are_masked_in_args(secret_run: tuple[Project, str]) -> None:
    """`{{ secrets.X | upper }}` and `| urlencode` in a command are masked in the recorded args."""
    project, _ = secret_run
    journal = json.loads((project.root / "out.json").read_text())
    by_id = {s["id"]: s for s in journal["sections"][0]["steps"]}
    assert by_id["upper-in-args"]["args"]["command"] == f"echo {MASK}"
    assert by_id["upper-in-args"]["outputs"]["stdout"] == f"{MASK}\n"
    assert by_id["urlencoded-in-args"]["args"]["command"] == f"true {MASK}"


def test_a_secret_cut_by_the_explanation_length_is_still_masked(secret_run: tuple[Project, str]) -> None:
    """Explanations mask before shortening to 120 characters, so no half secret shows."""
    project, _ = secret_run
    journal = json.loads((project.root / "out.json").read_text())
    by_id = {s["id"]: s for s in journal["sections"][0]["steps"]}
    assert by_id["cut-short"]["message"] == f"stdout == 'x' -> stdout = '{'a' * 100}***'"


@pytest.mark.parametrize("name", sorted(forms(SECRET)))
def test_redactor_masks_each_form(name: str) -> None:
    """Each form, inside other text, is replaced and the text around it is kept."""
    redactor = Redactor({"AUDIT_PW": SECRET})
    masked = redactor.text(f"before {forms(SECRET)[name]} after")
    assert masked.startswith("before ") and masked.endswith(" after")
    assert MASK in masked
    assert leaks(masked, SECRET) == []


def test_redactor_exact_output() -> None:
    """Masking replaces only the secret: the words around it and other text are untouched."""
    redactor = Redactor({"A": "s3cr3t-value", "B": "s3cr3t-value-longer"})
    assert redactor.text("key=s3cr3t-value; k2=s3cr3t-value-longer.") == "key=***; k2=***."
    assert redactor.text("a line with no secret\n") == "a line with no secret\n"
    assert redactor.text("S3CR3T-VALUE and s3cr3t%2Dvalue") == "*** and ***"
    assert redactor.data({"s3cr3t-value": ["x s3cr3t-value", 2.5]}) == {"***": ["x ***", 2.5]}
    assert Redactor({}).text("s3cr3t-value") == "s3cr3t-value"


def test_redactor_long_secret_uses_exact_forms() -> None:
    """A secret longer than the flexible limit (a key file) is still masked raw, escaped and in base64."""
    key = "-----BEGIN KEY-----\n" + "Ab0+/" * 200 + "\n-----END KEY-----"
    redactor = Redactor({"KEY": key})
    assert redactor.text(f"x{key}y") == "x***y"
    assert redactor.text(f"x{json.dumps(key)}y") == 'x"***"y'
    assert redactor.text(f"x{key!r}y") == "x'***'y"
    assert redactor.text(base64.b64encode(key.encode()).decode()) == "***"


def test_redactor_leaves_64_kb_without_secrets_untouched() -> None:
    """A large output with no secret in it comes back byte for byte (its speed is measured
    in benchmarks/render_and_redact.py)."""
    text = ("GET /api/v1/items?page=3 HTTP/1.1 200 0.0123s user=alice\n" * 1200)[: 64 * 1024]
    redactor = Redactor({"A": SECRET, "B": API_KEY, "C": "hunter2-hunter2"})
    assert redactor.text(text) == text



def test_a_very_short_secret_is_warned_about(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    """A one-letter placeholder secret would mask every such letter in the output: the run
    says so on stderr (once), and the value stays masked."""
    monkeypatch.setenv("TINY_SECRET", "q")
    project.runbook(
        "tiny",
        """
        kind: runbook
        name: tiny
        secrets: [TINY_SECRET]
        sections: [{name: S, steps: [{name: Echo, check: shell, with: {command: "echo quiet"}}]}]
    """,
    )
    result = project.cli("run", "tiny")
    assert result.err.count("warning: secret TINY_SECRET is only 1 character(s) long") == 1
    assert "quiet" not in result.out
