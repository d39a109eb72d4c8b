"""Printable checklists: a runbook or contingency on paper, from the loaded specs.

`with:` values and `manual:` text are rendered with the environment's vars
(`{{ env.compose_file }}` becomes `compose/docker-compose.yml`) so the sheet says what a
step really looks at. A checklist is printed before the event and never needs a secret:
secrets are never looked up, only shown masked (`***`), and a template that needs what only
a run has (a step's output, the event time) is shown as written. `with:` arguments whose
names suggest credentials are left out entirely.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from runbook_engine.errors import UserError
from runbook_engine.expr import ExpressionError, render, suggest
from runbook_engine.format.durations import format_duration
from runbook_engine.format.library import Library
from runbook_engine.format.spec import Contingency, Runbook, Step
from runbook_engine.redact import MASK
from runbook_engine.report.templating import template_env
from runbook_engine.report.view import offset_label
from runbook_engine.text import short

# `with:` keys never shown, even unrendered: a literal credential may sit in the YAML.
_SECRET_KEY = re.compile(r"pass|secret|token|key|auth|cred|cookie|header|env|stdin", re.IGNORECASE)
TARGET_CHARS = 90
PHASE_TITLES = {
    "detect": "Detect: confirm the scenario",
    "recover": "Recover",
    "verify": "Verify the recovery",
    "fallback": "Fallback: if recovery misses the RTO",
}


@dataclass(frozen=True)
class Item:
    number: int
    title: str
    kind: str  # check | action | manual
    plugin: str | None
    checks: list[str]
    default_checks: bool  # the plugin's own default expectation, not written in the step
    target: str
    owner: str | None
    severity: str
    destructive: bool
    description: str | None
    when: str | None
    needs: list[str]

    @property
    def manual(self) -> bool:
        return self.kind == "manual"


@dataclass(frozen=True)
class Part:
    name: str
    budget: str | None
    description: str | None
    parallel: bool
    items: list[Item]

    @property
    def manual_count(self) -> int:
        return sum(i.manual for i in self.items)


@dataclass(frozen=True)
class Recovery:
    name: str
    title: str
    symptoms: str
    rto: str
    first_step: str


@dataclass
class Sheet:
    """One runbook or contingency as a checklist."""

    kind: str  # runbook | contingency
    name: str
    title: str
    description: str | None
    when: str | None  # T-90m, or "RTO 3m00s"
    budget: str | None
    parts: list[Part]
    gate: str | None = None
    recoveries: list[Recovery] = field(default_factory=list)  # on NO-GO
    symptoms: str | None = None
    rto: str | None = None

    @property
    def steps(self) -> int:
        return sum(len(p.items) for p in self.parts)

    @property
    def decision(self) -> bool:
        """A GO / NO-GO box belongs to a runbook that is a decision: one with a `gate:`.
        Setup, rehearsal and after-the-event runbooks end with a plain sign-off."""
        return self.kind == "runbook" and self.gate is not None

    @property
    def heading(self) -> str:
        """`T-2h: environment setup`: the label in front, unless the title already starts with
        one (`T-5m: go / no-go` may start at T-15m so that its call is made by T-5m)."""
        if not self.when or _leading(self.when).match(self.title) or _T_LABEL.match(self.title):
            return self.title
        return f"{self.when}: {self.title}"

    @property
    def starts(self) -> str | None:
        """The offset, when the heading names another moment: `starts at T-15m`."""
        if self.when and not _leading(self.when).match(self.heading):
            return f"starts at {self.when}"
        return None

    @property
    def subject(self) -> str:
        """The title without a leading label, for the HTML sheet that shows the label apart."""
        found = _leading(self.when).match(self.title) if self.when else None
        if found is None:
            return self.title
        return self.title[found.end() :].lstrip(" :\u00b7\u2013\u2014-") or self.title


@dataclass
class Checklist:
    title: str
    sheets: list[Sheet]
    contingencies: list[Recovery] = field(default_factory=list)  # the table at the end of --all
    event: bool = False  # --all: a plan first, an event-level GO / NO-GO sign-off last
    environment: str | None = None  # whose vars the `with:` values were rendered with


# An event label at the start of a title: T-2h, T-90m, T-1h30m, T+1h, T-0.
_T_LABEL = re.compile(r"T[+-]\d[\dhmsd]*(?!\w)")


def _leading(label: str) -> re.Pattern[str]:
    """The label at the start of a title, as a whole word (`T-1h` does not start `T-1h30m`)."""
    return re.compile(rf"{re.escape(label)}(?!\w)")


_EXPRESSION = re.compile(r"\{\{.*?\}\}", re.S)


def _rendered(value: Any, context: dict[str, Any]) -> Any:
    """Each string rendered on its own where it can be; as written where it cannot. In a
    string that mixes vars with a step's output (`{{ vars.api }}/x?id={{ steps.a.id }}`),
    each `{{ }}` that can be filled in is, so the paper shows the real address."""
    if isinstance(value, str):
        try:
            return render(value, context)
        except ExpressionError:
            if "{%" in value:
                return value
            return _EXPRESSION.sub(lambda m: _one(m.group(0), context), value)
    if isinstance(value, dict):
        return {k: _rendered(v, context) for k, v in value.items()}
    if isinstance(value, list):
        return [_rendered(v, context) for v in value]
    return value


def _one(expression: str, context: dict[str, Any]) -> str:
    try:
        return str(render(expression, context))
    except ExpressionError:
        return expression


def _target(step: Step, context: dict[str, Any]) -> str:
    """What an automated step looks at, from its `with:` (rendered where possible, credentials left out)."""
    parts = []
    for key, value in step.with_.items():
        if _SECRET_KEY.search(key):
            continue
        parts.append(f"{key}={short(_rendered(value, context), 60)}")
    return short(", ".join(parts), TARGET_CHARS) if parts else ""


def template_context(lib: Library, doc: Runbook | Contingency, environment: str | None) -> dict[str, Any]:
    """vars and env as a run in `environment` would see them, with every secret as `***`.

    Secrets are never looked up. There are no `steps`, `event` or `now`: a template that
    reads them stays as written, and so does one reading a var that could not be built."""
    from runbook_engine.execute.data import build_template_data

    # The environment's vars, resolved as a run resolves them; the document's own vars
    # are rendered below, so that one made from a secret is masked instead of failing.
    data = build_template_data(lib, doc.model_copy(update={"secrets": [], "vars": {}}), environment, {}, None)
    context: dict[str, Any] = {"vars": {}, "env": data.env, "secrets": {name: MASK for name in doc.secrets}}
    for key, value in doc.vars.items():
        try:
            context["vars"][key] = render(value, context)
        except ExpressionError:
            continue  # undefined from here on: templates using it are shown as written
    return context


class _Builder:
    def __init__(self, lib: Library, environment: str | None) -> None:
        self.lib = lib
        self.environment = environment
        self.number = 0
        self.context: dict[str, Any] = {}  # of the document being built

    def item(self, step: Step) -> Item:
        self.number += 1
        checks = list(step.expect)
        default = False
        if step.kind != "manual" and not checks:
            plugin = self.lib.registry.get(step.plugin or "")
            checks = [e.source for e in plugin.default_expect] if plugin else []
            default = bool(checks)
        return Item(
            number=self.number,
            # `manual:` text is a template too (a run shows it rendered); names are not.
            title=str(_rendered(step.title, self.context)) if step.kind == "manual" else step.title,
            kind=step.kind,
            plugin=step.plugin,
            checks=checks,
            default_checks=default,
            target=_target(step, self.context) if step.kind != "manual" else "",
            owner=step.owner,
            severity=step.severity,
            destructive=step.destructive,
            description=step.description,
            when=step.when,
            needs=list(step.needs),
        )

    def runbook(self, doc: Runbook) -> Sheet:
        self.number = 0
        self.context = template_context(self.lib, doc, self.environment)
        parts = [
            Part(
                s.name,
                format_duration(s.budget) if s.budget else None,
                s.description,
                s.parallel,
                [self.item(step) for step in s.steps],
            )
            for s in doc.sections
        ]
        gate = None
        if doc.gate is not None:
            g = doc.gate
            gate = (
                f"every critical check holds for {format_duration(g.stable_for)} "
                f"(re-checked every {format_duration(g.interval)})"
            )
            if g.pass_score is not None:
                gate += f"; score at least {g.pass_score:g}"
        return Sheet(
            kind="runbook",
            name=doc.name,
            title=doc.title or doc.name,
            description=doc.description,
            when=offset_label(doc.offset) if doc.offset is not None else None,
            budget=format_duration(doc.budget) if doc.budget else None,
            parts=parts,
            gate=gate,
            recoveries=[self.recovery(n) for n in doc.on_no_go if n in self.lib.contingencies],
        )

    def contingency(self, doc: Contingency) -> Sheet:
        self.number = 0
        self.context = template_context(self.lib, doc, self.environment)
        phases = doc.phase_steps()
        parts = [
            Part(PHASE_TITLES[phase], None, None, False, [self.item(s) for s in phases[phase]])
            for phase in PHASE_TITLES
            if phases[phase]
        ]
        return Sheet(
            kind="contingency",
            name=doc.name,
            title=doc.title or doc.name,
            description=doc.description,
            when=f"RTO {format_duration(doc.rto)}",
            budget=format_duration(doc.rto),
            parts=parts,
            symptoms=doc.symptoms,
            rto=format_duration(doc.rto),
        )

    def recovery(self, name: str) -> Recovery:
        c = self.lib.contingencies[name].doc
        first = next((s.title for s in c.recover), None) or next((s.title for s in c.fallback), "-")
        return Recovery(c.name, c.title or c.name, c.symptoms or "-", format_duration(c.rto), first)


def build_checklist(
    lib: Library, name: str | None, everything: bool = False, environment: str | None = None
) -> Checklist:
    """One runbook or contingency by name, or (everything) every runbook with an offset in
    event order, most negative first, then the table of contingencies. `with:` values are
    rendered for `environment` (default: the default environment)."""
    if environment is not None and environment not in lib.environments:
        known = sorted(lib.environments)
        raise UserError(
            f"unknown environment {environment!r}{suggest(environment, known)}; "
            f"known: {', '.join(known) or 'none'}"
        )
    env = environment or lib.default_environment()
    if env not in lib.environments:
        env = None  # e.g. RUNBOOK_ENV names an environment this directory lacks: vars only
    builder = _Builder(lib, env)
    if everything:
        timed = sorted(
            (loaded.doc for loaded in lib.runbooks.values() if loaded.doc.offset is not None),
            key=lambda doc: (doc.offset or 0.0, doc.name),
        )
        if not timed:
            raise UserError("--all: no runbook has an offset: (e.g. offset: -2h), so there is no event plan")
        return Checklist(
            "Event checklist",
            [builder.runbook(doc) for doc in timed],
            [builder.recovery(n) for n in sorted(lib.contingencies)],
            event=True,
            environment=env,
        )
    if not name:
        raise UserError("checklist: give a runbook or contingency name, or --all")
    if name in lib.runbooks:
        sheet = builder.runbook(lib.runbooks[name].doc)
    elif name in lib.contingencies:
        sheet = builder.contingency(lib.contingencies[name].doc)
    else:
        known = [*lib.runbooks, *lib.contingencies]
        raise UserError(
            f"no runbook or contingency named {name!r}{suggest(name, known)}; `runbook list` shows them"
        )
    return Checklist(sheet.title, [sheet], environment=env)


def render_checklist(checklist: Checklist, fmt: str) -> str:
    """fmt: 'md' or 'html'."""
    from runbook_engine import __version__

    template: Any = template_env().get_template(f"checklist.{fmt}.j2")
    return str(template.render(c=checklist, version=__version__))


CHECKLIST_FORMATS = {".md": "md", ".html": "html"}
