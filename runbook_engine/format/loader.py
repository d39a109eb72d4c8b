"""Files -> validated documents. Every problem is mapped back to `file:line: key: message`.

Loading is all-or-nothing: a library with any problem raises one LoadError listing
every problem in every file, sorted, so a person fixes them in one pass.
"""

from __future__ import annotations

import hashlib
import os
import re
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from runbook_engine.errors import LoadError, Problem, display_path
from runbook_engine.expr import is_template, iter_strings, suggest
from runbook_engine.format.library import Library, Loaded, key_path
from runbook_engine.format.spec import KINDS, Contingency
from runbook_engine.format.yamlio import LineDict, LineList, line_of, load_yaml
from runbook_engine.registry import Registry, build_registry

DEFAULT_DIR = "runbooks"


def runbook_dir(given: str | Path | None = None) -> Path:
    return Path(given or os.environ.get("RUNBOOK_DIR") or DEFAULT_DIR)


def discover(paths: list[Path]) -> list[Path]:
    """YAML files under the given files and folders, each once, in a stable order."""
    found: dict[Path, Path] = {}
    for p in paths:
        candidates = sorted([*p.rglob("*.yaml"), *p.rglob("*.yml")]) if p.is_dir() else [p]
        for c in candidates:
            found.setdefault(c.resolve(), c)
    return list(found.values())


def load_library(root: Path, extra: list[Path] | None = None, registry: Registry | None = None) -> Library:
    """Load and validate every document under root (and extra files); raise LoadError on any problem."""
    if not root.is_dir() and not extra:
        raise LoadError(
            [Problem(str(root), 0, "", "runbook directory not found; pass --dir or set RUNBOOK_DIR")]
        )
    reg = registry or build_registry(root.resolve().parent)
    lib = Library(root=root, registry=reg)
    problems: list[Problem] = []
    files = discover([p for p in [root, *(extra or [])] if p.exists()])
    for missing in (p for p in extra or [] if not p.exists()):
        problems.append(Problem(str(missing), 0, "", "no such file or folder"))
    for path in files:
        try:
            _load_file(path, lib, problems)
        except LoadError as exc:
            problems.extend(exc.problems)
    from runbook_engine.format.semantics import check_library  # lazy: only after the shapes load

    # Cross-file references are only judged when every file loaded: a contingency with a
    # typo must not also be reported as "unknown" from every runbook naming it.
    problems.extend(check_library(lib, cross_file=not problems))
    if problems:
        raise LoadError(problems)
    return lib


def _load_file(path: Path, lib: Library, problems: list[Problem]) -> None:
    shown = display_path(path)
    raw = load_yaml(path)
    if not isinstance(raw, LineDict):
        found = "the file is empty" if raw is None else f"this file holds {describe(raw)}"
        problems.append(
            Problem(
                shown,
                getattr(raw, "line", 1) or 1,
                "",
                f"{found}; a runbook file is a mapping with kind: and name: at the top",
            )
        )
        return
    kind = raw.get("kind")
    # Judged before anything assumes it is text: `kind: [runbook]` is a list (unhashable).
    if not isinstance(kind, str) or kind not in KINDS:
        if isinstance(kind, str) and kind:
            what = f"unknown kind {short_repr(kind)}{suggest(kind, list(KINDS))}"
        elif kind is None or kind == "":
            what = "is missing"
        else:
            what = f"{describe(kind)} is not a kind"
        problems.append(
            Problem(
                shown,
                raw.key_lines.get("kind", raw.line),
                "kind",
                f"{what}; use one of runbook, contingency, environment",
            )
        )
        return
    model = KINDS[kind]
    before = len(problems)
    problems.extend(_step_shape_problems(raw, shown, lib.registry))
    try:
        doc = model.model_validate(dict(raw))
    except ValidationError as exc:
        problems.extend(pydantic_problems(exc, raw, shown, model))
        return
    if len(problems) > before:
        return
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    tables: dict[str, dict[str, Any]] = {
        "runbook": lib.runbooks,
        "contingency": lib.contingencies,
        "environment": lib.environments,
    }
    table = tables[kind]
    if doc.name in table:
        problems.append(
            Problem(
                shown,
                raw.key_lines.get("name", 1),
                "name",
                f"{kind} {doc.name!r} is also defined in {table[doc.name].shown}; "
                "names must be unique per kind",
            )
        )
        return
    table[doc.name] = Loaded(doc, path, sha, raw)


