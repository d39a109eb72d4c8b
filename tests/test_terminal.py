"""The terminal experience, in a real pseudo-terminal: prompts for people, a live view, a decision."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class Terminal:
    """`runbook` running on a pty, as a person at a terminal would see it."""

    def __init__(self, args: list[str], cwd: Path) -> None:
        self.master, slave = pty.openpty()
        env = dict(os.environ, TERM="xterm", COLUMNS="120", LINES="40")
        env.pop("NO_COLOR", None)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "runbook_engine", *args],
            cwd=cwd,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            close_fds=True,
        )
        os.close(slave)
        self.seen = ""

    def expect(self, text: str, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while text not in ANSI.sub("", self.seen):
            left = deadline - time.monotonic()
            assert left > 0, f"never saw {text!r} in:\n{ANSI.sub('', self.seen)[-2000:]}"
            ready, _, _ = select.select([self.master], [], [], min(left, 0.2))
            if ready:
                try:
                    self.seen += os.read(self.master, 65536).decode(errors="replace")
                except OSError:  # the child closed the terminal
                    break
        self.seen = ANSI.sub("", self.seen).split(text, 1)[1]

    def send(self, line: str) -> None:
        os.write(self.master, (line + "\r").encode())

    def finish(self, timeout: float = 20) -> tuple[int, str]:
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None or select.select([self.master], [], [], 0)[0]:
            assert time.monotonic() < deadline, "runbook did not finish"
            if select.select([self.master], [], [], 0.2)[0]:
                try:
                    self.seen += os.read(self.master, 65536).decode(errors="replace")
                except OSError:
                    break
        os.close(self.master)
        return self.proc.wait(), ANSI.sub("", self.seen)


def test_a_person_answers_manual_steps_and_confirms_a_destructive_one(tmp_path: Path) -> None:
    """In a terminal: each manual step is asked, a destructive step needs a yes, the verdict is boxed."""
    (tmp_path / "runbooks").mkdir()
    marker = tmp_path / "wiped"
    (tmp_path / "runbooks" / "ops.yaml").write_text(f"""
kind: runbook
name: ops
sections:
  - name: People
    steps:
      - manual: Laptop charged
        owner: presenter
      - manual: Phone silenced
  - name: Machines
    steps:
      - {{name: Wipe the cache, action: shell, with: {{command: "touch {marker}"}}, destructive: true}}
""")
    term = Terminal(["run", "ops", "--operator", "alice"], tmp_path)
    term.expect("Laptop charged (owner: presenter)")
    term.expect("done, not done, or skip?")
    term.send("maybe")  # not an answer: asked again, with an example
    term.expect("answer d (done), n (not done) or s (skip)")
    term.send("done")
    term.expect("Phone silenced")
    term.send("n left it on loud")  # a note may follow the answer
    term.expect("DESTRUCTIVE")
    term.expect("shell: command=touch")  # what it will run, as key=value
    term.expect("run it? (no: skipping it makes the run NO-GO)")
    term.send("y")
    code, rest = term.finish()
    assert code == 1
    assert marker.exists()
    assert "NO-GO" in rest
    assert "People / Phone silenced failed: left it on loud" in rest
    assert "╭" in rest  # the verdict panel, drawn only on a terminal


def test_declining_the_destructive_step_skips_it(tmp_path: Path) -> None:
    """Answering no to a destructive step leaves it undone and says so."""
    (tmp_path / "runbooks").mkdir()
    marker = tmp_path / "wiped"
    (tmp_path / "runbooks" / "ops.yaml").write_text(f"""
kind: runbook
name: ops
sections:
  - name: Machines
    steps:
      - {{name: Wipe the cache, action: shell, with: {{command: "touch {marker}"}}, destructive: true, severity: warning}}
""")
    term = Terminal(["run", "ops"], tmp_path)
    term.expect("run it?")
    term.send("n")
    code, rest = term.finish()
    assert (code, marker.exists()) == (0, False)
    assert "destructive step declined by the operator" in rest


def test_the_decision_is_confirmed_by_name_in_a_terminal(tmp_path: Path) -> None:
    """A gate asks who confirms the decision; the answer is recorded with how it was given."""
    import json

    (tmp_path / "runbooks").mkdir()
    (tmp_path / "runbooks" / "gate.yaml").write_text("""
kind: runbook
name: gate
sections:
  - name: Checks
    steps:
      - {name: All good, check: shell, with: {command: "true"}}
gate: {stable_for: 0s}
""")
    report = tmp_path / "gate.json"
    term = Terminal(["run", "gate", "--report", str(report)], tmp_path)
    term.expect("DECISION")
    term.expect("gate: GO, readiness score 100/100")  # seen before confirming
    term.expect("your name to confirm (Enter for the name shown, - to leave unconfirmed)")
    term.send("bob")
    code, _ = term.finish()
    decision = json.loads(report.read_text())["extra"]["decision"]
    assert (code, decision["confirmed_by"], decision["how"], decision["verdict"]) == (
        0,
        "bob",
        "terminal",
        "GO",
    )
    # "-" leaves it unconfirmed (Enter would take the name shown).
    term = Terminal(["run", "gate", "--report", str(report)], tmp_path)
    term.expect("your name to confirm")
    term.send("-")
    code, _ = term.finish()
    decision = json.loads(report.read_text())["extra"]["decision"]
    assert (code, decision["confirmed_by"], decision["how"]) == (0, None, "unconfirmed")


def test_the_gate_countdown_moves_between_rounds() -> None:
    """Gate events come once a round (every 30 s in go-no-go): the live line counts down in
    between instead of showing the same number for the whole interval."""
    import io

    from rich.console import Console

    from runbook_engine.execute.events import GateProgress
    from runbook_engine.terminal.console import ConsoleView

    out = io.StringIO()
    console = Console(file=out, width=100, force_terminal=False)
    view = ConsoleView(console)
    view(GateProgress("go-no-go", remaining_s=30.0, stable_for_s=30.0, round=1, flaps=0, holding=True))

    def shown() -> float:
        probe = Console(file=io.StringIO(), width=100)
        probe.print(view.__rich__())
        text = probe.file.getvalue()  # type: ignore[attr-defined]
        return float(text.split(": ", 1)[1].split("s left", 1)[0])

    first = shown()
    time.sleep(1.2)
    assert 28.0 < shown() <= first - 1.0
