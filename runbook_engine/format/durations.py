"""Durations as people write them in runbooks: 500ms, 30s, 5m, 2h, 1h30m, -2h."""

from __future__ import annotations

import re

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_WHOLE = re.compile(r"^[-+]?(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+$")


def parse_duration(text: object) -> float:
    """Seconds for a duration string; ValueError with a hint for anything else."""
    if isinstance(text, bool) or not isinstance(text, str | int | float):
        raise ValueError(f"expected a duration like 30s or 5m, got {text!r}")
    if isinstance(text, int | float):
        raise ValueError(f"a duration needs a unit: write {text}s or {text}m, not {text}")
    s = text.strip().replace(" ", "")
    if not _WHOLE.match(s):
        raise ValueError(
            f"invalid duration {text!r}: use a number with a unit, like 500ms, 30s, 5m, 2h or 1h30m"
        )
    sign = -1.0 if s.startswith("-") else 1.0
    return sign * sum(float(n) * _UNITS[u] for n, u in _PART.findall(s))


def format_duration(seconds: float | None) -> str:
    """A short human form: 0.42s, 12.3s, 4m05s, 1h02m."""
    if seconds is None:
        return "-"
    sign = "-" if seconds < 0 else ""
    s = abs(seconds)
    if s < 10:
        return f"{sign}{s:.2f}s"
    if s < 60:
        return f"{sign}{s:.1f}s"
    if s < 3600:
        m, sec = divmod(round(s), 60)
        return f"{sign}{m}m{sec:02d}s"
    h, rest = divmod(round(s), 3600)
    return f"{sign}{h}h{rest // 60:02d}m"
