"""Generators of hostile runbook documents, shared by the Hypothesis tests and benchmarks/fuzz_loader.py.

Three families: YAML-ish text (and raw bytes), random structures dumped as YAML around a
runbook's skeleton, and mutations of the real K2 runbooks in runbooks/.
"""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

import yaml

from runbook_engine.errors import LoadError, UserError

REPO = Path(__file__).resolve().parents[2]
K2_FILES = sorted((REPO / "runbooks").rglob("*.yaml"))

# The characters YAML gives meaning to, and a few that readers get wrong.
SPECIAL = [
    ":", "-", "[", "]", "{", "}", ",", "&a", "*a", "!", "!!python/object/apply:os.system", "|", ">",
    "#", "'", '"', "\t", "\x00", "\x1b", "\ufeff", "\n", "  ", "? ", "<<: *a", "{{ ", " }}", "{%",
    "---\n", "...\n", "%YAML 1.1\n", "\\", "\u2028", "\r", "9" * 50, "1e999", "99999999h",
]
KEYS = [
    "kind", "name", "sections", "steps", "check", "action", "manual", "with", "expect", "when",
    "needs", "timeout", "retry", "wait", "gate", "vars", "secrets", "on_no_go", "parallel", "id",
    "stable_for", "max_wait", "rto", "detect", "recover", "default", "secrets_file", "budget",
]


def mutate(text: str, rng: random.Random, rounds: int = 3) -> str:
    """A few random edits of a real runbook: deletions, insertions, swapped or doubled lines."""
    for _ in range(rounds):
        op = rng.randrange(6)
        pos = rng.randrange(len(text) + 1)
        if op == 0:
            text = text[:pos] + text[pos + rng.randrange(1, 40) :]
        elif op == 1:
            text = text[:pos] + rng.choice(SPECIAL) + text[pos:]
        elif op == 2:
            text = text[:pos] + rng.choice(KEYS) + rng.choice([": ", ":", ": [", ": {"]) + text[pos:]
        else:
            lines = text.split("\n")
            i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
            if op == 3:
                lines[i], lines[j] = lines[j], lines[i]
            elif op == 4:
                lines.insert(i, lines[j])
            else:
                lines[i] = " " * rng.randrange(0, 12) + lines[i].lstrip()
            text = "\n".join(lines)
    return text


def random_value(rng: random.Random, depth: int = 0) -> Any:
    """Scalars, lists and mappings, keyed with the format's own keys most of the time."""
    roll = rng.random()
    if depth > 4 or roll < 0.45:
        return rng.choice(
            [
                "runbook", "contingency", "environment", "shell", "http", "true", "5s", "-1h", "10m",
                "{{ vars.x }}", "{{ steps.a.stdout }}", "status == 200", "", "x" * rng.randrange(50),
                "line\nbreak", "{{ steps['a\nb'].c }}", "\t", "x" * 5000,
                0, -1, 2**70, 1.5, float("nan"), True, None,
            ]
        )
    if roll < 0.7:
        return [random_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {
        (rng.choice(KEYS) if rng.random() < 0.8 else str(random_value(rng, 5))): random_value(rng, depth + 1)
        for _ in range(rng.randrange(5))
    }


def random_document(rng: random.Random) -> str:
    """A runbook-shaped structure with random parts, as YAML text."""
    doc: dict[str, Any] = {
        "kind": rng.choice(["runbook", "contingency", "environment", ["runbook"], 3, None]),
        "name": rng.choice(["a", "A b", "x-1", 7, ""]),
    }
    for _ in range(rng.randrange(4)):
        doc[rng.choice(KEYS)] = random_value(rng)
    if rng.random() < 0.6:
        doc["sections"] = [
            {"name": "s", "parallel": rng.random() < 0.5, "steps": [random_value(rng, 1) for _ in range(3)]}
        ]
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=rng.choice([20, 80, 1000]))


def k2_mutation(rng: random.Random) -> str:
    text = rng.choice(K2_FILES).read_text(encoding="utf-8")
    return mutate(text, rng, rounds=rng.randrange(1, 5))


def random_text(rng: random.Random) -> str:
    return "".join(rng.choice([*SPECIAL, *KEYS, " ", "\n", "a", "1"]) for _ in range(rng.randrange(80)))


LINE = re.compile(r"^(?P<file>.+?):(?P<line>[1-9][0-9]*): \S")


def bad_lines(error: UserError, shown: str) -> list[str]:
    """The lines of a load error that do not start with `file:line: ` for the given file."""
    text = error.render() if isinstance(error, LoadError) else str(error)
    return [ln for ln in text.split("\n") if not (LINE.match(ln) and ln.startswith(f"{shown}:"))]
