"""Mappings and lists that remember their lines, as the YAML reader returns them."""

from __future__ import annotations

from typing import Any


class LineDict(dict[str, Any]):
    """A mapping that knows the line of itself and of each key (1-based)."""

    line: int = 0
    key_lines: dict[str, int]


class LineList(list[Any]):
    """A sequence that knows the line of itself and of each item (1-based)."""

    line: int = 0
    item_lines: list[int]


def show_key(key: str) -> str:
    """A key as a key path shows it: as written when printable, else quoted and cut, so that
    a key holding a newline (or 10 KB) cannot break the one-line-per-problem output."""
    if key.isprintable() and len(key) <= 60:
        return key
    shown = repr(key)
    return shown if len(shown) <= 60 else shown[:56] + "...'"


def copy_lines(value: Any) -> Any:
    """An alias's own copy, with its lines (iterative, so deep values cannot hit recursion)."""
    if not isinstance(value, LineDict | LineList):
        return value
    root = _shell(value)
    todo: list[tuple[Any, Any]] = [(value, root)]
    while todo:
        src, dst = todo.pop()
        pairs: Any = src.items() if isinstance(src, LineDict) else enumerate(src)
        for k, v in pairs:
            child = _shell(v) if isinstance(v, LineDict | LineList) else v
            if isinstance(dst, LineDict):
                dst[k] = child
            else:
                dst.append(child)
            if child is not v:
                todo.append((v, child))
    return root


def _shell(value: LineDict | LineList) -> LineDict | LineList:
    out: LineDict | LineList
    if isinstance(value, LineDict):
        out = LineDict()
        out.key_lines = dict(value.key_lines)
    else:
        out = LineList()
        out.item_lines = list(value.item_lines)
    out.line = value.line
    return out
