"""A person at the terminal: manual steps, destructive confirmations, the decision.

The engine asks through the Interaction protocol (runbook_engine.execute.interaction); this is its
terminal side. Prompts pause the console's live view so it cannot hide them.
"""

from __future__ import annotations

from rich.console import Console
from rich.prompt import Confirm, Prompt
from rich.text import Text

from runbook_engine.execute.interaction import ManualAnswer
from runbook_engine.journal import StepResult
from runbook_engine.terminal.console import ConsoleView
from runbook_engine.text import args_line


class TerminalInteraction:
    """Asks a person at the terminal; pauses the live view while asking."""

    interactive = True

    def __init__(self, console: Console, view: ConsoleView, operator: str) -> None:
        self.console = console
        self.view = view
        self.operator = operator

    def ask_manual(self, step: StepResult, text: str) -> ManualAnswer | None:
        self.view.pause()
        try:
            owner = f" (owner: {step.owner})" if step.owner else ""
            self.console.print(Text.assemble(("  MANUAL  ", "bold magenta"), text, (owner, "dim")))
            while True:
                answer = Prompt.ask(
                    "          done, not done, or skip? [d/n/s, a note may follow]",
                    console=self.console,
                    default="d",
                    show_default=True,
                )
                parsed = parse_manual_answer(answer)
                if parsed is not None:
                    choice, note = parsed
                    return ManualAnswer(choice, self.operator, note)  # type: ignore[arg-type]
                self.console.print(
                    "          answer d (done), n (not done) or s (skip), e.g. [bold]n charger missing[/]"
                )
        except EOFError:
            return None
        finally:
            self.view.resume()

    def confirm_decision(self, verdict: str, summary: str) -> str | None:
        self.view.pause()
        try:
            self.console.print(Text.assemble(("  DECISION  ", "bold cyan"), summary))
            # Enter takes the default name; "-" is the way to leave it unconfirmed.
            name = Prompt.ask(
                "          your name to confirm (Enter for the name shown, - to leave unconfirmed)",
                console=self.console,
                default=self.operator,
            )
            name = name.strip()
            return None if name in ("", "-") else name
        except EOFError:
            return None
        finally:
            self.view.resume()

    def confirm_destructive(self, step: StepResult, args: dict[str, object]) -> bool | None:
        self.view.pause()
        try:
            self.console.print(Text.assemble(("  DESTRUCTIVE  ", "bold red"), step.name))
            if args:
                self.console.print(Text(f"          {step.plugin}: {args_line(args)}", style="dim"))
            consequence = (
                "skipping it makes the run NO-GO" if step.severity == "critical" else "it is skipped"
            )
            return Confirm.ask(f"          run it? (no: {consequence})", console=self.console, default=False)
        except EOFError:
            return None
        finally:
            self.view.resume()


MANUAL_WORDS = {
    "d": "done", "done": "done", "y": "done", "yes": "done",
    "n": "not-done", "no": "not-done", "not": "not-done",
    "s": "skip", "skip": "skip",
}  # fmt: skip


def parse_manual_answer(answer: str) -> tuple[str, str | None] | None:
    """'d', 'done', 'n charger missing', 'not done: no cable', 'skip' -> (choice, note)."""
    text = answer.strip()
    if not text:
        return "done", None  # Enter: the default shown
    word, _, rest = text.partition(" ")
    choice = MANUAL_WORDS.get(word.lower().rstrip(":,"))
    if choice is None:
        return None
    if word.lower() == "not" and rest.lower().startswith("done"):
        rest = rest[4:]
    note = rest.strip().lstrip(":,-").strip() or None
    return choice, note
