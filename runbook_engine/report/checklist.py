"""Printable checklists: a runbook or contingency on paper, from the loaded specs.

Step text is shown as written in the YAML, templates unrendered (`{{ vars.api }}`): a
checklist is printed before the event, for any environment, and it never needs (so never
shows) a secret value. `with:` arguments whose names suggest credentials are left out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from runbook_engine.durations import format_duration
from runbook_engine.errors import UserError
from runbook_engine.expr import suggest
from runbook_engine.loader import Library
from runbook_engine.report.templating import template_env
from runbook_engine.report.view import offset_label, short
from runbook_engine.spec import Contingency, Runbook, Step

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


@dataclass
class Checklist:
    title: str
    sheets: list[Sheet]
    contingencies: list[Recovery] = field(default_factory=list)  # the table at the end of --all


def _target(step: Step) -> str:
    """What an automated step looks at, from its `with:` (unrendered, credentials left out)."""
    parts = []
    for key, value in step.with_.items():
        if _SECRET_KEY.search(key):
            continue
        parts.append(f"{key}={short(value, 60)}")
    return short(", ".join(parts), TARGET_CHARS) if parts else ""


class _Builder:
    def __init__(self, lib: Library) -> None:
        self.lib = lib
        self.number = 0

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
            title=step.title,
            kind=step.kind,
            plugin=step.plugin,
            checks=checks,
            default_checks=default,
            target=_target(step) if step.kind != "manual" else "",
            owner=step.owner,
            severity=step.severity,
            destructive=step.destructive,
            description=step.description,
            when=step.when,
            needs=list(step.needs),
        )

    def runbook(self, doc: Runbook) -> Sheet:
        self.number = 0
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


def build_checklist(lib: Library, name: str | None, everything: bool = False) -> Checklist:
    """One runbook or contingency by name, or (everything) every runbook with an offset in
    event order, most negative first, then the table of contingencies."""
    builder = _Builder(lib)
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
    return Checklist(sheet.title, [sheet])


def render_checklist(checklist: Checklist, fmt: str) -> str:
    """fmt: 'md' or 'html'."""
    from runbook_engine import __version__

    template: Any = template_env().get_template(f"checklist.{fmt}.j2")
    return str(template.render(c=checklist, version=__version__))


CHECKLIST_FORMATS = {".md": "md", ".html": "html"}
