"""`runbook history` listings, formats, --since, and read-only --sql over the documented views."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from runbook_engine.history.rows import TABLES
from tests.conftest import Project
from tests.support.history import T0, journal, run_id_at, store

DOCS = Path(__file__).parents[2] / "docs" / "history.md"


@pytest.fixture
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Table output shows local times: pin the zone so the expected text is exact."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def three_runs(tmp_path: Path) -> list[str]:
    """demo at 09:00 (GO) and 10:00 (NO-GO), other at 11:00 (GO), 1 Nov 2026 UTC."""
    history = tmp_path / ".runbook" / "history"
    ids = []
    for n, (name, outcome) in enumerate([("demo", "passed"), ("demo", "failed"), ("other", "passed")]):
        t = T0 + timedelta(hours=n)
        ids.append(run_id_at(t, n))
        store(history, journal(ids[-1], t, {"a": ("passed", 1.5), "b": (outcome, 0.25)}, runbook=name))
    return ids


def test_list_runs_as_table_json_and_csv(project: Project, three_runs: list[str], utc: None) -> None:
    """Runs newest first with verdict, duration, environment and who; the same rows in every format."""
    table = project.cli("history")
    assert (table.code, table.err) == (0, "")
    assert table.out.splitlines() == [
        "started_at           runbook  kind  status    verdict  duration_s  environment  user    host      steps  passed  failed  run_id",
        f"2026-11-01 11:00:00  other    run   finished  GO       1.75s       local        tester  testhost  2      2       0       {three_runs[2]}",
        f"2026-11-01 10:00:00  demo     run   finished  NO-GO    1.75s       local        tester  testhost  2      1       1       {three_runs[1]}",
        f"2026-11-01 09:00:00  demo     run   finished  GO       1.75s       local        tester  testhost  2      2       0       {three_runs[0]}",
    ]
    rows = json.loads(project.cli("history", "demo", "--format", "json").out)
    assert rows[0] == {
        "started_at": "2026-11-01T10:00:00Z",
        "runbook": "demo",
        "kind": "run",
        "status": "finished",
        "verdict": "NO-GO",
        "duration_s": 1.75,
        "environment": "local",
        "user": "tester",
        "host": "testhost",
        "steps": 2,
        "passed": 1,
        "failed": 1,
        "run_id": three_runs[1],
    }
    assert [r["run_id"] for r in rows] == [three_runs[1], three_runs[0]]
    csv = project.cli("history", "--last", "1", "--format", "csv").out
    assert csv.splitlines() == [
        "started_at,runbook,kind,status,verdict,duration_s,environment,user,host,steps,passed,failed,run_id",
        f"2026-11-01T11:00:00Z,other,run,finished,GO,1.75,local,tester,testhost,2,2,0,{three_runs[2]}",
    ]


def test_since_takes_dates_times_and_ages(project: Project, three_runs: list[str], utc: None) -> None:
    """--since accepts a date, a time with a zone, or an age; a bad one is a usage error."""

    def since(text: str) -> list[str]:
        result = project.cli("history", "--since", text, "--format", "json")
        assert result.code == 0, result.err
        return [r["run_id"] for r in json.loads(result.out)]

    assert since("2026-11-01T10:00:00Z") == [three_runs[2], three_runs[1]]
    assert since("2026-11-01 10:30+01:00") == [three_runs[2], three_runs[1]]
    assert since("2026-11-01 10:00:01") == [three_runs[2]]  # local time (UTC here)
    assert since("2026-11-02") == []
    assert since("36500d") == three_runs[::-1]  # ages are bounded at 100 years
    bad = project.cli("history", "--since", "last tuesday")
    assert (bad.code, bad.err) == (
        2,
        "--since 'last tuesday': write a date (2026-11-01), a time ('2026-11-01 14:00') or an age (7d, 12h)\n",
    )


def test_sql_reads_the_views(project: Project, three_runs: list[str]) -> None:
    """--sql runs one SELECT (or WITH) over runs, sections, steps and drills."""
    result = project.cli(
        "history",
        "--sql",
        "WITH s AS (SELECT runbook, outcome FROM steps) "
        "SELECT runbook, count(*) FILTER (outcome = 'failed') AS failures FROM s GROUP BY ALL ORDER BY 1",
        "--format",
        "json",
    )
    assert (result.code, json.loads(result.out)) == (
        0,
        [{"runbook": "demo", "failures": 1}, {"runbook": "other", "failures": 0}],
    )
    sections = project.cli(
        "history", "--sql", "SELECT section, duration_s, over_budget FROM sections LIMIT 1", "-f", "csv"
    )
    assert sections.out == "section,duration_s,over_budget\nMain,1.75,\n"
    reasons = project.cli("history", "--sql", "SELECT reasons, extra FROM runs LIMIT 1", "-f", "json")
    assert json.loads(reasons.out) == [{"reasons": [], "extra": {}}]


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("DELETE FROM runs", "--sql: only SELECT (or WITH ... SELECT) is allowed, not DELETE"),
        ("SELECT 1; DROP TABLE store.runs", "--sql: give exactly one SELECT statement, not 2"),
        ("COPY runs TO 'out.csv'", "--sql: only SELECT (or WITH ... SELECT) is allowed, not COPY"),
        ("ATTACH 'x.duckdb' AS x", "--sql: only SELECT (or WITH ... SELECT) is allowed, not ATTACH"),
        ("SELECT * FROM nowhere", "--sql: Catalog Error: Table with name nowhere does not exist!"),
        ("SELEC 1", '--sql: Parser Error: syntax error at or near "SELEC"'),
    ],
)
def test_sql_refuses_anything_but_one_select(
    project: Project, three_runs: list[str], sql: str, message: str
) -> None:
    """Writes, several statements, COPY and ATTACH are refused with exit 2; errors are one line."""
    result = project.cli("history", "--sql", sql)
    assert result.code == 2
    assert result.err.startswith(message), result.err
    assert "\n" not in result.err.rstrip("\n")


def test_sql_cannot_read_files_or_change_the_store(project: Project, three_runs: list[str]) -> None:
    """A SELECT may not read files (external access is off) and the store is attached read-only."""
    result = project.cli("history", "--sql", "SELECT * FROM read_csv('/etc/passwd')")
    assert result.code == 2
    assert "file system operations are disabled by configuration" in result.err
    result = project.cli("history", "--sql", "SELECT * FROM runs", "-f", "json")
    assert len(json.loads(result.out)) == 3


def test_option_combinations_are_checked(project: Project) -> None:
    """Options that do not go together are usage errors with a one-line reason."""
    cases = {
        ("--sql", "SELECT 1", "demo"): "--sql stands alone: put filters in the query",
        ("demo", "--steps", "--drills"): "choose one of --steps and --drills",
        ("--keep", "3"): "--keep and --days go with `runbook history prune`",
        ("demo", "--steps", "--since", "7d"): "--steps looks at the last N runs: use --last, not --since",
        ("prune", "--steps"): "history prune takes only --keep and --days",
    }
    for args, message in cases.items():
        result = project.cli("history", *args)
        assert (result.code, result.err) == (2, message + "\n"), args


def test_docs_describe_every_view_column() -> None:
    """docs/history.md lists exactly the columns of the runs, sections and steps views, in order."""
    text = DOCS.read_text(encoding="utf-8")
    for table, columns in TABLES.items():
        section = text.split(f"### `{table}`", 1)[1].split("###", 1)[0]
        documented = re.findall(r"^\| `([a-z_0-9]+)` \|", section, flags=re.MULTILINE)
        assert documented == [c for c, _ in columns], table
    drills = text.split("### `drills`", 1)[1].split("##", 1)[0]
    documented = re.findall(r"^\| `([a-z_0-9]+)` \|", drills, flags=re.MULTILINE)
    assert documented == [
        "run_id", "contingency", "mode", "started_at", "finished_at", "status", "verdict", "environment", "user",
        "host", "rto_s", "time_to_detect_s", "time_to_recover_s", "within_rto", "margin_s", "file_sha256",
        "journal",
    ]  # fmt: skip
