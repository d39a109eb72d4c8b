"""Words for what went wrong in an expression: the usual mistakes behind a syntax error,
Ansible names that Jinja2 lacks, and compile failures that are mistakes, not bugs."""

from __future__ import annotations

import re

from jinja2 import UndefinedError

from runbook_engine.sandbox import ExpressionError


def not_compiled(exc: Exception) -> ExpressionError:
    """Jinja parses and compiles recursively: thousands of nested brackets exhaust Python's
    stack. Python refuses some code Jinja writes (`1[:3]`), and Jinja's constant folding
    can fail on what it folds (`1 ~ 1[0]`). Each is a mistake in the file."""
    if isinstance(exc, RecursionError):
        return ExpressionError("nested too deeply (brackets, operators or filters); split it into vars")
    if isinstance(exc, SyntaxError):
        return ExpressionError(f"invalid expression: {exc.msg}")
    if isinstance(exc, UndefinedError):
        return ExpressionError(f"{exc.message}")
    return ExpressionError(f"{type(exc).__name__}: {exc}")


def expression_hint(src: str) -> str:
    """The usual mistakes behind a syntax error, in words (Jinja names tokens, e.g. "expected
    token ')'" for a parenthesis the person never wrote: we wrap the expression in one)."""
    if re.search(r"(?<![=!<>])=(?!=)", src):
        return "; to compare, write == (a single = assigns)"
    if re.search(r"&&|\|\||(?<![=!])!(?!=)", src):
        return "; write and / or / not (expressions are Jinja2, not shell or C)"
    if src.count("(") != src.count(")") or src.count("[") != src.count("]"):
        return "; a parenthesis or bracket is not closed"
    if ")" not in src:
        return "; is something missing after the last operator, or between two words?"
    return ""


# Well-known names people bring from Ansible, which Jinja2 alone does not have; a few
# have a built-in twin. Checked before "did you mean": `b64encode` is not `urlencode`.
ANSIBLE_FILTERS = {
    "regex_search": "", "regex_replace": "", "regex_findall": "", "regex_escape": "",
    "to_json": "tojson", "to_nice_json": "tojson(indent=2)", "from_json": "", "to_yaml": "",
    "to_nice_yaml": "", "from_yaml": "", "b64encode": "", "b64decode": "", "bool": "",
    "ternary": "", "combine": "", "dict2items": "", "items2dict": "", "json_query": "",
    "hash": "", "password_hash": "", "basename": "", "dirname": "", "quote": "",
    "mandatory": "", "flatten": "", "zip": "", "splitext": "", "to_datetime": "",
    "strftime": "", "difference": "", "intersect": "", "union": "", "product": "",
}  # fmt: skip
ANSIBLE_TESTS = {
    "match": "", "search": "", "regex": "", "version": "", "success": "", "succeeded": "",
    "failed": "", "changed": "", "file": "", "directory": "", "exists": "", "subset": "",
    "superset": "", "contains": "", "any": "", "all": "", "truthy": "", "falsy": "",
}  # fmt: skip
