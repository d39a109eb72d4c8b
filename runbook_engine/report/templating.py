"""The Jinja2 environment for report templates shipped in the package."""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from runbook_engine.durations import format_duration


def _ts(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S %Z").strip() if value else "-"


def _md_cell(value: Any) -> str:
    """Text safe inside a Markdown table cell."""
    return str(value if value is not None else "").replace("|", "\\|").replace("\n", " ")


@functools.cache
def template_env() -> Environment:
    env = Environment(
        loader=PackageLoader("runbook_engine", "report/templates"),
        # select_autoescape matches on the final extension only: list *.html.j2 explicitly.
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
    env.filters["cell"] = _md_cell
    return env
