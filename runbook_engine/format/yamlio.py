"""The only YAML reader: keeps a line for every node, rejects duplicate keys, strict scalars.

PyYAML's default resolver turns `on`/`no` into booleans and `2026-12-01` into dates.
Runbooks are read by people, so we resolve only the YAML 1.2 core forms of booleans,
numbers and null, and keep everything else a string. Every mapping and sequence we
return remembers the line of each of its keys/items so that validation errors can
point at `file:line`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from runbook_engine.errors import LoadError, Problem, display_path


class LineDict(dict[str, Any]):
    """A mapping that knows the line of itself and of each key (1-based)."""

    line: int = 0
    key_lines: dict[str, int]


class LineList(list[Any]):
    """A sequence that knows the line of itself and of each item (1-based)."""

    line: int = 0
    item_lines: list[int]


class _StrictResolver(yaml.resolver.BaseResolver):
    pass


# YAML 1.2 core schema: true/false, null, ints and floats. No dates, no yes/no/on/off.
# `<<: *defaults` merges a mapping (PyYAML's constructor does the merging).
_StrictResolver.add_implicit_resolver("tag:yaml.org,2002:merge", re.compile(r"^(?:<<)$"), ["<"])
_StrictResolver.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_StrictResolver.add_implicit_resolver(
    "tag:yaml.org,2002:null", re.compile(r"^(?:~|null|Null|NULL|)$"), ["~", "n", "N", ""]
)
_StrictResolver.add_implicit_resolver(
    "tag:yaml.org,2002:int", re.compile(r"^[-+]?[0-9]+$"), list("-+0123456789")
)
_StrictResolver.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$"),
    list("-+0123456789."),
)


if yaml.__with_libyaml__:
    # libyaml parses about ten times faster; marks (lines) and our resolver work the same.
    CParser: Any = yaml.cyaml.CParser  # type: ignore[attr-defined]  # libyaml binding, untyped

    class _LineLoader(CParser, yaml.constructor.SafeConstructor, _StrictResolver):  # type: ignore[misc]
        def __init__(self, stream: str) -> None:
            CParser.__init__(self, stream)
            yaml.constructor.SafeConstructor.__init__(self)
            _StrictResolver.__init__(self)
            self.duplicates: list[tuple[int, str]] = []

        def dispose(self) -> None:
            pass

else:  # pragma: no cover - PyYAML built without libyaml

    class _LineLoader(  # type: ignore[no-redef]
        yaml.reader.Reader,
        yaml.scanner.Scanner,
        yaml.parser.Parser,
        yaml.composer.Composer,
        yaml.constructor.SafeConstructor,
        _StrictResolver,
    ):
        def __init__(self, stream: str) -> None:
            yaml.reader.Reader.__init__(self, stream)
            yaml.scanner.Scanner.__init__(self)
            yaml.parser.Parser.__init__(self)
            yaml.composer.Composer.__init__(self)
            yaml.constructor.SafeConstructor.__init__(self)
            _StrictResolver.__init__(self)
            self.duplicates: list[tuple[int, str]] = []


class _Builder:
    """Turns composed nodes into LineDict/LineList, noting duplicate keys."""

    def __init__(self, loader: _LineLoader) -> None:
        self.loader = loader
        self.duplicates = loader.duplicates

    def construct_document(self, node: Node) -> Any:
        return self._build(node)

    def flatten_mapping(self, node: MappingNode) -> None:
        self.loader.flatten_mapping(node)

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        return self.loader.construct_object(node, deep=deep)

    def _build(self, node: Node) -> Any:
        if isinstance(node, MappingNode):
            out = LineDict()
            out.line = node.start_mark.line + 1
            out.key_lines = {}
            own = {id(k) for k, _ in node.value}
            self.flatten_mapping(node)  # `<<: *x` pairs come first; the mapping's own keys win
            merged: set[str] = set()
            for key_node, value_node in node.value:
                key = self._build(key_node)
                if not isinstance(key, str):
                    key = str(key)
                if id(key_node) not in own:
                    merged.add(key)
                elif key in out and key not in merged:
                    self.duplicates.append((key_node.start_mark.line + 1, key))
                    continue
                else:
                    merged.discard(key)
                out[key] = self._build(value_node)
                out.key_lines[key] = key_node.start_mark.line + 1
            return out
        if isinstance(node, SequenceNode):
            items = LineList()
            items.line = node.start_mark.line + 1
            items.item_lines = []
            for child in node.value:
                items.append(self._build(child))
                items.item_lines.append(child.start_mark.line + 1)
            return items
        if isinstance(node, ScalarNode):
            return self.construct_object(node, deep=True)
        raise ConstructorError(None, None, f"unsupported YAML node {node.tag}", node.start_mark)


def load_yaml(path: Path) -> Any:
    """Read one YAML document; a syntax error or duplicate key raises LoadError with the line."""
    shown = display_path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LoadError([Problem(shown, 0, "", f"cannot read file: {exc}")]) from None
    return load_yaml_text(text, shown)


def load_yaml_text(text: str, shown: str) -> Any:
    loader = _LineLoader(text)
    try:
        node = loader.get_single_node()  # None for an empty file
        data = _Builder(loader).construct_document(node) if node is not None else None
    except yaml.composer.ComposerError as exc:
        if exc.problem != "but found another document" or exc.problem_mark is None:
            raise LoadError([_yaml_problem(exc, shown, text)]) from None
        line = exc.problem_mark.line + 1
        raise LoadError([Problem(shown, line, "", _second_document(text, line))]) from None
    except yaml.MarkedYAMLError as exc:
        raise LoadError([_yaml_problem(exc, shown, text)]) from None
    except yaml.YAMLError as exc:
        raise LoadError([Problem(shown, 0, "", f"invalid YAML: {exc}")]) from None
    finally:
        loader.dispose()
    if loader.duplicates:
        raise LoadError(
            [
                Problem(shown, line, key, "duplicate key (each key may appear once in a mapping)")
                for line, key in loader.duplicates
            ]
        )
    return data


def _yaml_problem(exc: yaml.MarkedYAMLError, shown: str, text: str = "") -> Problem:
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark else 0
    what = exc.problem or str(exc)
    if exc.context and exc.context_mark and exc.context_mark is not mark:
        what += f" {exc.context} (which starts on line {exc.context_mark.line + 1})"
    lines = text.splitlines()
    hint = _hint(what, lines[line - 1] if 0 < line <= len(lines) else "")
    return Problem(shown, line, "", f"invalid YAML: {what}" + (f"; {hint}" if hint else ""))


def _hint(problem: str, line: str) -> str:
    """What usually causes libyaml's message, in words (it names tokens, not mistakes)."""
    if "\t" in line[: len(line) - len(line.lstrip())] or problem.startswith("found character '\\t'"):
        return "this line is indented with a tab: YAML indents with spaces only"
    if problem.startswith("found character that cannot start any token"):
        return "a value starting with a character such as @ or ` must be quoted"
    if "while scanning a quoted scalar" in problem:
        return "a quote is opened there and never closed"
    if problem.startswith("did not find expected '-' indicator"):
        return "this line is indented differently from the list items above it: line it up"
    if problem.startswith(("did not find expected key", "mapping values are not allowed here")):
        return (
            "check this line's indentation against the lines above; a value that contains "
            "': ' or starts with a quote must be quoted as a whole, e.g. expect: \"'x: y' in stdout\""
        )
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
