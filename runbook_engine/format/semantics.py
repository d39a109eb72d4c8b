"""Checks that need more than one node: plugin arguments, expressions, template names, ids.

Runs after every file has the right shape, so it can look across files (a runbook's
`on_no_go` names contingencies defined elsewhere).
"""

from __future__ import annotations

import re
from collections.abc import Container, Iterable
from collections.abc import Set as AbstractSet

from runbook_engine.errors import Problem
from runbook_engine.expr import (
    Expression,
    ExpressionError,
    NameUse,
    compile_expression,
    is_template,
    iter_strings,
    suggest,
    template_uses,
)
from runbook_engine.format.library import Library, Loaded, key_path
from runbook_engine.format.lines import show_key
from runbook_engine.format.spec import Contingency, Runbook, Step
from runbook_engine.format.yamlio import line_of

Loc = tuple[str | int, ...]
_NONE: frozenset[str] = frozenset()
_LONG_LIST = 200
_SUGGESTIONS = 20


class _Visible:
    """The step ids a step may read: earlier steps and its parallel section, not itself.

    A view rather than a new set per step, which cost time in proportion to the steps so far.
    """

    def __init__(self, seen: set[str], section: AbstractSet[str], own: str) -> None:
        self.seen, self.section, self.own = seen, section, own

    def __contains__(self, sid: object) -> bool:
        return sid != self.own and (sid in self.seen or sid in self.section)


