"""`history --sql` is bounded: a time limit, a memory limit, no files, and no lock held while it runs."""

from __future__ import annotations

import json
import subprocess
import time
from datetime import timedelta
from pathlib import Path

from tests.conftest import Project
from tests.support.history import (
    QUICK_RUNBOOK,
    T0,
    history_json,
    journal,
    records,
    run_id_at,
    runbook_cmd,
    store,
)

ENDLESS = "SELECT count(*) AS n FROM range(1000000000000)"


def _history(root: Path) -> Path:
    folder = root / ".runbook" / "history"
    t = T0
    store(folder, journal(run_id_at(t, 1), t, {"a": ("passed", 1.0)}))
    return folder


def test_endless_query_stops_at_the_time_limit(project: Project) -> None:
    """The query of issue 13 stops at --sql-timeout with exit 2 and a one-line reason."""
    _history(project.root)
    began = time.monotonic()
    result = project.cli("history", "--sql", ENDLESS, "--sql-timeout", "1s")
    took = time.monotonic() - began
    assert (result.code, result.out) == (2, "")
    assert result.err == (
        "--sql: stopped after 1s, the time limit; narrow the query or allow more with --sql-timeout "
        "(e.g. --sql-timeout 5m)\n"
    )
    assert took < 30  # stopped, not run to the end (that would take hours)


def test_memory_limit_is_a_clear_error(project: Project) -> None:
    """A query that needs more memory than --sql-memory fails with exit 2 and says which limit."""
    _history(project.root)
    greedy = "SELECT max(len(s)) AS n FROM (SELECT string_agg(repeat('x', 1000), '') AS s FROM range(200000))"
    result = project.cli("history", "--sql", greedy, "--sql-memory", "20MB")
    assert (result.code, result.out) == (2, "")
    assert result.err == (
        "--sql: the query needs more than 20MB of memory, the limit; narrow it or allow more with --sql-memory\n"
    )
    fine = project.cli("history", "--sql", greedy, "--sql-memory", "2GB", "-f", "json")
    assert (fine.code, json.loads(fine.out)) == (0, [{"n": 200_000_000}])


def test_bad_limits_are_usage_errors(project: Project) -> None:
    """A limit that is not a duration or a size, or a limit without --sql, exits 2 before running anything."""
    _history(project.root)
    cases = [
        (["--sql", "SELECT 1", "--sql-timeout", "soon"], "--sql-timeout 'soon': "),
        (["--sql", "SELECT 1", "--sql-memory", "lots"], "--sql-memory 'lots': "),
        (["--sql-timeout", "5s"], "--sql-timeout and --sql-memory go with --sql\n"),
    ]
    for args, start in cases:
        result = project.cli("history", *args)
        assert result.code == 2, args
        assert result.err.startswith(start), result.err
        assert result.err.count("\n") == 1


def test_no_file_but_the_index_can_be_read(project: Project) -> None:
    """read_csv of /etc/passwd or of the record files fails: the query sees the views only."""
    folder = _history(project.root)
    record = next((folder / "runs" / "demo").glob("*.json"))
    for query in (
        "SELECT * FROM read_csv('/etc/passwd')",
        f"SELECT * FROM read_json('{record}')",
        "SELECT * FROM glob('/*')",
    ):
        result = project.cli("history", "--sql", query)
        assert result.code == 2, query
        assert result.err.startswith("--sql: Permission Error: "), result.err


def test_a_long_query_blocks_no_run_and_no_prune(project: Project) -> None:
    """While an endless --sql query runs, a run records (index append) and a prune compacts the index."""
    root = project.root
    folder = _history(root)
    (root / "runbooks").mkdir(exist_ok=True)
    (root / "runbooks" / "quick.yaml").write_text(QUICK_RUNBOOK.lstrip(), encoding="utf-8")
    query = subprocess.Popen(
        runbook_cmd("history", "--sql", ENDLESS, "--sql-timeout", "60s"),
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(1.0)  # the query is running (nothing else would keep it busy for 60 s)
        assert query.poll() is None
        ran = subprocess.run(
            runbook_cmd("run", "quick"), cwd=root, capture_output=True, text=True, timeout=50
        )
        assert ran.returncode == 0, ran.stderr
        assert len(records(folder, "quick")) == 1
        for n in range(2, 5):
            t = T0 + timedelta(hours=n)
            store(folder, journal(run_id_at(t, n), t, {"a": ("passed", 1.0)}))
        pruned = subprocess.run(
            runbook_cmd("history", "prune", "--keep", "1"),
            cwd=root,
            capture_output=True,
            text=True,
            timeout=50,
        )
        assert (pruned.returncode, pruned.stdout) == (
            0,
            "pruned 3 runs; kept the last 1 runs of each runbook\n",
        )
        assert query.poll() is None  # still running: neither had to wait for it
        listed = history_json(root, "--last", "10")
        assert sorted(r["runbook"] for r in listed) == ["demo", "quick"]
    finally:
        query.kill()
        query.communicate()
