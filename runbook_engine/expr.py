"""Templates and expressions in a Jinja2 sandbox, compiled once, evaluated over plain data.

`expect:` and `when:` are Jinja2 expressions (as in Ansible's `when:`); `{{ }}` templates
may appear in string values of `vars`, `with` and `manual`. Both run in Jinja's immutable
sandbox with StrictUndefined (no attribute tricks, no changing data, no silent blanks),
bounded in size and time (sandbox.py). Every refusal is an ExpressionError.
"""

from __future__ import annotations

import difflib
import functools
import math
import re
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, Undefined, UndefinedError, nodes
from jinja2.exceptions import SecurityError

from runbook_engine import sandbox
from runbook_engine.exprhints import ANSIBLE_FILTERS, ANSIBLE_TESTS, expression_hint, not_compiled
from runbook_engine.sandbox import (
    LimitedEnvironment,
    LimitError,
    bounded,
    check_static,
    refusal,
    render_stream,
)

ExpressionError = sandbox.ExpressionError  # defined beside the sandbox, which raises it too
ENV = LimitedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)

CONTEXT_ROOTS = ("vars", "env", "secrets", "event", "steps", "now")


class ExpressionData(dict[str, Any]):
    """The names an expression reads, and how to show a value in an explanation.

    `show` masks secrets (the run's redactor) before a value is turned into text and cut
    to length, so an explanation never carries a secret, not even half of one.
    """

    def __init__(self, data: Mapping[str, Any], show: Callable[[Any], Any] | None = None) -> None:
        super().__init__(data)
        self.show = show


def _syntax_message(exc: TemplateSyntaxError) -> str:
    # Jinja counts characters of the text it parsed, which is not what the person wrote.
    message = re.sub(r" at \d+$", "", exc.message or "")
    return f"invalid expression syntax: {message}"


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
    numbers: frozenset[float] = frozenset()  # the numbers written in it (see explain)

    def evaluate(self, data: Mapping[str, Any]) -> Any:
        try:
            return bounded(lambda: _defined(self._fn(**data)))
        except UndefinedError as exc:
            raise ExpressionError(f"{exc.message}") from None
        except (SecurityError, LimitError) as exc:
            raise refusal(exc) from None
        except Exception as exc:  # a TypeError from `1 < "a"`, a ZeroDivisionError...
            raise ExpressionError(f"{type(exc).__name__}: {exc}") from None

    def explain(self, data: Mapping[str, Any]) -> str:
        """`status == 200 -> status = 503`: the expression and every value it read."""
        show = data.show if isinstance(data, ExpressionData) else None
        found: list[tuple[NameUse, Any]] = []
        for use in self.uses:
            try:
                found.append((use, _value_of(use, data)))
            except LookupError:
                found.append((use, _UNDEFINED))
        # A value is shown rounded unless it would then read as a number it is compared
        # with: `ratio <= 0.5 -> ratio = 0.5` for 0.50001 would make no sense.
        compared = self.numbers | {
            float(v) for _, v in found if isinstance(v, int | float) and not isinstance(v, bool)
        }
        parts = []
        for use, value in found:
            if value is _UNDEFINED:
                parts.append(f"{use.text} is undefined")
            else:
                parts.append(f"{use.text} = {_short(show(value) if show else value, compared)}")
        return f"{self.source} -> {', '.join(parts)}" if parts else self.source


_UNDEFINED = object()


def _defined(value: Any) -> Any:
    """The value; an Undefined (`''|attr('__class__')`), even inside a list or mapping, fails
    here, inside the error handling, not later where a caller or plugin reads it."""
    if isinstance(value, Undefined):
        value._fail_with_undefined_error()
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            _defined(item)
    elif isinstance(value, dict):
        for item in value.values():
            _defined(item)
    return value


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


def _short(value: Any, compared: frozenset[float] | set[float] = frozenset(), limit: int = 120) -> str:
    text = display(value, compared)
    return text if len(text) <= limit else text[: limit - 3] + "..."


FLOAT_DECIMALS = 4


def display(value: Any, compared: frozenset[float] | set[float] = frozenset()) -> str:
    """repr, with floats rounded for reading: 13.58748459815979 shows as 13.5875.

    Only the text changes, never the value judged. A float that would round to a whole
    number (9.99999) or to one of the `compared` numbers keeps all its digits, so
    `value >= 10 -> value = 10` cannot appear.
    """
    if isinstance(value, float):
        return _float_text(value, compared)
    if isinstance(value, list | tuple) and any(isinstance(v, float | list | tuple | dict) for v in value):
        inner = ", ".join(display(v, compared) for v in value)
        if isinstance(value, tuple):
            return f"({inner},)" if len(value) == 1 else f"({inner})"
        return f"[{inner}]"
    if isinstance(value, dict) and any(isinstance(v, float | list | tuple | dict) for v in value.values()):
        return "{" + ", ".join(f"{k!r}: {display(v, compared)}" for k, v in value.items()) + "}"
    return repr(value)


def _float_text(value: float, compared: frozenset[float] | set[float] = frozenset()) -> str:
    if not math.isfinite(value) or value.is_integer() or abs(value) >= 1e15:
        return repr(value)
    if abs(value) >= 1:
        text = f"{value:.{FLOAT_DECIMALS}f}".rstrip("0").rstrip(".")
    else:
        text = f"{value:.{FLOAT_DECIMALS}g}"  # 0.0001235, 1.235e-07: small values keep their digits
    if float(text).is_integer() or float(text) in compared:
        return repr(value)  # 9.99999 would read as 10
    return text


