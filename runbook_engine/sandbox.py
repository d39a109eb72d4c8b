"""The Jinja2 environment expressions and templates run in: immutable, and bounded.

Jinja's ImmutableSandboxedEnvironment refuses attribute tricks (`__class__`) and every
method that changes a list, dict or set (`vars.update(...)`). On top of it, three bounds,
so no expression can exhaust memory or hang a run:

- Size: no string, list, range or other collection made by an operator, filter, call,
  `~` or template output may hold more than MAX_SIZE characters or items, and one
  evaluation may make at most MAX_TOTAL in all. Operations that could allocate a huge
  result in one step (`'a' * 10**10`, `x.center(10**9)`, `'%*d' % (10**9, 1)`, `join`)
  are checked *before* they run, from their arguments; the rest after.
- Integers: at most MAX_INT_BITS bits (`10**10**10` is refused before it is computed).
- Time: an evaluation that runs longer than TIME_LIMIT seconds (a loop in a template)
  is interrupted by the watchdog thread (watchdog.py), between two bytecode instructions;
  no single instruction runs long, because the size bounds keep every C-level step small.

Every refusal becomes an ExpressionError, with a hint on what to do instead.
"""

from __future__ import annotations

import copy
import functools
import itertools
import math
import re
import string
import threading
import warnings
from collections.abc import Callable, Iterator, Sized
from typing import Any

from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import Namespace

from runbook_engine.watchdog import Timeout, with_deadline

MAX_SIZE = 1_000_000  # characters or items in one value
MAX_TOTAL = 10_000_000  # characters or items made by one evaluation, in all
MAX_INT_BITS = 4096  # about 1,200 decimal digits
TIME_LIMIT = 2.0  # seconds for one evaluation


class ExpressionError(ValueError):
    """A template or expression that cannot be compiled or evaluated.

    `hint` is kept apart so a load error can quote the text before it:
    `unknown filter 'x' in "{{ a | x }}"; Jinja2's built-in filters are: ...`.
    """

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message + hint)
        self.message = message
        self.hint = hint


class LimitError(Exception):
    """An expression or template went past one of the bounds above."""


LIMIT_HINT = "; expressions and templates are bounded (docs/limits.md): make large data in a step"
SANDBOX_HINT = "; expressions read values: Python internals and changing data are out of reach"


def refusal(exc: Exception, prefix: str = "") -> ExpressionError:
    """A sandbox refusal or a limit, as the ExpressionError a user sees."""
    if isinstance(exc, LimitError):
        return ExpressionError(f"{prefix}over a limit: {exc}", LIMIT_HINT)
    return ExpressionError(f"{prefix}not allowed in the sandbox: {str(exc).rstrip('.')}", SANDBOX_HINT)


_local = threading.local()


def _budget_add(size: int) -> None:
    spent = getattr(_local, "spent", None)
    if spent is None:  # outside a bounded evaluation (constant folding at compile time)
        return
    _local.spent = spent + size
    if _local.spent > MAX_TOTAL:
        raise LimitError(f"the expression makes more than {MAX_TOTAL:,} characters or items in all")


def _check_size(size: int, what: str = "a value") -> None:
    if size > MAX_SIZE:
        raise LimitError(f"{what} of {size:,} characters or items is over the limit of {MAX_SIZE:,}")


