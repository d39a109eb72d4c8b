"""Secret masking speed on realistic output: 64 KB of shell output, 100 secrets.

Masking runs on every output and message of every step, so its cost is paid per step.
The text mixes log lines, JSON, hex ids, base64 blobs, timestamps and paths (what shell
steps print), with no secret in it (nearly all text), and the same text with 20 secrets
and derived forms (a reversed secret, a 12-character prefix, a spaced-out one) sprinkled in.

Baseline: `str.replace` of the raw values only (the least any masking must do). With
`--before REV`, the redactor of that git revision is measured in the same run too.

    .venv/bin/python benchmarks/redact_speed.py [--before 48336c2]
"""

from __future__ import annotations

import base64
import hashlib
import random
import subprocess
import sys
import time
import types
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from runbook_engine.redact import Redactor  # noqa: E402  (after sys.path)

SIZE = 64 * 1024


def secrets(count: int = 100) -> dict[str, str]:
    rng = random.Random(7)
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"
    out = {}
    for i in range(count):
        length = rng.choice((12, 16, 20, 24, 32, 40, 64))
        out[f"S{i}"] = "".join(rng.choice(alphabet) for _ in range(length))
    return out


def shell_output(seed: int = 1) -> str:
    rng = random.Random(seed)
    lines = []
    while sum(len(line) + 1 for line in lines) < SIZE:
        n = rng.randrange(6)
        ts = f"2026-12-02T09:{rng.randrange(60):02d}:{rng.randrange(60):02d}.{rng.randrange(1000):03d}Z"
        digest = hashlib.sha256(str(rng.random()).encode()).hexdigest()
        if n == 0:
            page = rng.randrange(99)
            lines.append(f"{ts} INFO  request id={digest[:16]} GET /api/v1/items?page={page} 200")
        elif n == 1:
            latency = f"{rng.random():.4f}"
            lines.append(f'{{"ts": "{ts}", "level": "debug", "user": "alice", "latency_ms": {latency}}}')
        elif n == 2:
            lines.append(f"commit {digest[:40]} Merge branch 'feature/partition-{rng.randrange(999)}'")
        elif n == 3:
            lines.append(base64.b64encode(digest.encode()).decode())
        elif n == 4:
            day = rng.randrange(1, 9)
            lines.append(f"/var/lib/k2/warehouse/events/date=2026-12-0{day}/part-{digest[:8]}.parquet")
        else:
            port = rng.randrange(1024, 65535)
            lines.append(f"{ts} WARN  retrying connection to 127.0.0.1:{port} (attempt {n})")
    return "\n".join(lines)[:SIZE]


def with_secrets(text: str, values: list[str]) -> str:
    rng = random.Random(3)
    parts = text.split("\n")
    for i, secret in enumerate(values[:20]):
        form = (secret, secret[::-1], secret[:12], " ".join(secret), secret.upper())[i % 5]
        j = rng.randrange(len(parts))
        parts[j] = f"{parts[j]} token={form}"
    return "\n".join(parts)


def best_ms(fn: Callable[[], object], repeat: int = 7) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times) * 1000


def redactor_of(revision: str) -> type:
    """The Redactor class as it was at a git revision (redact.py then imported only the stdlib)."""
    show = ["git", "show", f"{revision}:runbook_engine/redact.py"]
    source = subprocess.run(show, cwd=ROOT, capture_output=True, text=True, check=True).stdout
    module = types.ModuleType(f"redact_{revision}")
    sys.modules[module.__name__] = module  # dataclasses look their module up
    exec(compile(source, f"redact.py@{revision}", "exec"), module.__dict__)
    return module.Redactor  # type: ignore[no-any-return]


def main() -> None:
    if "--before" in sys.argv:
        revision = sys.argv[sys.argv.index("--before") + 1]
        print(f"== redactor at {revision}")
        measure(redactor_of(revision))
        print("== redactor now")
    measure(Redactor)


def measure(redactor_class: type) -> None:
    values = secrets()
    clean = shell_output()
    dirty = with_secrets(clean, list(values.values()))
    start = time.perf_counter()
    redactor = redactor_class(values)
    redactor.text("warm")
    built = (time.perf_counter() - start) * 1000

    def replace_only(text: str) -> str:
        for value in values.values():
            text = text.replace(value, "***")
        return text

    print(f"masking {len(clean) // 1024} KB of shell output, {len(values)} secrets, best of 7")
    short = clean[:300]
    rows = [
        ("building the redactor (once per set of secrets)", built, "ms"),
        ("str.replace of raw values, clean text (baseline)", best_ms(lambda: replace_only(clean)), "ms"),
        ("redactor, clean text", best_ms(lambda: redactor.text(clean)), "ms"),
        ("redactor, text with 20 secrets/derived forms", best_ms(lambda: redactor.text(dirty)), "ms"),
        ("redactor, a 300-character message", best_ms(lambda: redactor.text(short)) * 1000, "us"),
    ]
    for label, value, unit in rows:
        print(f"  {label:<50} {value:8.2f} {unit}")
    masked = redactor.text(dirty).lower()
    shown = [s for s in values.values() if any(s.lower()[i : i + 8] in masked for i in range(len(s) - 7))]
    spaced = [s for s in values.values() if " ".join(s.lower()[:8]) in masked]
    print(f"  secrets with 8 characters in a row left visible: {len(shown)} of {len(values)}")
    print(f"  secrets left visible spaced out: {len(spaced)} of {len(values)}")


if __name__ == "__main__":
    main()
