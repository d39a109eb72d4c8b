"""Costs paid at the end of every run: rendering reports, and masking secrets in output.

Reports: a 30-step journal from a real run rendered to each format (warm template cache,
best of 5), against the baseline of dumping the same journal as JSON.
Masking: 64 KB of step output with three secrets, by the shipped redactor (every form a
secret can take: escaped, URL-quoted, any case, base64), against the baseline of plain
`str.replace` of the raw values only (what masking cost before it covered those forms).

    .venv/bin/python benchmarks/render_and_redact.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from runbook_engine.execute.runner import Runner  # noqa: E402
from runbook_engine.format.loader import load_library  # noqa: E402
from runbook_engine.journal import RunJournal  # noqa: E402  (after sys.path)
from runbook_engine.redact import Redactor  # noqa: E402
from runbook_engine.report import RENDERERS  # noqa: E402

SECRETS = {"A": "s3cr3t-Value-with\\back", "B": "k2-local-dev-key", "C": "hunter2-hunter2"}


def best_ms(fn: Callable[[], object], repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times) * 1000


def thirty_step_journal() -> RunJournal:
    steps = "\n".join(
        f"      - {{name: Step {i}, check: shell, with: {{command: 'echo {i}'}}, "
        f"expect: \"'{i}' in stdout\"}}"
        for i in range(30)
    )
    with tempfile.TemporaryDirectory() as tmp:
        rb = Path(tmp) / "runbooks"
        rb.mkdir()
        (rb / "thirty.yaml").write_text(
            "kind: runbook\nname: thirty\nsections:\n"
            f"  - name: All\n    parallel: true\n    steps:\n{steps}\n"
        )
        return Runner(load_library(rb)).run("thirty")


def main() -> None:
    journal = thirty_step_journal()
    baseline = best_ms(journal.model_dump_json)
    print("30-step journal, best of 5 (warm)")
    print(f"  JSON dump (baseline)   {baseline:7.2f} ms")
    for ext in (".md", ".html", ".xml"):
        render = RENDERERS[ext]
        render(journal)  # warm the template cache
        print(f"  render {ext:<5}          {best_ms(lambda r=render: r(journal)):7.2f} ms")

    text = ("GET /api/v1/items?page=3 HTTP/1.1 200 0.0123s user=alice\n" * 1200)[: 64 * 1024]
    redactor = Redactor(SECRETS)
    redactor.text(text)  # the pattern is built once per set of secrets

    def replace_only() -> str:
        out = text
        for value in SECRETS.values():
            out = out.replace(value, "***")
        return out

    print("masking 64 KB with 3 secrets, best of 5")
    print(f"  str.replace of raw values (baseline)  {best_ms(replace_only):6.2f} ms")
    print(f"  shipped redactor (every form)         {best_ms(lambda: redactor.text(text)):6.2f} ms")


if __name__ == "__main__":
    main()