def step_locations(raw: Any) -> list[tuple[tuple[str | int, ...], Any]]:
    """Where steps live in a raw document: sections[i].steps[j] and contingency phases."""
    out: list[tuple[tuple[str | int, ...], Any]] = []
    if not isinstance(raw, dict):
        return out
    sections = raw.get("sections")
    if isinstance(sections, list):
        for i, sec in enumerate(sections):
            steps = sec.get("steps") if isinstance(sec, dict) else None
            if isinstance(steps, list):
                out.extend((("sections", i, "steps", j), s) for j, s in enumerate(steps))
    for phase in Contingency.PHASES:
        steps = raw.get(phase)
        if isinstance(steps, list):
            out.extend(((phase, j), s) for j, s in enumerate(steps))
    return out


def _step_shape_problems(raw: Any, shown: str, registry: Registry) -> list[Problem]:
    """Step rules checked on raw data, so they are reported alongside the model's field errors:
    one kind per step, a known plugin of the right kind, and the plugin's own `with:` model."""
    problems = []
    for loc, step in step_locations(raw):
        if not isinstance(step, dict):
            continue
        kinds = [k for k in ("check", "action", "manual") if k in step]
        if len(kinds) != 1:
            found = " and ".join(kinds) if kinds else "none of them"
            problems.append(
                Problem(
                    shown,
                    line_of(raw, loc),
                    key_path(loc),
                    f"a step has exactly one of check:, action: or manual: (found {found})",
                )
            )
            continue
        if kinds[0] != "manual":
            problems.extend(_plugin_problems(raw, shown, registry, loc, step, kinds[0]))
    return problems


def _plugin_problems(
    raw: Any, shown: str, registry: Registry, loc: tuple[str | int, ...], step: dict[str, Any], key: str
) -> list[Problem]:
    name = step.get(key)
    where = (*loc, key)
    if not isinstance(name, str):
        return []  # the model reports the wrong type
    info = registry.get(name)
    if info is None:
        return [
            Problem(
                shown,
                line_of(raw, where),
                key_path(where),
                f"unknown plugin {name!r}{suggest(name, registry.names())}; `runbook plugins` lists them",
            )
        ]
    problems = []
    if key not in info.kinds:
        other = "check" if key == "action" else "action"
        article = "an" if key == "action" else "a"
        problems.append(
            Problem(
                shown,
                line_of(raw, where),
                key_path(where),
                f"plugin {name!r} is not {article} {key} (write `{other}: {name}`)",
            )
        )
    args = step.get("with", {})
    if isinstance(args, dict):
        problems.extend(plugin_args_problems(raw, shown, info.spec, (*loc, "with"), args))
    return problems


def plugin_args_problems(
    raw: Any, shown: str, spec: type[BaseModel], loc: tuple[str | int, ...], args: dict[str, Any]
) -> list[Problem]:
    """A plugin's `with:` checked by its own model; templated values wait until run time."""
    try:
        spec.model_validate(args)
    except ValidationError as exc:
        templated = {sub for sub, text in iter_strings(args) if is_template(text)}
        kept = []
        for err in exc.errors():
            eloc = tuple(err["loc"])
            # A templated value's type is known only once rendered: judged at run time.
            # An unknown key is wrong whatever its value (`urll: "{{ ... }}"`).
            if err["type"] != "extra_forbidden" and any(eloc[: len(t)] == t for t in templated):
                continue
            # A whole-model rule (e.g. "url must start with http://") may be looking
            # at an unrendered template too.
            if not eloc and templated:
                continue
            kept.append(err)
        if kept:
            filtered = ValidationError.from_exception_data(exc.title, kept)  # type: ignore[arg-type]
            return pydantic_problems(filtered, raw, shown, spec, prefix=loc)
    return []


