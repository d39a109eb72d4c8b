"""The drill's time to recover against a recovery whose real moment is known exactly."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from tests.conftest import Project
from tests.drills.recovery_server import RecoveryServer, contingency


def _error_s(journal: dict[str, object]) -> float:
    """Measured recovery moment (detected_at + time_to_recover_s) minus the real one."""
    drill = journal["extra"]["drill"]  # type: ignore[index]
    measured = datetime.fromisoformat(drill["detected_at"]).timestamp() + drill["time_to_recover_s"]
    return float(measured - journal["_true"])  # type: ignore[operator]


def test_time_to_recover_is_close_to_the_real_recovery_at_the_default_poll(
    project: Project, tmp_path: Path
) -> None:
    """At the default poll the measured recovery brackets the real one: within its stated bound, and 200 ms."""
    report = tmp_path / "recover.json"
    with RecoveryServer() as server:
        # 0.35 s: a moment just after an old-style round (every poll + a check) had started.
        project.write("runbooks/c.yaml", contingency(server.url, after=0.35))
        result = project.cli("recover", "api-down", "--report", str(report))
        true_moment = server.recovered_wall
    assert result.code == 0, result.out
    journal = json.loads(report.read_text())
    journal["_true"] = true_moment
    drill = journal["extra"]["drill"]
    assert (drill["recovered"], drill["within_rto"]) == (True, True)
    # The real moment lies between the last observation that failed and the first that
    # passed; the drill reports their middle and half their distance (+ slack for load).
    assert "time_to_recover_within_s" in drill, drill
    assert abs(_error_s(journal)) <= drill["time_to_recover_within_s"] + 0.05, (_error_s(journal), drill)
    assert abs(_error_s(journal)) < 0.2, _error_s(journal)
    assert drill["time_to_recover_s"] > 0.35 - 0.2  # the recovery came 0.35 s after the detection, or later


def test_recovered_at_and_detected_at_agree_with_the_time_to_recover(
    project: Project, tmp_path: Path
) -> None:
    """recovered_at - detected_at is time_to_recover_s: the wall times name the same moments."""
    report = tmp_path / "recover.json"
    with RecoveryServer() as server:
        project.write("runbooks/c.yaml", contingency(server.url, after=0.1))
        assert project.cli("recover", "api-down", "--report", str(report)).code == 0
    drill = json.loads(report.read_text())["extra"]["drill"]
    span = datetime.fromisoformat(drill["recovered_at"]) - datetime.fromisoformat(drill["detected_at"])
    assert abs(span.total_seconds() - drill["time_to_recover_s"]) < 0.002


def test_a_recovery_between_two_looks_is_dated_at_their_middle() -> None:
    """Verify: failing at 1.00 s and passing at 1.10 s dates the recovery 1.05 s, within 0.05 s."""
    from runbook_engine.execute.drill import Seen, _judge

    seen, before = _judge([(False, 1.00)], want_pass=True, before=None, now=1.01)
    assert (seen, before) == (Seen(False, 1.01), 1.00)
    seen, _ = _judge([(True, 1.10)], want_pass=True, before=before, now=1.11)
    assert seen.done and abs(seen.when - 1.05) < 1e-9 and abs((seen.within or 0) - 0.05) < 1e-9


def test_with_no_earlier_look_the_first_look_is_the_moment() -> None:
    """Detect seeing the scenario in its first round dates it at that look, with no bound claimed."""
    from runbook_engine.execute.drill import Seen, _judge

    # Two checks; the second fails first seen at 2.3 s: the scenario is seen there.
    assert _judge([(True, 2.1), (False, 2.3)], want_pass=False, before=None, now=2.4) == (
        Seen(True, 2.3),
        None,
    )
    # Every check still passes: not seen, and the latest passing look is kept for bracketing.
    assert _judge([(True, 2.1), (True, 2.3)], want_pass=False, before=None, now=2.4) == (
        Seen(False, 2.4),
        2.3,
    )


def test_a_check_is_timed_at_the_middle_of_its_request() -> None:
    """With elapsed_ms the look is the request's middle (end - elapsed/2); without, the check's middle."""
    from runbook_engine.execute.drill import _observed
    from runbook_engine.journal import StepResult

    http = StepResult(id="a", name="a", kind="check", outputs={"elapsed_ms": 4.0})
    assert abs(_observed(10.0, 10.1, http) - (10.1 - 0.002)) < 1e-9
    shell = StepResult(id="b", name="b", kind="check", outputs={"exit_code": 0})
    assert abs(_observed(10.0, 10.1, shell) - 10.05) < 1e-9


def test_past_the_rto_the_drill_polls_every_poll_interval(project: Project, tmp_path: Path) -> None:
    """Fast rounds stop at the RTO: a recovery 1 s after a 10 ms RTO, at --poll 400ms, takes at most 5 verify rounds."""
    report = tmp_path / "recover.json"
    with RecoveryServer() as server:
        project.write("runbooks/c.yaml", contingency(server.url, after=1.0, rto="10ms"))
        result = project.cli("recover", "api-down", "--poll", "400ms", "--report", str(report))
    assert result.code == 1  # the RTO was missed, as intended
    verify = json.loads(report.read_text())["sections"][-1]
    # Rounds 400 ms apart over ~1 s: 3 or 4 (a loaded machine only makes fewer);
    # rounds 20 ms apart would be 10 or more.
    assert verify["name"] == "Verify" and 2 <= verify["steps"][0]["attempts"] <= 5, verify["steps"][0]