def checked(value: Any) -> Any:
    """The value, after checking its size (and counting it against the evaluation's total)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        if value.bit_length() > MAX_INT_BITS:
            raise LimitError(f"a number of {value.bit_length():,} bits is over the limit of {MAX_INT_BITS:,}")
        return value
    if isinstance(value, str | bytes | list | tuple | dict | set | frozenset | range):
        _check_size(len(value))
        _budget_add(len(value))
    return value


def _length(value: Any) -> int | None:
    return len(value) if isinstance(value, str | bytes | list | tuple | range) else None


def _check_binop(op: str, left: Any, right: Any) -> None:
    """Refuse, from the operands, an operation whose result would be too big to make."""
    if op == "*":
        for seq, count in ((left, right), (right, left)):
            if _length(seq) is not None and isinstance(count, int):
                _check_size(_length(seq) * max(count, 0), "a repetition")  # type: ignore[operator]
        if isinstance(left, int) and isinstance(right, int):
            _check_bits(left.bit_length() + right.bit_length())
    elif op == "**" and isinstance(left, int) and isinstance(right, int) and right > 0 and abs(left) > 1:
        _check_bits(math.ceil(right * math.log2(abs(left))))
    elif op == "%" and isinstance(left, str):
        _check_printf(left, right)


def _check_bits(bits: int) -> None:
    if bits > MAX_INT_BITS:
        raise LimitError(f"a number of about {bits:,} bits is over the limit of {MAX_INT_BITS:,}")


_PRINTF = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?([a-zA-Z%])")


def _check_printf(fmt: str, values: Any) -> None:
    """`'%*d' % (10**9, 1)` or `'%.999999999f'`: widths and precisions, before formatting."""
    args = list(values) if isinstance(values, tuple) else [values]
    estimate = len(fmt)
    for match in _PRINTF.finditer(fmt):
        for part in match.group(1, 2):
            if part == "*":
                width = args.pop(0) if args else 0
                estimate += abs(width) if isinstance(width, int) else 0
            elif part:
                estimate += int(part)
        if match.group(3) != "%" and args and not isinstance(values, dict):
            estimate += len(str(args.pop(0)))
    _check_size(estimate, "a formatted text")


def _check_str_format(fmt: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """`'{:>999999999}'.format(1)` and nested widths `'{:{}}'.format(1, 10**9)`."""
    estimate = len(fmt)
    for _, _, spec, _ in string.Formatter().parse(fmt):
        if spec:
            estimate += sum(int(d) for d in re.findall(r"\d+", spec))
            if "{" in spec:  # a width given as an argument: any number passed may be it
                estimate += sum(abs(v) for v in (*args, *kwargs.values()) if isinstance(v, int))
    estimate += sum(len(str(v)) for v in (*args, *kwargs.values()) if _length(v) is not None)
    _check_size(estimate, "a formatted text")


def _check_join(items: list[Any], sep: str) -> None:
    total = sum(len(x) if isinstance(x, str) else len(str(x)) for x in items)
    _check_size(total + len(sep) * max(len(items) - 1, 0), "a joined text")


_STR_WIDTH_METHODS = {"center", "ljust", "rjust", "zfill"}


def _check_method(obj: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    """Methods of str that can grow a string far past its arguments' sizes."""
    owner = getattr(obj, "__self__", None)
    name = getattr(obj, "__name__", "")
    if not isinstance(owner, str):
        return args
    if name in _STR_WIDTH_METHODS and args and isinstance(args[0], int):
        _check_size(args[0], "a padded text")
    elif name == "expandtabs":
        size = args[0] if args and isinstance(args[0], int) else kwargs.get("tabsize", 8)
        _check_size(len(owner) + owner.count("\t") * max(int(size), 0), "a text with tabs expanded")
    elif name == "replace" and len(args) >= 2 and isinstance(args[0], str) and isinstance(args[1], str):
        count = owner.count(args[0]) if args[0] else len(owner) + 1
        _check_size(len(owner) + count * len(args[1]), "a replaced text")
    elif name == "join" and args:
        items = list(args[0])
        _check_join(items, str(owner))
        return (items, *args[1:])
    return args


