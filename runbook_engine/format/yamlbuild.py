"""Builds LineDict/LineList straight from the parser's events, within fixed resource limits.

PyYAML's composer and constructor recurse once per nesting level and copy an alias's
whole subtree on every use, so a 1 KB "billion laughs" file or 10,000 nested brackets
exhaust memory or the stack before anything can be checked. Here the document is built
from the event stream with an explicit stack: the nesting depth is checked as each list
or mapping opens, and the size an alias would add is known (anchored values count their
nodes as they close) before it is copied, so a hostile file is refused after reading
only as far as the offending line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.events import (
    AliasEvent,
    DocumentEndEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
    StreamStartEvent,
)
from yaml.nodes import ScalarNode

from runbook_engine.format.lines import LineDict, LineList, copy_lines, show_key

# Documented in docs/format.md ("Limits"). A runbook nests about eight levels deep; the
# depth limit also keeps every later recursive walk (templates, reports) far from
# Python's recursion limit.
MAX_DEPTH = 64
# Values produced by aliases (`*name`), counted in nodes (each scalar, list or mapping is
# one). Reusing a 5-key `<<: *defaults` on 10,000 steps stays well below it.
MAX_ALIAS_NODES = 100_000
# Values in one file, aliases' included: bounds the time and memory a file within the size
# limit can take (16 MB of `[1,1,1...` took 21 s and 180 MB). A 20,000-step runbook has
# about 130,000.
MAX_NODES = 1_000_000

_CORE = "tag:yaml.org,2002:"
# YAML 1.2 core schema for plain scalars: true/false, null, ints and floats. No dates, no
# yes/no/on/off (they stay text). Groups: 1 true, 2 false, 3 null, 4 int, 5 float.
_PLAIN = re.compile(
    r"(?:(true|True|TRUE)|(false|False|FALSE)|(~|null|Null|NULL|)|([-+]?[0-9]+)"
    r"|([-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?))\Z"
)
_SCALAR_TAGS = {f"{_CORE}{t}" for t in ("str", "int", "float", "bool", "null")}


class YamlLimit(Exception):
    """A problem found while building: (line, key path, message); the reader adds the file."""

    def __init__(self, line: int, key: str, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.key = key
        self.message = message


@dataclass
class _Frame:
    """A list or mapping still open, and what its next event belongs to."""

    node: LineDict | LineList
    anchor: str | None
    part: str | int | None  # where this node sits in its parent (for key paths)
    is_map: bool
    size: int = 1
    key: str | None = None  # mapping: the key whose value comes next
    key_line: int = 0
    expecting_key: bool = True
    merge_key: bool = False  # the pending key is a plain `<<`
    merges: list[tuple[int, Any]] = field(default_factory=list)  # (line, value) of `<<:` entries


def show_tag(tag: str) -> str:
    return "!!" + tag.removeprefix(_CORE) if tag.startswith(_CORE) else tag


class Builder:
    """Consumes a parser's events and returns the single document (None when empty)."""

    def __init__(self, parser: Any, construct: Any) -> None:
        self.parser = parser
        self.construct = construct  # SafeConstructor + resolver, for scalar values
        self.stack: list[_Frame] = []
        self.anchors: dict[str, tuple[Any, int]] = {}
        self.alias_nodes = 0
        self.nodes = 0
        self.duplicates: list[tuple[int, str, int]] = []

    # -- the event loop ---------------------------------------------------------------

    def document(self) -> Any:
        parser = self.parser
        event = parser.get_event()
        if not isinstance(event, StreamStartEvent):  # pragma: no cover - parser contract
            raise YamlLimit(1, "", "invalid YAML stream")
        if isinstance(parser.peek_event(), StreamEndEvent):
            parser.get_event()
            return None
        parser.get_event()  # DocumentStartEvent
        result: list[Any] = []
        stack = self.stack
        get = parser.get_event
        # One loop with the common cases first: this is most of the time `validate` takes.
        while True:
            event = get()
            kind = event.__class__
            if kind is ScalarEvent:
                line = event.start_mark.line + 1
                if stack and stack[-1].is_map and stack[-1].expecting_key:
                    self._key(event, line)
                else:
                    self._value(event, line, result)
            elif kind is MappingEndEvent or kind is SequenceEndEvent:
                frame = stack[-1]
                value = self._merged(frame) if frame.merges else frame.node
                stack.pop()
                if frame.anchor is not None:
                    self.anchors[frame.anchor] = (value, frame.size)
                self._add(value, frame.size, frame.node.line, result)
            elif kind is MappingStartEvent or kind is SequenceStartEvent:
                self._open(event, event.start_mark.line + 1, kind is MappingStartEvent)
            elif kind is AliasEvent:
                self._alias(event, event.start_mark.line + 1, result)
            elif kind is DocumentEndEvent:
                break
        nxt = parser.peek_event()
        if isinstance(nxt, DocumentStartEvent):
            raise SecondDocument(nxt.start_mark.line + 1 if nxt.start_mark else 0)
        return result[0] if result else None

    def _value(self, event: Any, line: int, result: list[Any]) -> None:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise self._too_many(line)
        self._add(self._scalar(event, line), 1, line, result)

    def _wants_key(self) -> bool:
        top = self.stack[-1]
        return top.is_map and top.expecting_key

    # -- nodes ------------------------------------------------------------------------

    def _open(self, event: Any, line: int, mapping: bool) -> None:
        if self.stack and self._wants_key():
            raise YamlLimit(
                line,
                self.path(),
                f"a key is a {'mapping' if mapping else 'list'} here (`? [a, b]` or `[a, b]: x`); "
                "keys are plain text: write the key as a quoted string",
            )
        allowed = f"{_CORE}{'map' if mapping else 'seq'}"
        if event.tag not in (None, "!", allowed):
            raise self._tag_error(event.tag, line)
        if len(self.stack) >= MAX_DEPTH:
            raise YamlLimit(
                line,
                self.path(limit=4),
                f"lists and mappings are nested more than {MAX_DEPTH} levels deep here (the limit); "
                "a runbook needs far fewer: flatten this value",
            )
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise self._too_many(line)
        node: LineDict | LineList
        if mapping:
            node = LineDict()
            node.key_lines = {}
        else:
            node = LineList()
            node.item_lines = []
        node.line = line
        self.stack.append(_Frame(node, event.anchor, self._part(), mapping))

    def _part(self) -> str | int | None:
        if not self.stack:
            return None
        top = self.stack[-1]
        return top.key if isinstance(top.node, LineDict) else len(top.node)

    def _key(self, event: ScalarEvent, line: int) -> None:
        top = self.stack[-1]
        if event.tag not in (None, "!", f"{_CORE}str"):
            raise self._tag_error(event.tag, line, key=True)
        key = event.value
        if "{{" in key or "{%" in key:
            raise YamlLimit(
                line,
                self.path(),
                f"{key!r}: a key is used as written, templates are rendered in values only; "
                "put the template in the value",
            )
        if event.anchor is not None:
            self.anchors[event.anchor] = (key, 1)
        top.key, top.key_line, top.expecting_key = key, line, False
        top.merge_key = key == "<<" and event.tag is None and event.implicit[0]  # plain, not "<<"

    def _add(self, value: Any, size: int, line: int, result: list[Any]) -> None:
        if not self.stack:
            result.append(value)
            return
        top = self.stack[-1]
        top.size += size
        node = top.node
        if not top.is_map:
            assert isinstance(node, LineList)
            node.append(value)
            node.item_lines.append(line)
            return
        key = top.key
        assert key is not None and isinstance(node, LineDict)
        top.expecting_key = True
        if top.merge_key:
            top.merges.append((top.key_line, value))
        elif key in node:
            self.duplicates.append((top.key_line, key, node.key_lines[key]))
        else:
            node[key] = value
            node.key_lines[key] = top.key_line

    def _alias(self, event: AliasEvent, line: int, result: list[Any]) -> None:
        name = event.anchor
        if self.stack and self._wants_key():
            raise YamlLimit(line, self.path(), f"*{name} is used as a key; keys are plain text: write it out")
        if name not in self.anchors:
            if any(f.anchor == name for f in self.stack):
                raise YamlLimit(
                    line,
                    self.path(),
                    f"*{name} refers to the value that contains it (&{name} is not closed yet): "
                    "an alias cannot include itself",
                )
            raise YamlLimit(line, self.path(), f"unknown alias *{name}: define &{name} before using it")
        value, size = self.anchors[name]
        self.alias_nodes += size
        if self.alias_nodes > MAX_ALIAS_NODES:
            raise YamlLimit(
                line,
                self.path(),
                f"aliases (*name) expand to more than {MAX_ALIAS_NODES:,} values in this file (the limit); "
                "nested aliases multiply: write the values out or use fewer levels of aliases",
            )
        self.nodes += size
        if self.nodes > MAX_NODES:
            raise self._too_many(line)
        self._add(copy_lines(value), size, line, result)

    def _merged(self, frame: _Frame) -> LineDict:
        """`<<: *defaults` (or a list of them) first; the mapping's own keys win."""
        out = LineDict()
        out.line = frame.node.line
        out.key_lines = {}
        for line, value in frame.merges:
            sources = value if isinstance(value, LineList) else [value]
            for source in sources:
                if not isinstance(source, LineDict):
                    raise YamlLimit(
                        line,
                        self.path(more="<<"),
                        "`<<:` merges a mapping: write `<<: *name` where &name is a mapping",
                    )
                for k, v in source.items():
                    if k not in out:  # the first merged mapping wins (YAML's merge rule)
                        out[k] = v
                        out.key_lines[k] = source.key_lines.get(k, line)
        own = frame.node
        assert isinstance(own, LineDict)
        for k, v in own.items():
            out[k] = v
            out.key_lines[k] = own.key_lines[k]
        return out

    def _scalar(self, event: Any, line: int) -> Any:
        tag = event.tag
        value: Any = event.value
        if tag is None and event.implicit[0]:  # plain: YAML 1.2 core booleans, null, numbers
            match = _PLAIN.match(value)
            if match is not None:
                value = self._plain(match, value, line)
        elif tag is not None and tag != "!":
            value = self._tagged(event, tag, line)
        if event.anchor is not None:
            self.anchors[event.anchor] = (value, 1)
        return value

    def _plain(self, match: re.Match[str], text: str, line: int) -> Any:
        group = match.lastindex
        if group == 1:
            return True
        if group == 2:
            return False
        if group == 3:
            return None
        try:
            return int(text) if group == 4 else float(text)
        except ValueError:  # more digits than int() takes (4,300)
            raise YamlLimit(
                line,
                self.path(),
                f"a number of {len(text):,} digits is too long: quote it to keep it as text",
            ) from None

    def _tagged(self, event: Any, tag: str, line: int) -> Any:
        if tag not in _SCALAR_TAGS:
            raise self._tag_error(tag, line)
        node = ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style)
        try:
            return self.construct.construct_object(node, deep=True)
        except (ValueError, KeyError, yaml.YAMLError):
            raise YamlLimit(
                line,
                self.path(),
                f"{event.value[:40]!r} cannot be read as {show_tag(tag)}: remove {show_tag(tag)}",
            ) from None

    def _too_many(self, line: int) -> YamlLimit:
        return YamlLimit(
            line,
            self.path(limit=4),
            f"this file holds more than {MAX_NODES:,} values (the limit): split it into several files",
        )

    def _tag_error(self, tag: str | None, line: int, key: bool = False) -> YamlLimit:
        where = "on a key " if key else ""
        return YamlLimit(
            line,
            self.path(),
            f"the tag {show_tag(tag or '')} {where}is not supported: runbooks hold plain text, "
            "numbers, true/false, lists and mappings; remove the tag",
        )

    def path(self, limit: int = 0, more: str | None = None) -> str:
        """The key path of the node being read, e.g. sections[0].steps[2].with."""
        parts: list[str | int] = [f.part for f in self.stack[1:] if f.part is not None]
        if self.stack:
            top = self.stack[-1]
            if isinstance(top.node, LineDict) and not top.expecting_key and top.key is not None:
                parts.append(top.key)
            elif isinstance(top.node, LineList):
                parts.append(len(top.node))
        if more:
            parts.append(more)
        cut = bool(limit) and len(parts) > limit
        out = ""
        for part in parts[:limit] if cut else parts:
            out += f"[{part}]" if isinstance(part, int) else (f".{show_key(part)}" if out else show_key(part))
        return out + ("[...]" if cut else "")


class SecondDocument(Exception):
    """The stream holds a second document, starting at `line`."""

    def __init__(self, line: int) -> None:
        super().__init__(line)
        self.line = line
