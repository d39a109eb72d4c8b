"""Retention: `runbook history prune --keep/--days`, and the default from the environment."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from runbook_engine.history.index import current_generation, read_runs
from tests.conftest import Project
from tests.support.history import T0, journal, records, run_id_at, store

QUICK = """
    kind: runbook
    name: quick
    sections:
      - name: Only
        steps:
          - {name: First, check: shell, with: {command: "true"}}
"""


def _ids(project: Project) -> list[str]:
    result = project.cli("history", "--last", "100", "--format", "json")
    assert result.code == 0, result.err
    return [r["run_id"] for r in json.loads(result.out)]


def test_prune_keeps_the_last_runs_of_each_runbook(project: Project, tmp_path: Path) -> None:
    """--keep N keeps the N newest runs of every runbook; the index is compacted without the rest."""
    history = tmp_path / ".runbook" / "history"
    ids: dict[str, list[str]] = {"demo": [], "other": []}
    for n in range(5):
        for name, kept in ids.items():
            t = T0 + timedelta(hours=n)
            kept.append(run_id_at(t, n))
            store(history, journal(kept[-1], t, {"a": ("passed", 1.0)}, runbook=name))
    assert len(_ids(project)) == 10  # indexed by this first reader
    result = project.cli("history", "prune", "--keep", "2")
    assert (result.code, result.out) == (0, "pruned 6 runs; kept the last 2 runs of each runbook\n")
    assert sorted(_ids(project)) == sorted(ids["demo"][3:] + ids["other"][3:])
    gen = current_generation(history)
    assert gen is not None and len(read_runs(gen)) == 4  # compacted: the pruned entries are gone
    assert (gen / "steps.csv").read_text().count("\n") == 4
    stored = json.loads(project.cli("history", "--sql", "SELECT count(*) AS n FROM steps", "-f", "json").out)
    assert stored == [{"n": 4}]
    assert [r["journal"]["run_id"] for r in records(history, "demo")] == ids["demo"][3:]


def test_prune_by_age_spares_a_running_run(project: Project, tmp_path: Path) -> None:
    """--days N deletes finished runs older than N days, never a run still in progress."""
    history = tmp_path / ".runbook" / "history"
    now = datetime.now(UTC).replace(microsecond=0)
    old, recent, running = now - timedelta(days=40), now - timedelta(days=2), now - timedelta(days=50)
    store(history, journal(run_id_at(old, 1), old, {"a": ("passed", 1.0)}))
    store(history, journal(run_id_at(recent, 2), recent, {"a": ("passed", 1.0)}))
    store(history, journal(run_id_at(running, 3), running, {"a": ("passed", 1.0)}, status="running"))
    result = project.cli("history", "prune", "--days", "30")
    assert (result.code, result.out) == (0, "pruned 1 runs; kept runs of the last 30 days\n")
    assert sorted(_ids(project)) == sorted([run_id_at(recent, 2), run_id_at(running, 3)])


def test_prune_needs_a_setting(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without --keep/--days or the environment default, prune says what to give; bad values exit 2."""
    result = project.cli("history", "prune")
    assert (result.code, result.err) == (
        2,
        "history prune: say what to keep with --keep N (runs of each runbook) and/or --days N, "
        "or set RUNBOOK_HISTORY_KEEP / RUNBOOK_HISTORY_DAYS\n",
    )
    monkeypatch.setenv("RUNBOOK_HISTORY_KEEP", "many")
    result = project.cli("history", "prune")
    assert (result.code, result.err) == (2, "history prune: $RUNBOOK_HISTORY_KEEP='many' is not a number\n")
    result = project.cli("history", "prune", "--days", "0")
    assert (result.code, result.err) == (2, "history prune: days must be more than 0, got 0\n")


def test_retention_from_the_environment_applies_after_each_run(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With RUNBOOK_HISTORY_KEEP=2, each run prunes its runbook to 2 records; a bad value stops the run."""
    project.runbook("quick", QUICK)
    monkeypatch.setenv("RUNBOOK_HISTORY_KEEP", "2")
    for _ in range(4):
        assert project.cli("run", "quick").code == 0
    assert len(records(tmp_path / ".runbook" / "history", "quick")) == 2
    assert len(_ids(project)) == 2
    monkeypatch.setenv("RUNBOOK_HISTORY_KEEP", "0")
    result = project.cli("run", "quick")
    assert (result.code, result.err) == (
        2,
        "history retention: $RUNBOOK_HISTORY_KEEP='0' must be more than 0\n",
    )
    assert len(records(tmp_path / ".runbook" / "history", "quick")) == 2


def test_a_runs_retention_compacts_the_index_once_enough_records_went(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deleted records are counted per index generation; at COMPACT_EVERY the index is rewritten without them."""
    from runbook_engine.history import retention
    from runbook_engine.history.store import load

    monkeypatch.setattr(retention, "COMPACT_EVERY", 3)
    history = tmp_path / "history"
    for n in range(6):
        t = T0 + timedelta(hours=n)
        store(history, journal(run_id_at(t, n), t, {"a": ("passed", 1.0)}))
    load(history)  # indexes the six
    gen = current_generation(history)
    assert gen is not None and len(read_runs(gen)) == 6
    now = datetime.now(UTC)
    removed = retention.prune_folder(history, "run", "demo", retention.Retention(keep=5), now)
    assert (len(removed), retention.compact_if_due(history, len(removed))) == (1, 0)  # 1 of 3: not yet
    assert current_generation(history) == gen and len(read_runs(gen)) == 6
    removed = retention.prune_folder(history, "run", "demo", retention.Retention(keep=3), now)
    assert (len(removed), retention.compact_if_due(history, len(removed))) == (2, 3)  # 3 of 3: compacted
    new = current_generation(history)
    assert new is not None and new != gen and len(read_runs(new)) == 3
    snap = load(history)
    assert [len(snap.steps(run)) for run in snap.runs] == [1, 1, 1]  # blocks found at their new offsets