class _DocChecker:
    def __init__(self, lib: Library, loaded: Loaded[Runbook] | Loaded[Contingency], cross_file: bool) -> None:
        self.cross_file = cross_file
        self.lib = lib
        self.loaded = loaded
        self.doc = loaded.doc
        self.problems: list[Problem] = []
        self.env_keys = {k for e in lib.environments.values() for k in e.doc.vars}
        self.all_ids: set[str] = set()
        self.long_suggestions = 0

    def _suggest(self, word: str, choices: Iterable[str]) -> str:
        """"(did you mean ...?)", within a budget: each suggestion compares the word with every
        choice, so 20,000 unknown ids among 20,000 steps took minutes. After 20 suggestions
        from long lists the rest go without one."""
        options = list(choices)
        if len(options) > _LONG_LIST:
            self.long_suggestions += 1
            if self.long_suggestions > _SUGGESTIONS:
                return ""
        return suggest(word, options)

    def add(self, loc: Loc, message: str) -> None:
        self.problems.append(
            Problem(self.loaded.shown, line_of(self.loaded.raw, loc), key_path(loc), message)
        )

    def steps(self) -> list[tuple[Loc, Step, int | None]]:
        """(location, step, index of its parallel section or None) in run order."""
        out: list[tuple[Loc, Step, int | None]] = []
        if isinstance(self.doc, Runbook):
            for i, sec in enumerate(self.doc.sections):
                for j, step in enumerate(sec.steps):
                    out.append((("sections", i, "steps", j), step, i if sec.parallel else None))
        else:
            for phase, steps in self.doc.phase_steps().items():
                out.extend(((phase, j), step, None) for j, step in enumerate(steps))
        return out

    def check(self) -> list[Problem]:
        steps = self.steps()
        ids: dict[str, Loc] = {}
        self.all_ids = {s.step_id for _, s, _ in steps}
        for loc, step, _ in steps:
            sid = step.step_id
            if sid in ids:
                where = key_path(ids[sid])
                self.add(
                    (*loc, "id") if step.id else loc,
                    f"step id {sid!r} is already used by {where}; give one of them an `id:`",
                )
            else:
                ids[sid] = loc
        self._check_vars()
        # Each parallel section's ids, computed once: scanning every step for every step
        # made validation grow with the square of the step count (issue 12).
        sections: dict[int, set[str]] = {}
        for _, s, par in steps:
            if par is not None:
                sections.setdefault(par, set()).add(s.step_id)
        seen: set[str] = set()
        for loc, step, par in steps:
            same_section = sections[par] if par is not None else _NONE
            self._check_needs(loc, step, seen, ids, same_section)
            self._check_step(loc, step, _Visible(seen, same_section, step.step_id))
            seen.add(step.step_id)
        self._check_cycles(steps, sections)
        doc = self.doc
        if isinstance(doc, Runbook) and doc.min_duration and doc.budget and doc.min_duration > doc.budget:
            self.add(("min_duration",), "is longer than `budget`: the run could never be on time")
        if isinstance(self.doc, Runbook) and self.cross_file:
            for i, name in enumerate(self.doc.on_no_go):
                if name not in self.lib.contingencies:
                    self.add(
                        ("on_no_go", i),
                        f"unknown contingency {name!r}{self._suggest(name, list(self.lib.contingencies))}",
                    )
        return self.problems

    def _check_cycles(self, steps: list[tuple[Loc, Step, int | None]], sections: dict[int, set[str]]) -> None:
        """Steps of a parallel section that need each other in a circle would wait for ever."""
        where: dict[str, tuple[Loc, Step]] = {}
        for loc, step, par in steps:
            if par is not None:
                where.setdefault(step.step_id, (loc, step))
        for members in sections.values():
            edges = {
                sid: [n for n in dict.fromkeys(where[sid][1].needs) if n in members and n != sid]
                for sid in members
            }
            for cycle in _cycles(edges):
                first = cycle[0]
                loc, step = where[first]
                k = step.needs.index(cycle[1])
                path = " -> ".join([*cycle, first])
                self.add(
                    (*loc, "needs", k),
                    f"these steps need each other in a circle ({path}), so none of them could start: "
                    "remove one of these needs",
                )

    def _check_vars(self) -> None:
        declared = list(self.doc.vars)
        for n, (key, value) in enumerate(self.doc.vars.items()):
            for sub, text in iter_strings(value, ("vars", key)):
                self._check_template(
                    sub, text, roots={"env", "secrets", "event", "now", "vars"}, step_ids=set()
                )
                if not is_template(text):
                    continue
                try:
                    uses = names_in_template(text)
                except ExpressionError:
                    continue  # reported above
                for use in uses:
                    later = use.root == "vars" and use.path and use.path[0] in declared[n:]
                    if later:
                        self.add(
                            sub,
                            f"vars.{show_key(str(use.path[0]))} is declared at or after "
                            f"vars.{show_key(key)}; a var can only use the vars above it",
                        )

    def _check_needs(
        self,
        loc: Loc,
        step: Step,
        seen: set[str],
        ids: dict[str, Loc],
        same_section: AbstractSet[str],
    ) -> None:
        for k, need in enumerate(step.needs):
            if need == step.step_id:
                self.add((*loc, "needs", k), "a step cannot need itself")
            elif need not in ids:
                hint = self._suggest(need, list(ids)) or (
                    "; needs: lists step ids (a step's id:, or its name in lowercase with dashes)"
                )
                self.add((*loc, "needs", k), f"unknown step id {need!r}{hint}")
            elif need not in seen and need not in same_section:
                self.add(
                    (*loc, "needs", k),
                    f"step {need!r} runs later; a step can only need "
                    "earlier steps (or steps of the same parallel section)",
                )

    def _check_step(self, loc: Loc, step: Step, ids: Container[str]) -> None:
        roots = {"vars", "env", "secrets", "event", "steps", "now"}
        if step.manual is not None:
            self._check_template((*loc, "manual"), step.manual, roots, ids)
            step.set_compiled([], self._compile_when(loc, step, ids))
            return
        info = self.lib.registry.get(step.plugin or "")
        outputs = set(info.outputs) if info else set()  # unknown plugins: reported by the loader
        for sub, text in iter_strings(step.with_, (*loc, "with")):
            self._check_template(sub, text, roots, ids)
        expect = []
        for k, src in enumerate(step.expect):
            expr = self._compile((*loc, "expect", k), src)
            if expr is not None:
                self._check_names((*loc, "expect", k), expr.uses, roots - {"secrets"}, ids, outputs)
                expect.append(expr)
        step.set_compiled(expect, self._compile_when(loc, step, ids))

    def _compile_when(self, loc: Loc, step: Step, ids: Container[str]) -> Expression | None:
        roots = {"vars", "env", "event", "steps", "now"}
        when = self._compile((*loc, "when"), step.when) if step.when else None
        if when is not None:
            self._check_names((*loc, "when"), when.uses, roots, ids, set())
        return when

    def _compile(self, loc: Loc, src: str) -> Expression | None:
        try:
            return compile_expression(src)
        except ExpressionError as exc:
            self.add(loc, f"{exc.message} in {src!r}{exc.hint}")
            return None

    def _check_template(self, loc: Loc, text: str, roots: set[str], step_ids: Container[str]) -> None:
        if not is_template(text):
            return
        try:
            uses = names_in_template(text)
        except ExpressionError as exc:
            self.add(loc, f"{exc.message} in {text!r}{exc.hint}")
            return
        self._check_names(loc, uses, roots, step_ids, set())

    def _check_names(
        self, loc: Loc, uses: Iterable[NameUse], roots: set[str], step_ids: Container[str], outputs: set[str]
    ) -> None:
        known = roots | outputs
        for use in uses:
            if use.root not in known:
                choices = sorted(known)
                hint = self._suggest(use.root, choices)
                listing = f"; known names: {', '.join(choices)}" if not hint else ""
                self.add(loc, f"undefined name {use.root!r}{hint}{listing}")
                continue
            if not use.path or use.root in outputs or not isinstance(use.path[0], str):
                continue
            first = use.path[0]
            shown = show_key(first)
            if use.root == "vars" and first not in self.doc.vars:
                self.add(
                    loc,
                    f"undefined variable 'vars.{shown}'{self._suggest(first, list(self.doc.vars))}"
                    "; declare it under vars:",
                )
            elif use.root == "secrets" and first not in self.doc.secrets:
                self.add(
                    loc,
                    f"undefined secret 'secrets.{shown}'{self._suggest(first, self.doc.secrets)}"
                    "; list it under secrets:",
                )
            elif use.root == "steps" and first not in step_ids:
                if first in self.all_ids:
                    self.add(
                        loc,
                        f"steps.{shown} runs later; a step can only read the outputs of earlier "
                        "steps (or of steps it needs in its parallel section)",
                    )
                else:
                    self.add(loc, f"unknown step id 'steps.{shown}'{self._suggest(first, self.all_ids)}")
            elif use.root == "env" and self.env_keys and first not in self.env_keys:
                self.add(loc, f"no environment defines 'env.{shown}'{self._suggest(first, self.env_keys)}")