@functools.lru_cache(maxsize=4096)  # runbooks repeat the same expressions; Expression is immutable
def compile_expression(source: str) -> Expression:
    """Compile once (at load time); raises ExpressionError on bad syntax."""
    src = source.strip()
    if src.startswith("{{") and src.endswith("}}"):
        src = src[2:-2].strip()  # people write `when: "{{ x }}"` out of Ansible habit
    try:
        tree = ENV.parse(f"{{{{ ({src}) }}}}")
        _check_filters_and_tests(tree)
        with warnings.catch_warnings():  # Python's SyntaxWarning on code Jinja wrote (`1[:3]`)
            warnings.simplefilter("error", SyntaxWarning)  # is an error of the expression
            fn = ENV.compile_expression(src, undefined_to_none=False)
        check_static(ENV, tree)
        return Expression(source.strip(), tuple(_name_uses(tree)), fn, _numbers(tree))
    except TemplateSyntaxError as exc:
        raise ExpressionError(_syntax_message(exc) + expression_hint(src)) from None
    except ExpressionError:
        raise
    except Exception as exc:
        raise not_compiled(exc) from None


def _numbers(tree: nodes.Node) -> frozenset[float]:
    found = set()
    for const in tree.find_all(nodes.Const):
        if isinstance(const.value, int | float) and not isinstance(const.value, bool):
            found |= {float(const.value), -float(const.value)}  # `-10` is Neg(Const(10))
    return frozenset(found)


def _check_filters_and_tests(tree: nodes.Node) -> None:
    """Reject an unknown filter or test now. Jinja2 itself only reports one inside an
    `{% if %}` when that branch runs, which would be in the middle of a run."""
    for node in tree.find_all((nodes.Filter, nodes.Test)):
        what, known, ansible = (
            ("filter", ENV.filters, ANSIBLE_FILTERS)
            if isinstance(node, nodes.Filter)
            else ("test", ENV.tests, ANSIBLE_TESTS)
        )
        if node.name in known:
            continue
        if node.name in ansible:
            twin = f" (Jinja2 has {ansible[node.name]!r})" if ansible[node.name] else ""
            hint = f"; it is an Ansible {what}, and only Jinja2's built-in {what}s are available{twin}"
            raise ExpressionError(f"unknown {what} {node.name!r}", hint)
        names = sorted(n for n in known if n.isidentifier())  # not the operator aliases `==`, `<`...
        close = suggest(node.name, names)
        if close:
            raise ExpressionError(f"unknown {what} {node.name!r}{close}")
        hint = f"; Jinja2's built-in {what}s are: {', '.join(names)}"
        raise ExpressionError(f"unknown {what} {node.name!r}", hint)


def template_uses(text: str) -> list[NameUse]:
    """The names a `{{ }}` template reads, after compiling it as a run will.

    Raises ExpressionError on bad syntax or an unknown filter or test, so `runbook
    validate` finds what would otherwise fail only when the step runs.
    """
    return list(_template_uses(text))


@functools.lru_cache(maxsize=4096)
def _template_uses(text: str) -> tuple[NameUse, ...]:
    try:
        tree = ENV.parse(text)
        _check_filters_and_tests(tree)
        check_static(ENV, tree)
        # Compiled here, cached for the run: the same functions render() uses.
        inner = _single_expression(text)
        with warnings.catch_warnings():  # as in compile_expression
            warnings.simplefilter("error", SyntaxWarning)
            _native(inner) if inner is not None else _template(text)
        return tuple(_name_uses(tree))
    except TemplateSyntaxError as exc:
        raise ExpressionError(_syntax_message(exc)) from None
    except ExpressionError:
        raise
    except Exception as exc:
        raise not_compiled(exc) from None


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


def render(value: Any, context: Mapping[str, Any], where: str = "") -> Any:
    """Render templates in strings, recursively; `"{{ x }}"` alone keeps x's type.

    `where` names the value (`with`); an error names the key inside it (`with.command: `)."""
    if isinstance(value, str):
        at = f"{where}: " if where else ""
        if not is_template(value):
            return value
        inner = _single_expression(value)
        try:
            if inner is not None:  # StrictUndefined only fails when used: _defined uses it
                return bounded(lambda: _defined(_native(inner)(**context)))
            return bounded(lambda: render_stream(_chunks(_template(value), context)))
        except TemplateSyntaxError as exc:
            raise ExpressionError(at + _syntax_message(exc)) from None
        except UndefinedError as exc:
            raise ExpressionError(f"{at}template {value!r}: {exc.message}") from None
        except (SecurityError, LimitError) as exc:
            raise refusal(exc, f"{at}template {value!r}: ") from None
        except Exception as exc:  # `1 + 'a'`, a filter given the wrong type...
            raise ExpressionError(f"{at}template {value!r}: {type(exc).__name__}: {exc}") from None
    if isinstance(value, Mapping):
        return {k: render(v, context, f"{where}.{k}" if where else "") for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, context, f"{where}[{i}]" if where else "") for i, v in enumerate(value)]
    return value


def _chunks(template: Any, context: Mapping[str, Any]) -> Iterator[str]:
    """A template's output pieces, as Template.render makes them (without joining them)."""
    chunks: Iterator[str] = template.root_render_func(template.new_context(dict(context)))
    return chunks


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
