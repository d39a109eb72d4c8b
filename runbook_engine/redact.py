"""Secret masking: applied once, where the runner builds the journal and events."""

from __future__ import annotations

from typing import Any

MASK = "***"
MAX_TEXT = 4000
MAX_ITEMS = 50


class Redactor:
    """Replaces every secret value in strings, recursively; also trims large data."""

    def __init__(self, secrets: dict[str, str] | None = None) -> None:
        # Longest first, so a secret containing another is masked whole. Very short
        # values would mask ordinary text everywhere; they are still masked.
        self._values = sorted({v for v in (secrets or {}).values() if v}, key=len, reverse=True)

    def text(self, value: str) -> str:
        for secret in self._values:
            value = value.replace(secret, MASK)
        return value

    def data(self, value: Any, trim: bool = False) -> Any:
        if isinstance(value, str):
            out = self.text(value)
            if trim and len(out) > MAX_TEXT:
                out = out[:MAX_TEXT] + f"... [{len(out) - MAX_TEXT} more characters]"
            return out
        if isinstance(value, dict):
            return {self.text(str(k)): self.data(v, trim) for k, v in value.items()}
        if isinstance(value, list | tuple):
            items = [self.data(v, trim) for v in value]
            if trim and len(items) > MAX_ITEMS:
                items = [*items[:MAX_ITEMS], f"... [{len(items) - MAX_ITEMS} more items]"]
            return items
        return value
