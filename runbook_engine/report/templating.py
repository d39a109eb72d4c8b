"""The Jinja2 environment for report templates shipped in the package."""

from __future__ import annotations

import functools
import re
from datetime import datetime
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from runbook_engine.format.durations import format_duration
from runbook_engine.report.view import clock, offset_label

# Markdown characters that could turn text into markup (or raw HTML), or end a table
# cell: escaped with a backslash. `_` only at a word edge, since CommonMark ignores it
# inside words (exit_code); `[`, `]` and `>` are left alone: without a link target or a
# line start they are plain text, and escaping them makes the raw file hard to read.
_MD_SPECIAL = re.compile(r"[\\`*<|]|(?<!\w)_|_(?!\w)")


def _ts(value: datetime | None) -> str:
    """2026-12-01 10:00:00 UTC, or with the offset the user gave: 2026-12-01 10:00:00 +01:00."""
    if value is None:
        return "-"
    offset = value.utcoffset()
    if offset is None:
        zone = ""
    elif not offset:
        zone = " UTC"
    else:
        zone = " " + value.isoformat()[-6:]
    return value.strftime("%Y-%m-%d %H:%M:%S") + zone


def md_text(value: Any) -> str:
    """Plain text that stays plain in Markdown: one line, markup characters escaped."""
    text = " ".join(str(value if value is not None else "").split())
    return _MD_SPECIAL.sub(lambda m: "\\" + m.group(0), text)


def md_code(value: Any, table: bool = False) -> str:
    """An inline code span that survives backticks in its content; in a table, pipes too."""
    text = " ".join(str(value if value is not None else "").split())
    if table:  # GFM splits cells before it parses code spans
        text = text.replace("|", "\\|")
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if longest or text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def md_block(value: Any, indent: int = 0) -> str:
    """A fenced code block (fence longer than any backtick run inside), indented for a list."""
    text = str(value if value is not None else "").rstrip("\n")
    longest = max((len(run) for run in re.findall(r"`{3,}", text)), default=2)
    fence = "`" * (longest + 1)
    pad = " " * indent
    lines = [fence + "text", *text.splitlines(), fence]
    return "\n".join(pad + ln if ln else ln for ln in lines)


@functools.cache
def template_env() -> Environment:
    env = Environment(
        loader=PackageLoader("runbook_engine", "report/templates"),
        # select_autoescape matches on the final extension only: list *.html.j2 explicitly.
        # CSS files included into <style> must not be escaped (entities are not decoded there).
        autoescape=select_autoescape(
            enabled_extensions=("html", "html.j2", "xml", "xml.j2"), default_for_string=False
        ),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["dur"] = format_duration
    env.filters["ts"] = _ts
    env.filters["clock"] = clock
    env.filters["offset"] = offset_label
    env.filters["cell"] = md_text
    env.filters["md"] = md_text
    env.filters["code"] = md_code
    env.filters["cellcode"] = lambda value: md_code(value, table=True)
    env.filters["block"] = md_block
    return env
