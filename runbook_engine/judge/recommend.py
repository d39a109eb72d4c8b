"""Which contingencies to recommend on NO-GO, best match first.

Two kinds of evidence, strongest first:

1. Confirmed: the contingency's `detect` checks are run once, right when the verdict is
   NO-GO. Detect checks fail while their scenario holds, so one that fails confirms it.
2. Matched: one of its `detect` checks looks at the same thing as a failed critical step:
   the same step id, or the same plugin aimed at the same target (URL without its query,
   host and port, path, table, query...).

Ranked by confirmation (a detect check that failed beats one that could not check at all,
which may be load), then by the number of matched failures, then by the order of
`on_no_go`.

Only contingencies with evidence are recommended. One whose detect checks all pass and
that matches no failure is ruled out (named in the journal as not indicated, so a reader
sees it was considered); one that could not be checked (a person detects it) is
recommended only when nothing else is.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

from runbook_engine.errors import UserError
from runbook_engine.execute.data import TemplateData, build_template_data
from runbook_engine.expr import ExpressionError, render
from runbook_engine.format.library import Library
from runbook_engine.format.spec import Step
from runbook_engine.journal import Recommendation, RunJournal, StepResult

TARGET_KEYS = (
    "url",
    "host",
    "port",
    "path",
    "glob",
    "table",
    "query",
    "sql",
    "name",
    "labels",
    "file",
    "playbook",
    "database",
    "command",
    "argv",
)


def target(plugin: str | None, args: dict[str, Any]) -> tuple[Any, ...] | None:
    """What a step looks at, comparable across runbooks and contingencies."""
    if not plugin:
        return None
    parts: list[Any] = [plugin]
    for key in TARGET_KEYS:
        if key in args:
            value = args[key]
            if key == "url" and isinstance(value, str):
                u = urlsplit(value)
                value = f"{u.scheme}://{u.netloc}{u.path.rstrip('/')}"
            parts.append((key, repr(value)))
    return tuple(parts) if len(parts) > 1 else None


def _detect_targets(step: Step, data: TemplateData | None) -> tuple[Any, ...] | None:
    args: Any = step.with_
    if data is not None:
        try:
            args = render(step.with_, data.for_templates())
        except ExpressionError:
            args = step.with_
    return target(step.plugin, args if isinstance(args, dict) else {})


Probe = Callable[[Step, TemplateData], StepResult]


def _confirmed(probe: Probe | None, detect: list[Step], cdata: TemplateData | None) -> int | None:
    """Run the detect checks once: 2 when one failed (the scenario is seen), 1 when one only
    could not check (an error: weaker evidence, it may be load), 0 when all passed."""
    checks = [d for d in detect if d.kind == "check"]
    if probe is None or cdata is None or not checks:
        return None
    with ThreadPoolExecutor(max_workers=min(8, len(checks)), thread_name_prefix="probe") as pool:
        results = list(pool.map(lambda d: probe(d, cdata), checks))
    ran = [r for r in results if r.outcome != "skipped"]  # `when:` false: not this environment
    if not ran:
        return None
    if any(r.outcome == "failed" for r in ran):
        return 2
    return 1 if any(r.outcome != "passed" for r in ran) else 0


def rank_contingencies(
    lib: Library, names: list[str], journal: RunJournal, data: TemplateData, probe: Probe | None = None
) -> list[Recommendation]:
    failed = [s for s in journal.steps() if s.is_bad and s.severity == "critical" and s.kind != "manual"]
    failed_targets = {s.id: target(s.plugin, s.args) for s in failed}
    scored: list[tuple[int, int, int, Recommendation]] = []
    for order, name in enumerate(names):
        c = lib.contingencies[name].doc
        try:
            cdata: TemplateData | None = build_template_data(lib, c, data.environment, {}, data.event)
        except UserError:
            cdata = None  # e.g. a secret only the contingency needs: compare unrendered, don't probe
        detect_ids = {d.step_id for d in c.detect}
        detect_targets = {t for t in (_detect_targets(d, cdata) for d in c.detect) if t}
        matched = [
            sid
            for sid, t in failed_targets.items()
            if sid in detect_ids or (t is not None and t in detect_targets)
        ]
        first = next((s.title for s in c.recover), None)
        strength = _confirmed(probe, c.detect, cdata)
        rec = Recommendation(
            name=c.name,
            title=c.title or c.name,
            rto_s=c.rto,
            first_step=first,
            matched=matched,
            confirmed=None if strength is None else strength > 0,
        )
        scored.append((-(strength or 0), -len(matched), order, rec))
    return [t[-1] for t in sorted(scored, key=lambda t: t[:3])]


def recommend(
    lib: Library, names: list[str], journal: RunJournal, data: TemplateData, probe: Probe | None = None
) -> None:
    """Fill `journal.recommended` (and `extra["not_indicated"]`) for a NO-GO."""
    ranked = rank_contingencies(lib, names, journal, data, probe)
    seen = [r for r in ranked if r.confirmed or r.matched]
    unknown = [r for r in ranked if r.confirmed is None and not r.matched]
    journal.recommended = seen or unknown
    ruled_out = [r.name for r in ranked if r.confirmed is False and not r.matched]
    if ruled_out:
        journal.extra["not_indicated"] = ruled_out
