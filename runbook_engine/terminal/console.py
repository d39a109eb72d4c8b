"""The terminal view: an observer of runner events, and the terminal Interaction.

In a terminal: a live area shows the steps that are running with their elapsed time,
each finished step prints one line, and a summary table and verdict panel close the run.
Not in a terminal: the same lines as plain, stable text (for CI logs and pipes).
"""

from __future__ import annotations

import time
from typing import Any

from rich.cells import cell_len
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from runbook_engine.execute.events import (
    Event,
    GateProgress,
    RunFinished,
    RunStarted,
    SectionFinished,
    SectionStarted,
    StepAttempt,
    StepFinished,
    StepStarted,
)
from runbook_engine.format.durations import format_duration
from runbook_engine.journal import RunJournal, StepResult
from runbook_engine.text import args_line

LABELS = {
    "passed": ("PASS", "green"),
    "failed": ("FAIL", "red"),
    "error": ("ERROR", "red"),
    "skipped": ("SKIP", "dim"),
    "blocked": ("BLOCKED", "yellow"),
    "pending": ("PENDING", "yellow"),
}
VERDICT_STYLE = {"GO": "bold white on green", "NO-GO": "bold white on red", "DRY-RUN": "bold black on yellow"}
WIDTH = 64


class ConsoleView:
    """Observer that renders runner events; also pauses its live area for prompts."""

    def __init__(self, console: Console, quiet: bool = False) -> None:
        self.console = console
        self.quiet = quiet
        self.drilling = False  # set per run: a drill's Detect phase reads the other way round
        self.dry_run = False
        self.live_enabled = console.is_terminal and not quiet
        # Step lines fill a terminal's width (label 10 + time 8 around the name); logs and
        # pipes keep the fixed width so their text stays stable.
        self.width = max(30, min(console.width - 19, 110)) if console.is_terminal else WIDTH
        self.running: dict[str, tuple[StepResult, float]] = {}
        self.live: Live | None = None
        self.gate: GateProgress | None = None
        self.gate_seen = 0.0  # when the last gate event came (monotonic)
        # Plain output (a pipe, a CI log): a step line that fits is written as is; Rich's
        # layout would give the same text at ten times the cost, once per step.
        self.plain = not console.is_terminal and not console.record

    # -- observer -------------------------------------------------------------
    def __call__(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            self._start(event.journal)
        elif isinstance(event, SectionStarted):
            self._print(Text(f"== {event.section.name}", style="bold"))
        elif isinstance(event, StepStarted):
            self.running[event.step.id] = (event.step, time.monotonic())
        elif isinstance(event, StepAttempt):
            self._print(
                Text(
                    f"   ... {event.step.name}: attempt {event.attempt} did not pass: "
                    f"{_first_line(event.message)}",
                    style="dim",
                ),
                verbose=True,
            )
        elif isinstance(event, StepFinished):
            self.running.pop(event.step.id, None)
            self._step_line(event.step)
        elif isinstance(event, SectionFinished):
            sec = event.section
            if sec.budget_s:
                style = "red" if sec.over_budget else "dim"
                self._print(
                    Text(
                        f"   section took {format_duration(sec.duration_s)} of "
                        f"{format_duration(sec.budget_s)} budget",
                        style=style,
                    ),
                    verbose=True,
                )
        elif isinstance(event, GateProgress):
            self._gate(event)
        elif isinstance(event, RunFinished):
            self._stop_live()
            self.summary(event.journal)

    def _gate(self, event: GateProgress) -> None:
        self.gate = event
        self.gate_seen = time.monotonic()
        if self.live is not None and event.holding and event.remaining_s > 0:
            return  # the live area shows the countdown
        state = "holding" if event.holding else f"FLAP (window restarted; {event.flaps} so far)"
        style = "dim" if event.holding else "yellow"
        self._print(
            Text(
                f"   gate round {event.round}: {state}, {format_duration(event.remaining_s)} "
                f"of {format_duration(event.stable_for_s)} left",
                style=style,
            )
        )
        for failing in event.failing:  # which check flapped, and what it saw
            self._print(Text(f"     {_first_line(failing)}", style=style))

    # -- live area ------------------------------------------------------------
    def _start(self, journal: RunJournal) -> None:
        self.drilling = journal.kind == "drill"
        self.dry_run = journal.dry_run
        env = f" (environment {journal.environment})" if journal.environment else ""
        dry = " [dry run]" if journal.dry_run else ""
        if not self.quiet:
            what = "contingency" if journal.kind == "drill" else "runbook"
            self.console.print(Text(f"{what} {journal.runbook}{env}{dry}", style="bold"))
        if self.live_enabled:
            self.live = Live(self, console=self.console, refresh_per_second=8, transient=True)
            self.live.start()

    def __rich__(self) -> RenderableType:
        rows = []
        for step, started in list(self.running.values()):
            elapsed = format_duration(time.monotonic() - started)
            rows.append(
                Text.assemble(("  ...   ", "cyan"), (_fit(step.name, self.width), ""), (f" {elapsed}", "dim"))
            )
        if self.gate is not None and not self.running:
            g = self.gate
            # Events come once a round (every `interval`): count down between them, as long
            # as the window holds (a flap restarts it, and the next event says so).
            left = g.remaining_s - (time.monotonic() - self.gate_seen) if g.holding else g.remaining_s
            rows.append(
                Text.assemble(
                    ("  gate  ", "cyan"),
                    f"stable for {format_duration(g.stable_for_s)}: ",
                    (f"{format_duration(max(left, 0.0))} left", "bold"),
                    (f"  (round {g.round}, {g.flaps} flaps)", "dim"),
                )
            )
        return Group(*rows)

    def _stop_live(self) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None

    def pause(self) -> None:
        if self.live is not None:
            self.live.stop()

    def resume(self) -> None:
        if self.live is not None:
            self.live.start()

    def _print(self, renderable: RenderableType, verbose: bool = False) -> None:
        if self.quiet:
            return
        self.console.print(renderable)

    def _line(self, line: Text) -> None:
        text = line.plain
        if self.plain and text.isprintable() and cell_len(text) <= self.console.width:
            self.console.file.write(text + "\n")
        else:
            self.console.print(line)

    def _step_line(self, step: StepResult) -> None:
        label, style = LABELS[step.outcome]
        if self.drilling and step.section == "Detect" and step.outcome == "passed":
            # A detect check "passes" when it fails: the failure it looks for is there. Say
            # so, and show what it saw, rather than a green PASS on a false statement.
            label, style = "SEEN", "yellow"
        if self.quiet and step.outcome in ("passed", "skipped"):
            return
        dur = format_duration(step.duration_s) if step.outcome not in ("skipped", "blocked") else ""
        marks = " [destructive]" if step.destructive else ""
        marks += " [manual]" if step.kind == "manual" else ""
        line = Text.assemble(
            (f"  {label:<7} ", style), _fit(step.name + marks, self.width), (f" {dur:>7}", "dim")
        )
        self._line(line)
        if self.dry_run and step.args:
            # The resolved plan: what the step would be given (templates rendered, secrets masked).
            self._line(Text(f"          {step.plugin}: {args_line(step.args)}", style="dim"))
        if step.message and (step.outcome != "passed" or label == "SEEN"):
            for msg_line in step.message.splitlines()[:6]:
                self._line(Text(f"          {msg_line}", style="dim" if step.outcome == "skipped" else style))

    # -- the end --------------------------------------------------------------
    def summary(self, journal: RunJournal) -> None:
        counts = journal.counts()
        if not self.quiet:
            table = Table(title="Summary", show_lines=False, title_justify="left")
            for col in ("section", "steps", "passed", "problems", "time", "budget"):
                table.add_column(col, justify="left" if col == "section" else "right")
            for sec in journal.sections:
                bad = sum(1 for s in sec.steps if s.is_problem)
                table.add_row(
                    escape(sec.name),
                    str(len(sec.steps)),
                    str(sum(1 for s in sec.steps if s.outcome == "passed")),
                    Text(str(bad), style="red" if bad else ""),
                    Text(format_duration(sec.duration_s), style="red" if sec.over_budget else ""),
                    format_duration(sec.budget_s) if sec.budget_s else "-",
                )
            self.console.print(table)
        totals = ", ".join(f"{n} {k}" for k, n in counts.items() if n)
        verdict = journal.verdict or "?"
        body = Text.assemble(
            (f" {verdict} ", VERDICT_STYLE.get(verdict, "bold")),
            f"  {journal.runbook}: {totals} in {format_duration(journal.duration_s)}",
        )
        lines: list[RenderableType] = [body]
        lines += _extra_lines(journal)
        lines += [Text(f"  - {r}", style="red") for r in journal.reasons]
        lines += [Text(f"  ! {w}", style="yellow") for w in journal.warnings]
        for rec in journal.recommended:
            first = f"; first: {rec.first_step}" if rec.first_step else ""
            lines.append(
                Text(
                    f"  > contingency {rec.name} ({rec.title}), RTO {format_duration(rec.rto_s)}{first}"
                    + ("  [confirmed: its detect check sees it now]" if rec.confirmed else ""),
                    style="cyan",
                )
            )
        if journal.extra.get("not_indicated"):
            names = ", ".join(journal.extra["not_indicated"])
            lines.append(Text(f"  (not indicated: {names}: their detect checks pass)", style="dim"))
        if self.console.is_terminal:
            # Wrapped, not cut at the panel's edge: a reason is read in full (the console
            # soft-wraps by default, which a panel turns into cropping).
            self.console.print(Panel(Group(*lines), expand=False), soft_wrap=False)
        else:
            for item in lines:
                self.console.print(item)


def _extra_lines(journal: RunJournal) -> list[RenderableType]:
    """Timing against the event, the stability window, the score and the decision."""
    out: list[RenderableType] = []
    timing = journal.extra.get("timing")
    if timing:
        planned = f", planned {timing['planned']}: {timing['lateness']}" if "planned" in timing else ""
        out.append(Text(f"  ran at {timing['actual']}{planned}", style="dim"))
    gate = journal.extra.get("gate")
    if gate:
        held = "held" if gate["held"] else "did NOT hold"
        out.append(
            Text(
                f"  stable for {format_duration(gate['stable_for_s'])}: {held} "
                f"({gate['rounds']} rounds, {gate.get('flap_rounds', len(gate['flaps']))} flaps)",
                style="green" if gate["held"] else "red",
            )
        )
    score = journal.extra.get("score")
    if score:
        bar = f" (pass {score['pass_score']:g})" if score.get("pass_score") is not None else ""
        parts = ", ".join(f"{s['name']} {s['earned']:g}/{s['possible']:g}" for s in score["sections"])
        out.append(
            Text(
                f"  readiness score {score['score']:g}/100{bar}: {parts}",
                style="green" if score["passed"] else "red",
            )
        )
    drill = journal.extra.get("drill")
    if drill:
        out.extend(_drill_lines(drill))
    decision = journal.extra.get("decision")
    if decision:
        who = decision["confirmed_by"] or "nobody (pass --operator to record who decides)"
        out.append(
            Text(f"  decision {decision['verdict']} confirmed by {who} ({decision['how']})", style="dim")
        )
    return out


def _drill_lines(drill: dict[str, Any]) -> list[RenderableType]:
    out: list[RenderableType] = []
    ttd = format_duration(drill.get("time_to_detect_s")) if "time_to_detect_s" in drill else "-"
    ttr = format_duration(drill.get("time_to_recover_s")) if "time_to_recover_s" in drill else "-"
    within = drill.get("within_rto")
    verdict = {True: "within RTO", False: "MISSED the RTO", None: "not recovered"}[within]
    out.append(
        Text(
            f"  time to detect {ttd}, time to recover {ttr} (RTO {format_duration(drill['rto_s'])}): "
            f"{verdict}",
            style="green" if within else "red",
        )
    )
    for i, step in enumerate(drill.get("fallback", []), 1):
        if i == 1:
            out.append(Text("  fallback:", style="bold yellow"))
        out.append(Text(f"    {i}. {step}", style="yellow"))
    return out


def _fit(text: str, width: int = WIDTH) -> str:
    text = text.replace("\n", " ")
    if len(text) > width:
        return text[: width - 3] + "..."
    return text + " " + "." * (width - len(text) - 1) if len(text) < width else text


def _first_line(text: str) -> str:
    return text.splitlines()[0] if text else ""
