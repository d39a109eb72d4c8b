"""Durations as people write them in runbooks: 500ms, 30s, 5m, 2h, 1h30m, -2h."""

from __future__ import annotations

import math
import re

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_WHOLE = re.compile(r"^[-+]?(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+$")
# The longest duration a runbook file may hold (timeouts, budgets, offsets, gate windows).
# Without a bound `timeout: 99999999h` validated and then overflowed the clock at run time.
# Documented in docs/format.md ("Limits").
MAX_DURATION = 365 * 86400.0
# Any duration at all (command-line ages such as `history --since 400d` included).
_MAX_ANY = 100 * MAX_DURATION


def parse_duration(text: object) -> float:
    """Seconds for a duration string; ValueError with a hint for anything else."""
    return _bounded(text, _MAX_ANY, "36500d")


def parse_file_duration(text: object) -> float:
    """A duration in a runbook file: at most MAX_DURATION (365d) either way."""
    return _bounded(text, MAX_DURATION, "365d, the longest a runbook may hold")


def _bounded(text: object, limit: float, shown_limit: str) -> float:
    if isinstance(text, bool) or not isinstance(text, str | int | float):
        raise ValueError(f"expected a duration like 30s or 5m, got {_short(text)}")
    if isinstance(text, int | float):
        n = text if len(str(text)) <= 20 else 5
        raise ValueError(f"a duration needs a unit: write {n}s or {n}m, not {n}")
    s = text.strip().replace(" ", "")
    if not _WHOLE.match(s):
        raise ValueError(
            f"invalid duration {_short(text)}: use a number with a unit, like 500ms, 30s, 5m, 2h or 1h30m"
        )
    sign = -1.0 if s.startswith("-") else 1.0
    value = sign * sum(float(n) * _UNITS[u] for n, u in _PART.findall(s))
    if not math.isfinite(value) or abs(value) > limit:
        raise ValueError(f"duration {_short(text)} is longer than {shown_limit}: use a shorter one")
    return value


def _short(text: object) -> str:
    shown = repr(text)
    return shown if len(shown) <= 40 else shown[:36] + "...'"


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