def _check_filter(name: str, value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Filters that can grow a value far past their arguments' sizes; returns the value to use
    (an iterator is read once here, into a list, and that list is filtered)."""
    if name == "center":
        width = args[0] if args else kwargs.get("width", 80)
        _check_size(width if isinstance(width, int) else 0, "a centred text")
    elif name == "indent":
        width = args[0] if args else kwargs.get("width", 4)
        per_line = width if isinstance(width, int) else len(str(width))
        _check_size(len(str(value)) + (str(value).count("\n") + 1) * per_line, "an indented text")
    elif name == "format":
        _check_printf(str(value), kwargs or tuple(args))
    elif name == "replace" and len(args) >= 2:
        text, old, new = str(value), str(args[0]), str(args[1])
        count = text.count(old) if old else len(text) + 1
        _check_size(len(text) + count * len(new), "a replaced text")
    elif name == "wordwrap":
        wrap = kwargs.get("wrapstring") or (args[2] if len(args) > 2 else "\n")
        _check_size(len(str(value)) * (1 + len(str(wrap))), "a wrapped text")
    elif name == "tojson":
        indent = kwargs.get("indent", args[0] if args else None)
        if isinstance(indent, int) and indent > 32:
            raise LimitError(f"tojson indent {indent} is over the limit of 32")
    elif name in ("join", "sum") and not isinstance(value, str | Sized):
        value = list(itertools.islice(value, MAX_SIZE + 1))
        _check_size(len(value), "a sequence")
    if name == "join" and isinstance(value, list | tuple):
        _check_join(list(value), str(args[0] if args else kwargs.get("d", "")))
    elif name == "sum" and isinstance(value, list | tuple):
        _check_size(sum(_length(v) or 0 for v in value), "a sum of sequences")
    return value


def _limited_filter(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    passes = getattr(fn, "jinja_pass_arg", None) is not None  # first argument: context/environment

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        head, rest = (args[:1], args[1:]) if passes else ((), args)
        if rest:
            rest = (_check_filter(name, rest[0], rest[1:], kwargs), *rest[1:])
        return checked(fn(*head, *rest, **kwargs))

    return run


def _range(*args: int) -> range:
    """range(), refused past MAX_SIZE items (Jinja's sandbox stops at 100,000, with a
    message that names its own constant)."""
    return checked(range(*args))  # type: ignore[no-any-return]


class _LimitedCodeGenerator(CodeGenerator):
    """`a ~ b` is compiled to a call the environment checks (Jinja joins it directly)."""

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.limited_concat((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class LimitedEnvironment(ImmutableSandboxedEnvironment):
    """The immutable sandbox, with every operator, call and filter result size-checked."""

    code_generator_class = _LimitedCodeGenerator
    intercepted_binops = frozenset({"+", "-", "*", "/", "//", "%", "**"})

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.filters = {name: _limited_filter(name, fn) for name, fn in self.filters.items()}
        self.globals = {"range": _range, "dict": dict, "namespace": Namespace}  # no lipsum(10**6)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        _check_binop(operator, left, right)
        return checked(super().call_binop(context, operator, left, right))

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        args = _check_method(__obj, args, kwargs)
        return checked(super().call(__context, __obj, *args, **kwargs))

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        fmt = value.__self__
        inner = wrapped

        def run(*args: Any, **kwargs: Any) -> str:
            mapping = args[0] if value.__name__ == "format_map" and args else kwargs
            _check_str_format(fmt, args if value.__name__ == "format" else (), dict(mapping))
            return checked(inner(*args, **kwargs))  # type: ignore[no-any-return]

        return run

    def limited_concat(self, parts: tuple[Any, ...]) -> str:
        texts = [str(p) for p in parts]
        size = sum(map(len, texts))
        _check_size(size, "a joined text")
        _budget_add(size)
        return "".join(texts)


def render_stream(chunks: Iterator[str]) -> str:
    """A template's output, checked chunk by chunk (a loop may yield many small ones)."""
    out: list[str] = []
    size = 0
    for chunk in chunks:
        size += len(chunk)
        _check_size(size, "the rendered text")
        out.append(chunk)
    return "".join(out)


def bounded(fn: Callable[[], Any]) -> Any:
    """fn(), with the size budget and the time limit; LimitError when it goes past either."""
    if getattr(_local, "spent", None) is not None:  # already inside one: its bounds hold
        return fn()
    _local.spent = 0
    try:
        try:
            return with_deadline(fn, TIME_LIMIT)
        finally:
            _local.spent = None
    except Timeout:
        _local.spent = None  # the timeout may have arrived before the line above ran
        raise LimitError(f"the evaluation took longer than {TIME_LIMIT:g} s and was stopped") from None


_GLOBALS = frozenset({"range", "dict", "namespace"})
# Methods that change a list, dict or set in place: the sandbox refuses each at run time,
# whatever it is called on, so a call is refused when the file loads.
MUTATORS = frozenset(
    {"append", "extend", "insert", "remove", "pop", "popitem", "clear", "update", "setdefault", "add"}
    | {"discard", "sort", "reverse", "difference_update", "intersection_update", "appendleft"}
    | {"symmetric_difference_update", "extendleft", "popleft", "rotate", "__setitem__", "__delitem__"}
)
_OPERATIONS = (
    nodes.BinExpr, nodes.UnaryExpr, nodes.Filter, nodes.Test, nodes.Call,
    nodes.Concat, nodes.Getattr, nodes.Getitem,
)  # fmt: skip


def static_parts(tree: nodes.Node) -> Iterator[nodes.Expr]:
    """The largest operations that read no variable (`'a' * 10**10`), to evaluate at load."""
    for node in tree.iter_child_nodes():
        names = [n.name for n in node.find_all(nodes.Name)]
        if isinstance(node, nodes.Name):
            continue
        if isinstance(node, _OPERATIONS) and not set(names) - _GLOBALS and _complete(node):
            yield node
        else:
            yield from static_parts(node)


def _complete(node: nodes.Node) -> bool:
    # A filter of a `{% filter %}` block has no value of its own to filter.
    filters = (node, *node.find_all(nodes.Filter))
    return not any(isinstance(n, nodes.Filter) and n.node is None for n in filters)


def check_static(env: LimitedEnvironment, tree: nodes.Node) -> None:
    """Evaluate each static part now, so a limit or a sandbox refusal is reported by
    `validate` with its file and line (as an ExpressionError), not in the middle of a run.
    Other failures (`1/0`) are left to the run, which names the step."""
    from jinja2.environment import TemplateExpression
    from jinja2.exceptions import SecurityError

    for call in tree.find_all(nodes.Call):
        if isinstance(call.node, nodes.Getattr) and call.node.attr in MUTATORS:
            raise ExpressionError(
                f"{call.node.attr}() would change data; expressions and templates only read it",
                "; make a new value instead (`x + [1]`, `dict(x, k=1)`) or set it in a var",
            )
    for part in static_parts(tree):
        body = [nodes.Assign(nodes.Name("result", "store"), copy.deepcopy(part), lineno=1)]
        try:
            with warnings.catch_warnings():  # a SyntaxWarning is reported when the whole compiles
                warnings.simplefilter("ignore", SyntaxWarning)
                template = env.from_string(nodes.Template(body, lineno=1))
            value = bounded(TemplateExpression(template, False))
            fail = getattr(value, "_fail_with_undefined_error", None)
            if fail is not None:
                fail()
        except (LimitError, SecurityError) as exc:
            raise refusal(exc) from None
        except Exception:  # noqa: S112 (reported when the step runs, with the step's name)
            continue