def _model_at(model: type[BaseModel], loc: tuple[str | int, ...]) -> type[BaseModel] | None:
    """The Pydantic model that validates the mapping at `loc` (for 'did you mean')."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        fields = {f.alias or n: f for n, f in current.model_fields.items()}
        if part not in fields:
            return None
        current = _unwrap(fields[part].annotation)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap(annotation: Any) -> Any:
    """list[X] -> X, X | None -> X, Annotated[X, ...] -> X."""
    while True:
        origin = typing.get_origin(annotation)
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if origin in (list, typing.Union, types.UnionType, typing.Annotated) and args:
            annotation = args[0]
        else:
            return annotation


def field_names(model: type[BaseModel]) -> list[str]:
    return [f.alias or n for n, f in model.model_fields.items()]


def pydantic_problems(
    exc: ValidationError, raw: Any, shown: str, model: type[BaseModel], prefix: tuple[str | int, ...] = ()
) -> list[Problem]:
    """Pydantic errors as one Problem each, with a line, a key path and a helpful message."""
    problems = []
    errors = exc.errors()
    # "urll: unknown key (did you mean 'url'?)" already says what "url: missing" would.
    suggested = set()
    for err in errors:
        if err["type"] == "extra_forbidden":
            parent = _model_at(model, tuple(err["loc"])[:-1])
            hint = suggest(str(err["loc"][-1]), field_names(parent)) if parent else ""
            if hint:
                suggested.add((*tuple(err["loc"])[:-1], hint.split("'")[1]))
    for err in errors:
        if err["type"] == "missing" and tuple(err["loc"]) in suggested:
            continue
        loc = tuple(err["loc"])
        full = (*prefix, *loc)
        line = line_of(raw, full)
        problems.append(Problem(shown, line, key_path(full), _message(err, loc, model)))
    return problems


def _message(err: Any, loc: tuple[str | int, ...], model: type[BaseModel]) -> str:
    """One Pydantic error in the format's words, with what to do about it."""
    kind: str = err["type"]
    msg: str = err["msg"]
    got = f"(got {describe(err.get('input'))})"
    if kind == "extra_forbidden":
        parent = _model_at(model, loc[:-1])
        allowed = field_names(parent) if parent else []
        msg = f"unknown key{suggest(str(loc[-1]), allowed)}"
        if allowed and not suggest(str(loc[-1]), allowed):
            msg += f"; allowed keys: {', '.join(sorted(allowed))}"
    elif kind == "missing":
        msg = f"required key is missing: add `{loc[-1]}:`" if loc else "required key is missing"
    elif kind == "value_error":
        msg = msg.removeprefix("Value error, ")
    elif kind in _SHOULD_BE:
        msg = f"should be {_SHOULD_BE[kind]} {got}"
    elif kind == "too_short":
        msg = f"is empty: give at least {err.get('ctx', {}).get('min_length', 1)} item"
    elif kind in _BOUNDS:
        word, bound = _BOUNDS[kind]
        limit = err.get("ctx", {}).get(bound)
        shown = f"{limit:g}" if isinstance(limit, float) else str(limit)
        msg = f"should be {word} {shown} {got}"
    elif kind == "literal_error" or kind.endswith(("_type", "_parsing")):
        msg = f"{msg.removeprefix('Input ')} {got}"
    elif kind == "string_pattern_mismatch" and loc and loc[-1] == "id":
        msg = f"use letters, digits, - and _, starting with a letter or digit {got}"
    elif kind == "string_pattern_mismatch" and loc and loc[-1] == "name":
        given = str(err.get("input", ""))
        fixed = re.sub(r"[^a-z0-9]+", "-", given.lower()).strip("-") or "t-minus-2h"
        msg = f"use lowercase letters, digits and dashes (got {short_repr(given)}; e.g. {short_repr(fixed)})"
    return msg


# Pydantic's words ("Input should be a valid dictionary") in the format's own terms.
_SHOULD_BE = {
    "dict_type": "a mapping (key: value lines)",
    "model_type": "a mapping (key: value lines)",
    "list_type": "a list",
    "string_type": "text",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
}
_BOUNDS = {
    "greater_than": ("more than", "gt"),
    "greater_than_equal": ("at least", "ge"),
    "less_than": ("less than", "lt"),
    "less_than_equal": ("at most", "le"),
}


def describe(value: Any) -> str:
    """A user's value in an error message: its kind for lists and mappings, else a short repr."""
    if isinstance(value, LineDict | dict):
        return "a mapping"
    if isinstance(value, LineList | list):
        return "a list"
    if isinstance(value, float):
        return f"{value:g}"
    return short_repr(value)


def short_repr(value: Any, limit: int = 60) -> str:
    """repr() cut to `limit` characters: a 10 MB value must not become a 10 MB error line."""
    text = repr(value)
    if len(text) <= limit:
        return text
    return text[: limit - 4] + "..." + (text[0] if text[0] in "'\"" else "")
