"""Templates and expressions in a Jinja2 sandbox, compiled once, evaluated over plain data.

`expect:` and `when:` are Jinja2 expressions (as in Ansible's `when:`); `{{ }}` templates
may appear in string values of `vars`, `with` and `manual`. Both run in a
SandboxedEnvironment with StrictUndefined: no attribute tricks, no silent blanks.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, Undefined, UndefinedError, nodes
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

ENV = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)

CONTEXT_ROOTS = ("vars", "env", "secrets", "event", "steps", "now")


class ExpressionError(ValueError):
    """A template or expression that cannot be compiled or evaluated."""


def _syntax_message(exc: TemplateSyntaxError) -> str:
    return f"invalid expression syntax: {exc.message}"


def is_template(value: object) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


@dataclass(frozen=True)
class NameUse:
    """A name an expression reads: `status`, or a path into one, like `json.status`."""

    root: str
    path: tuple[str | int, ...]

    @property
    def text(self) -> str:
        out = self.root
        for part in self.path:
            out += f"[{part}]" if isinstance(part, int) else f".{part}"
        return out


def _name_uses(tree: nodes.Node) -> list[NameUse]:
    """The longest constant attribute/item chains rooted at a variable, in source order."""
    found: list[NameUse] = []
    seen: set[str] = set()

    def chain(node: nodes.Node) -> NameUse | None:
        if isinstance(node, nodes.Name):
            return NameUse(node.name, ())
        if isinstance(node, nodes.Getattr):
            inner = chain(node.node)
            return NameUse(inner.root, (*inner.path, node.attr)) if inner else None
        if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
            inner = chain(node.node)
            key = node.arg.value
            if inner and isinstance(key, str | int):
                return NameUse(inner.root, (*inner.path, key))
        return None

    def visit(node: nodes.Node) -> None:
        if isinstance(node, nodes.Call) and isinstance(node.node, nodes.Getattr):
            # `stdout.startswith('x')`: show stdout, not the method.
            for child in (node.node.node, *node.iter_child_nodes()):
                if child is not node.node:
                    visit(child)
            return
        use = chain(node) if isinstance(node, nodes.Name | nodes.Getattr | nodes.Getitem) else None
        if use is not None:
            if use.text not in seen:
                seen.add(use.text)
                found.append(use)
            return
        for child in node.iter_child_nodes():
            visit(child)

    visit(tree)
    return found


@dataclass(frozen=True)
class Expression:
    """A compiled expression with the names it reads (for explaining a failure)."""

    source: str
    uses: tuple[NameUse, ...]
    _fn: Callable[..., Any]

    def evaluate(self, data: Mapping[str, Any]) -> Any:
        try:
            return self._fn(**data)
        except UndefinedError as exc:
            raise ExpressionError(f"{exc.message}") from None
        except SecurityError as exc:
            raise ExpressionError(f"not allowed in the sandbox: {exc}") from None
        except Exception as exc:  # a TypeError from `1 < "a"`, a ZeroDivisionError...
            raise ExpressionError(f"{type(exc).__name__}: {exc}") from None

    def explain(self, data: Mapping[str, Any]) -> str:
        """`status == 200 -> status = 503`: the expression and every value it read."""
        parts = []
        for use in self.uses:
            try:
                value = _value_of(use, data)
                parts.append(f"{use.text} = {_short(value)}")
            except LookupError:
                parts.append(f"{use.text} is undefined")
        return f"{self.source} -> {', '.join(parts)}" if parts else self.source


def _value_of(use: NameUse, data: Mapping[str, Any]) -> Any:
    if use.root not in data:
        raise LookupError(use.root)
    value = data[use.root]
    for part in use.path:
        if isinstance(value, Mapping) and part in value:  # noqa: SIM114 (separate for the type checker)
            value = value[part]
        elif isinstance(value, list) and isinstance(part, int) and -len(value) <= part < len(value):
            value = value[part]
        else:
            raise LookupError(part)
    return value


def _short(value: Any, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


@functools.lru_cache(maxsize=4096)  # runbooks repeat the same expressions; Expression is immutable
def compile_expression(source: str) -> Expression:
    """Compile once (at load time); raises ExpressionError on bad syntax."""
    src = source.strip()
    if src.startswith("{{") and src.endswith("}}"):
        src = src[2:-2].strip()  # people write `when: "{{ x }}"` out of Ansible habit
    try:
        tree = ENV.parse(f"{{{{ ({src}) }}}}")
        fn = ENV.compile_expression(src, undefined_to_none=False)
    except TemplateSyntaxError as exc:
        raise ExpressionError(_syntax_message(exc)) from None
    return Expression(source.strip(), tuple(_name_uses(tree)), fn)


def template_uses(text: str) -> list[NameUse]:
    """The names a `{{ }}` template reads; raises ExpressionError on bad syntax."""
    return list(_template_uses(text))


@functools.lru_cache(maxsize=4096)
def _template_uses(text: str) -> tuple[NameUse, ...]:
    try:
        tree = ENV.parse(text)
    except TemplateSyntaxError as exc:
        raise ExpressionError(_syntax_message(exc)) from None
    return tuple(_name_uses(tree))


def _single_expression(text: str) -> str | None:
    """The inside of a string that is exactly one `{{ expr }}` (rendered to a native value)."""
    s = text.strip()
    if s.startswith("{{") and s.endswith("}}") and s.count("{{") == 1 and "{%" not in s:
        return s[2:-2].strip()
    return None


@functools.lru_cache(maxsize=4096)
def _native(source: str) -> Any:
    return ENV.compile_expression(source, undefined_to_none=False)


@functools.lru_cache(maxsize=4096)
def _template(text: str) -> Any:
    return ENV.from_string(text)


def render(value: Any, context: Mapping[str, Any]) -> Any:
    """Render templates in strings, recursively; `"{{ x }}"` alone keeps x's type."""
    if isinstance(value, str):
        if not is_template(value):
            return value
        inner = _single_expression(value)
        try:
            if inner is not None:
                result = _native(inner)(**context)
                if isinstance(result, Undefined):
                    result._fail_with_undefined_error()  # StrictUndefined only fails when used
                return result
            return _template(value).render(**context)
        except TemplateSyntaxError as exc:
            raise ExpressionError(_syntax_message(exc)) from None
        except UndefinedError as exc:
            raise ExpressionError(f"template {value!r}: {exc.message}") from None
        except SecurityError as exc:
            raise ExpressionError(f"template {value!r}: not allowed in the sandbox: {exc}") from None
        except Exception as exc:  # `1 + 'a'`, a filter given the wrong type...
            raise ExpressionError(f"template {value!r}: {type(exc).__name__}: {exc}") from None
    if isinstance(value, Mapping):
        return {k: render(v, context) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, context) for v in value]
    return value


def iter_strings(value: Any, loc: tuple[str | int, ...] = ()) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Every string inside nested data, with its location."""
    if isinstance(value, str):
        yield loc, value
    elif isinstance(value, Mapping):
        for k, v in value.items():
            yield from iter_strings(v, (*loc, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from iter_strings(v, (*loc, i))


def suggest(word: str, choices: list[str] | tuple[str, ...] | set[str]) -> str:
    """` (did you mean 'x'?)` or nothing."""
    close = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""