_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_PLAIN_USE = re.compile(rf"\{{\{{\s*({_NAME}(?:\.{_NAME}|\[(?:0|[1-9][0-9]*)\])*)\s*\}}\}}")
_PART = re.compile(rf"\.({_NAME})|\[([0-9]+)\]")
# Words Jinja reads as constants or operators, not names: such a template takes the full path.
_WORDS = {"true", "false", "none", "True", "False", "None", "and", "or", "not", "in", "is", "if", "else"}


def names_in_template(text: str) -> list[NameUse]:
    """What template_uses() returns, without Jinja for the common `text {{ a.b[0] }} text`.

    Parsing and compiling every template with Jinja was most of the time validation took
    for a large runbook; a template made only of plain names cannot have a syntax error,
    and it is compiled when it is first rendered.
    """
    pieces = _PLAIN_USE.split(text)
    if any("{" in lit or "}" in lit for lit in pieces[0::2]):
        return template_uses(text)
    found: dict[str, NameUse] = {}
    for chain in pieces[1::2]:
        root = chain.split(".", 1)[0].split("[", 1)[0]
        path = tuple(attr or int(index) for attr, index in _PART.findall(chain, len(root)))
        if root in _WORDS or any(p in _WORDS for p in path):
            return template_uses(text)
        use = NameUse(root, path)
        found.setdefault(use.text, use)
    return list(found.values())


def _cycles(edges: dict[str, list[str]]) -> list[list[str]]:
    """Cycles (as paths of ids) found by an iterative depth-first search, each back edge closing
    one; at most 20, which is plenty to fix before validating again."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    found: list[list[str]] = []
    for start in sorted(edges):
        if start in state:
            continue
        path: list[str] = [start]
        todo = [iter(edges[start])]
        state[start] = 1
        while todo:
            nxt = next(todo[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                todo.pop()
            elif state.get(nxt) == 1:
                found.append(path[path.index(nxt) :])
                if len(found) >= 20:
                    return found
            elif nxt not in state:
                state[nxt] = 1
                path.append(nxt)
                todo.append(iter(edges[nxt]))
    return found


def check_library(lib: Library, cross_file: bool = True) -> list[Problem]:
    problems: list[Problem] = []
    defaults = sorted((e for e in lib.environments.values() if e.doc.default), key=lambda e: e.doc.name)
    for extra in defaults[1:]:
        problems.append(
            Problem(
                extra.shown,
                extra.raw.key_lines.get("default", 1),
                "default",
                f"environment {defaults[0].doc.name!r} ({defaults[0].shown}) is already "
                "the default; mark only one environment `default: true`",
            )
        )
    docs: list[Loaded[Runbook] | Loaded[Contingency]] = [*lib.runbooks.values(), *lib.contingencies.values()]
    for loaded in docs:
        problems.extend(_DocChecker(lib, loaded, cross_file).check())
    return problems
