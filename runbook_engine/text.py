"""Values as one line of text, the same way in the console and in reports."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

VALUE_CHARS = 120


def short(value: Any, limit: int = VALUE_CHARS) -> str:
    """One line, at most `limit` characters: strings as they are, data as compact JSON."""
    text = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
    text = " ".join(text.split()) if isinstance(value, str) else text
    return text if len(text) <= limit else text[: limit - 1] + "…"


def args_line(args: Mapping[str, Any]) -> str:
    """A step's rendered `with:` as `key=value, key=value` (secrets already masked)."""
    return short(", ".join(f"{k}={short(v, 80)}" for k, v in args.items()), 240)


def counted(n: int, word: str) -> str:
    """'1 runbook', '2 runbooks', '7 contingencies', '3 days'."""
    consonant_y = word.endswith("y") and word[-2:-1] not in ("a", "e", "i", "o", "u")
    plural = word[:-1] + "ies" if consonant_y else word + "s"
    return f"{n} {word if n == 1 else plural}"
