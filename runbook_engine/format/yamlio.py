"""The only YAML reader: keeps a line for every node, rejects duplicate keys, strict scalars.

PyYAML's default resolver turns `on`/`no` into booleans and `2026-12-01` into dates.
Runbooks are read by people, so we resolve only the YAML 1.2 core forms of booleans,
numbers and null (yamlbuild._PLAIN), and keep everything else a string. Every mapping and sequence we
return remembers the line of each of its keys/items so that validation errors can
point at `file:line`.

The document is built from the parser's events by yamlbuild, which enforces the limits
on nesting depth and alias expansion; textcheck refuses bytes that are not UTF-8 YAML
text. Every refusal is one `file:line: message` line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from runbook_engine.errors import LoadError, Problem, display_path
from runbook_engine.format.lines import LineDict, LineList
from runbook_engine.format.textcheck import BAD_CHAR, MAX_FILE_BYTES, bad_char, decode
from runbook_engine.format.yamlbuild import (
    MAX_ALIAS_NODES,
    MAX_DEPTH,
    MAX_NODES,
    Builder,
    SecondDocument,
    YamlLimit,
)

__all__ = [
    "MAX_ALIAS_NODES",
    "MAX_DEPTH",
    "MAX_FILE_BYTES",
    "MAX_NODES",
    "LineDict",
    "LineList",
    "line_of",
    "load_yaml",
]


if yaml.__with_libyaml__:
    # libyaml parses about ten times faster; marks (lines) and our resolver work the same.
    CParser: Any = yaml.cyaml.CParser  # type: ignore[attr-defined]  # libyaml binding, untyped

    class _LineLoader(CParser, yaml.constructor.SafeConstructor):  # type: ignore[misc]
        def __init__(self, stream: str) -> None:
            CParser.__init__(self, stream)
            yaml.constructor.SafeConstructor.__init__(self)

        def dispose(self) -> None:
            pass

else:  # pragma: no cover - PyYAML built without libyaml

    class _LineLoader(  # type: ignore[no-redef]
        yaml.reader.Reader,
        yaml.scanner.Scanner,
        yaml.parser.Parser,
        yaml.constructor.SafeConstructor,
    ):
        def __init__(self, stream: str) -> None:
            yaml.reader.Reader.__init__(self, stream)
            yaml.scanner.Scanner.__init__(self)
            yaml.parser.Parser.__init__(self)
            yaml.constructor.SafeConstructor.__init__(self)


def load_yaml(path: Path) -> Any:
    """Read one YAML document; a syntax error, a duplicate key or a limit raises LoadError with the line."""
    shown = display_path(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise LoadError(
                [
                    Problem(
                        shown,
                        1,
                        "",
                        f"the file is {size / 2**20:.1f} MB; a runbook file may be at most "
                        f"{MAX_FILE_BYTES // 2**20} MB (the limit): split it into several files",
                    )
                ]
            )
        data = path.read_bytes()
    except OSError as exc:
        raise LoadError([Problem(shown, 0, "", f"cannot read file: {exc.strerror or exc}")]) from None
    return load_yaml_text(decode(data, shown), shown)


def load_yaml_text(text: str, shown: str) -> Any:
    bad = BAD_CHAR.search(text)
    if bad:
        raise LoadError([bad_char(text, bad.start(), shown)])
    loader = _LineLoader(text)
    builder = Builder(loader, loader)
    try:
        data = builder.document()
    except YamlLimit as exc:
        raise LoadError([Problem(shown, exc.line, exc.key, exc.message)]) from None
    except SecondDocument as exc:
        raise LoadError([Problem(shown, exc.line, "", _second_document(text, exc.line))]) from None
    except yaml.MarkedYAMLError as exc:
        raise LoadError([_yaml_problem(exc, shown, text)]) from None
    except yaml.YAMLError as exc:  # pragma: no cover - libyaml's reader errors are caught above
        line = text.count("\n", 0, getattr(exc, "position", 0)) + 1
        raise LoadError([Problem(shown, line, "", f"invalid YAML: {_one_line(str(exc))}")]) from None
    finally:
        loader.dispose()
    if builder.duplicates:
        raise LoadError(
            [
                Problem(shown, line, key, f"duplicate key: also on line {first}; keep one of them")
                for line, key, first in builder.duplicates
            ]
        )
    return data


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _yaml_problem(exc: yaml.MarkedYAMLError, shown: str, text: str = "") -> Problem:
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark else 0
    what = exc.problem or str(exc)
    if exc.context and exc.context_mark and exc.context_mark is not mark:
        what += f" {exc.context} (which starts on line {exc.context_mark.line + 1})"
    lines = text.splitlines()
    hint = _hint(what, lines[line - 1] if 0 < line <= len(lines) else "")
    return Problem(shown, line, "", f"invalid YAML: {what}" + (f"; {hint}" if hint else ""))


_KEY_HINT = (
    "check this line's indentation against the lines above; a value that contains "
    "': ' or starts with a quote must be quoted as a whole, e.g. expect: \"'x: y' in stdout\""
)
# libyaml's message (its start) -> the usual mistake behind it, in words.
_HINTS = [
    (
        "found character that cannot start any token",
        "a value starting with a character such as @ or ` must be quoted",
    ),
    ("while scanning a quoted scalar", "a quote is opened there and never closed"),
    (
        "did not find expected ',' or ']'",
        "a list opened with [ is not closed with ] (or an item holding ', ' needs quotes)",
    ),
    (
        "did not find expected ',' or '}'",
        "a mapping opened with { is not closed with } (or a value holding ', ' needs quotes)",
    ),
    (
        "did not find expected '-' indicator",
        "this line is indented differently from the list items above it: line it up",
    ),
    ("did not find expected key", _KEY_HINT),
    ("mapping values are not allowed here", _KEY_HINT),
]


def _hint(problem: str, line: str) -> str:
    """What usually causes libyaml's message, in words (it names tokens, not mistakes)."""
    if "\t" in line[: len(line) - len(line.lstrip())] or problem.startswith("found character '\\t'"):
        return "this line is indented with a tab: YAML indents with spaces only"
    for start, hint in _HINTS:
        if problem.startswith(start) or (start.startswith("while") and start in problem):
            return hint
    return ""


def _second_document(text: str, line: int) -> str:
    """What to do about a second document; PyYAML only says `but found another document
    expected a single document in the stream`."""
    rest = text.splitlines()[line:]
    if all(not r.strip() or r.lstrip().startswith("#") for r in rest):
        return "a file holds one document; nothing follows this '---' line: remove it"
    return "a file holds one document; found a second one (a line '---'): split it into two files"


def line_of(data: Any, loc: tuple[int | str, ...]) -> int:
    """The line of the deepest node that `loc` reaches in data loaded by load_yaml."""
    line = getattr(data, "line", 0)
    node = data
    for part in loc:
        if isinstance(node, LineDict) and isinstance(part, str) and part in node:
            line = node.key_lines.get(part, line)
            node = node[part]
        elif isinstance(node, LineList) and isinstance(part, int) and 0 <= part < len(node):
            line = node.item_lines[part]
            node = node[part]
        else:
            break
    return line
