"""ansible: real ansible-playbook runs through ansible-runner on localhost (connection local).

Each run costs ~2 s, so the module makes few of them: a passing run (shared by several
tests), a failing one, one for limit/tags/skip_tags/check_mode, a timeout, a cancel during a
task and a playbook that does not parse (the cancel before start costs ~0.3 s). The other tests fail before Ansible starts.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from runbook_engine.plugin import StepError
from runbook_engine.plugins import ansible
from runbook_engine.testing import run_plugin
from tests.support.ansible import (
    Evidence,
    files_containing,
    ini_inventory,
    mapping_inventory,
    write_playbook,
)
from tests.support.imports import loaded_after_import

SECRET = "tok-9f3c1d-S3CRET"
ZERO = {"ok": 0, "changed": 0, "failed": 0, "unreachable": 0, "skipped": 0, "rescued": 0, "ignored": 0}

PASSING = """
- name: Deploy
  hosts: all
  gather_facts: false
  tasks:
    - name: Remember the release
      ansible.builtin.set_fact:
        release: "{{ version }}"
    - name: Write the release marker
      ansible.builtin.copy:
        content: "{{ release }} {{ token }}\\n"
        dest: "{{ out_dir }}/marker.txt"
        mode: "0600"
    - name: Announce {{ token }}
      ansible.builtin.debug:
        msg: "deployed with {{ token }}"
"""

FAILING = """
- hosts: all
  gather_facts: false
  tasks:
    - name: Probe that may fail
      ansible.builtin.command: /bin/false
      ignore_errors: true
    - name: Check disk
      ansible.builtin.fail:
        msg: disk is full
    - name: Never reached
      ansible.builtin.debug:
        msg: unreachable
"""

OPTIONS = """
- hosts: all
  gather_facts: false
  tasks:
    - name: Write tagged marker
      ansible.builtin.copy:
        content: "x\\n"
        dest: "{{ out_dir }}/{{ inventory_hostname }}-tagged.txt"
      tags: [deploy]
    - name: Noisy tagged task
      ansible.builtin.fail:
        msg: should have been skipped
      tags: [deploy, noisy]
    - name: Untagged task
      ansible.builtin.fail:
        msg: should not run without its tag
"""

SLOW = """
- hosts: all
  gather_facts: false
  tasks:
    - name: Sleep a long time
      ansible.builtin.command: sleep 29.7
"""


def normalise(lines: list[str]) -> list[str]:
    return [re.sub(r"\(\d+\.\d\ds\)", "(N.NNs)", line) for line in lines]


def durations(out: dict[str, Any]) -> list[float]:
    return [task.pop("duration_s") for task in out["tasks"]]


@pytest.fixture(scope="module")
def passing(tmp_path_factory: pytest.TempPathFactory) -> tuple[Evidence, dict[str, Any], Path]:
    root = tmp_path_factory.mktemp("ansible-pass")
    evidence = Evidence(project=root / "project", run_dir=root / "run")
    write_playbook(evidence.project / "playbooks", PASSING, "deploy.yml")
    out_dir = root / "out"
    out_dir.mkdir()
    ctx = evidence.context(secrets={"DEPLOY_TOKEN": SECRET})
    out = run_plugin(
        ansible,
        {
            "playbook": "playbooks/deploy.yml",
            "inventory": ini_inventory("localhost"),
            "extra_vars": {"version": "1.4.2", "token": SECRET, "out_dir": str(out_dir)},
        },
        ctx,
    )
    return evidence, out, out_dir


def test_passing_playbook_reports_facts(passing: tuple[Evidence, dict[str, Any], Path]) -> None:
    """A passing run: status, rc, per-host stats and per-task results (secret masked in names)."""
    _, out, _ = passing
    out = json.loads(json.dumps(out))  # plain JSON data, and a copy we may change
    assert all(d >= 0 for d in durations(out))
    assert out == {
        "status": "successful",
        "rc": 0,
        "stats": {"localhost": {**ZERO, "ok": 3, "changed": 1}},
        "tasks": [
            {"host": "localhost", "task": "Remember the release", "status": "ok"},
            {"host": "localhost", "task": "Write the release marker", "status": "changed"},
            {"host": "localhost", "task": "Announce ********", "status": "ok"},
        ],
        "failed_tasks": [],
    }


def test_playbook_really_ran(passing: tuple[Evidence, dict[str, Any], Path]) -> None:
    """The playbook's file exists with the extra vars it was given."""
    _, _, out_dir = passing
    assert (out_dir / "marker.txt").read_text() == f"1.4.2 {SECRET}\n"


def test_evidence_lines(passing: tuple[Evidence, dict[str, Any], Path]) -> None:
    """ctx.log gets the command, one line per task and host, and the recap."""
    evidence, _, _ = passing
    assert normalise(evidence.lines) == [
        "ansible-playbook deploy.yml -e <3 extra vars>",
        "ok localhost: Remember the release (N.NNs)",
        "changed localhost: Write the release marker (N.NNs)",
        "ok localhost: Announce ******** (N.NNs)",
        "recap localhost: ok=3 changed=1 failed=0 unreachable=0 skipped=0 rescued=0 ignored=0",
    ]


def test_secret_is_kept_nowhere(passing: tuple[Evidence, dict[str, Any], Path]) -> None:
    """The extra var's secret is in no file under the run folder, nor in outputs or evidence."""
    evidence, out, _ = passing
    assert files_containing(evidence.run_dir, SECRET) == []
    assert list((evidence.run_dir / "ansible").iterdir()) == []  # private data dir removed
    assert SECRET not in json.dumps(out)
    assert not [line for line in evidence.lines if SECRET in line]


def test_failing_task_is_a_fact(tmp_path: Path) -> None:
    """A failing task gives status failed, rc 2 and the task's message; ignored errors are not failures."""
    evidence = Evidence(project=tmp_path / "project", run_dir=tmp_path / "run")
    write_playbook(evidence.project, FAILING)
    out = run_plugin(
        ansible, {"playbook": "site.yml", "inventory": ini_inventory("localhost")}, evidence.context()
    )
    durations(out)
    assert out == {
        "status": "failed",
        "rc": 2,
        "stats": {
            "localhost": {**ZERO, "ok": 1, "changed": 1, "failed": 1, "ignored": 1}
        },  # command: changed
        "tasks": [
            {"host": "localhost", "task": "Probe that may fail", "status": "ignored"},
            {"host": "localhost", "task": "Check disk", "status": "failed"},
        ],
        "failed_tasks": [{"host": "localhost", "task": "Check disk", "message": "disk is full"}],
    }
    assert normalise(evidence.lines)[1:3] == [
        "ignored localhost: Probe that may fail (N.NNs) - non-zero return code",
        "failed localhost: Check disk (N.NNs) - disk is full",
    ]


def test_limit_tags_skip_tags_check_mode_verbosity(tmp_path: Path) -> None:
    """limit, tags, skip_tags, check_mode and verbosity reach ansible-playbook; a mapping inventory works."""
    evidence = Evidence(project=tmp_path / "project", run_dir=tmp_path / "run")
    write_playbook(evidence.project, OPTIONS)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = run_plugin(
        ansible,
        {
            "playbook": "site.yml",
            "inventory": mapping_inventory("localhost", "sidecar"),
            "limit": "localhost",
            "tags": "deploy",
            "skip_tags": ["noisy"],
            "check_mode": True,
            "verbosity": 2,
            "extra_vars": {"out_dir": str(out_dir)},
        },
        evidence.context(),
    )
    durations(out)
    assert (out["status"], out["rc"]) == ("successful", 0)
    assert out["stats"] == {"localhost": {**ZERO, "ok": 1, "changed": 1}}
    assert out["tasks"] == [{"host": "localhost", "task": "Write tagged marker", "status": "changed"}]
    assert list(out_dir.iterdir()) == []  # check mode reported the change without making it
    assert evidence.lines[0] == (
        "ansible-playbook site.yml --limit localhost --tags deploy --skip-tags noisy --check -vv "
        "-e <1 extra vars>"
    )
    assert any(line.startswith("ansible-playbook [core 2.") for line in evidence.lines)  # -vv output


def test_timeout_stops_the_playbook(tmp_path: Path) -> None:
    """The attempt's timeout is ansible-runner's: the run is killed and the step errors."""
    evidence = Evidence(project=tmp_path / "project", run_dir=tmp_path / "run")
    write_playbook(evidence.project, SLOW)
    start = time.monotonic()
    with pytest.raises(StepError) as err:
        run_plugin(
            ansible,
            {"playbook": "site.yml", "inventory": ini_inventory("localhost")},
            evidence.context(timeout=3),
        )
    assert time.monotonic() - start < 8
    assert str(err.value) == "timed out after 3s; ansible-playbook was stopped after 0 task results"
    assert list((evidence.run_dir / "ansible").iterdir()) == []
    assert _sleepers() == []


def test_cancel_before_start_stops_the_playbook(tmp_path: Path) -> None:
    """A run cancelled before any task (ctx.cancel already set) ends at once as a step error."""
    evidence = Evidence(project=tmp_path / "project", run_dir=tmp_path / "run")
    write_playbook(evidence.project, SLOW)
    ctx = evidence.context()
    ctx.cancel.set()
    start = time.monotonic()
    with pytest.raises(StepError) as err:
        run_plugin(ansible, {"playbook": "site.yml", "inventory": ini_inventory("localhost")}, ctx)
    assert time.monotonic() - start < 5
    assert str(err.value) == "cancelled; ansible-playbook was stopped after 0 task results"


def test_cancel_during_a_task_stops_the_task_too(tmp_path: Path) -> None:
    """Cancelled while a task runs: Ansible's worker and its `sleep` end too, not only ansible-playbook."""
    evidence = Evidence(project=tmp_path / "project", run_dir=tmp_path / "run")
    write_playbook(evidence.project, SLOW)
    ctx = evidence.context()
    cancelled_at: list[float] = []
    seen_sleeping: list[bool] = []

    def cancel_once_sleeping() -> None:
        deadline = time.monotonic() + 30
        while not _sleepers() and time.monotonic() < deadline:
            time.sleep(0.1)
        seen_sleeping.append(bool(_sleepers()))
        cancelled_at.append(time.monotonic())
        ctx.cancel.set()

    watcher = threading.Thread(target=cancel_once_sleeping)
    watcher.start()
    with pytest.raises(StepError) as err:
        run_plugin(ansible, {"playbook": "site.yml", "inventory": ini_inventory("localhost")}, ctx)
    watcher.join()
    assert seen_sleeping == [True], "the task's sleep never started: nothing was cancelled mid-task"
    assert time.monotonic() - cancelled_at[0] < 3
    assert str(err.value) == "cancelled; ansible-playbook was stopped after 0 task results"
    assert _sleepers() == []
    assert list((evidence.run_dir / "ansible").iterdir()) == []


def test_unparseable_playbook_is_a_step_error(tmp_path: Path) -> None:
    """A playbook Ansible cannot load never ran: a step error quoting Ansible."""
    evidence = Evidence(project=tmp_path / "project", run_dir=tmp_path / "run")
    write_playbook(evidence.project, "- hosts: all\n  tasks:\n    - name: x\n      no_such_module_here: {}\n")
    with pytest.raises(StepError) as err:
        run_plugin(
            ansible, {"playbook": "site.yml", "inventory": ini_inventory("localhost")}, evidence.context()
        )
    message = str(err.value)
    assert message.startswith("ansible-playbook could not run site.yml (rc 4): ")
    assert "no_such_module_here" in message


def test_missing_playbook_is_a_step_error(tmp_path: Path) -> None:
    """A playbook path that does not exist fails the step before Ansible starts."""
    evidence = Evidence(project=tmp_path / "project", run_dir=tmp_path / "run")
    with pytest.raises(StepError) as err:
        run_plugin(ansible, {"playbook": "nope.yml"}, evidence.context())
    assert str(err.value) == f"playbook not found: {evidence.project / 'nope.yml'}"


def test_missing_inventory_file_is_a_step_error(tmp_path: Path) -> None:
    """A one-line inventory is a path; a missing one fails the step with a hint."""
    evidence = Evidence(project=tmp_path / "project", run_dir=tmp_path / "run")
    write_playbook(evidence.project, SLOW)
    with pytest.raises(StepError) as err:
        run_plugin(ansible, {"playbook": "site.yml", "inventory": "hosts.ini"}, evidence.context())
    assert str(err.value) == (
        f"inventory not found: {evidence.project / 'hosts.ini'} "
        "(an inline inventory needs at least one line break)"
    )


def test_ansible_not_installed_is_a_step_error_with_hint(tmp_path: Path) -> None:
    """Without ansible-runner the step errors with the pip install hint."""
    # Uninstalling for real is not an option in a shared virtualenv: block the import instead.
    code = (
        "import sys; sys.modules['ansible_runner'] = None\n"
        "from runbook_engine.plugins import ansible\n"
        "from runbook_engine.testing import run_plugin\n"
        "try:\n"
        "    run_plugin(ansible, {'playbook': 'site.yml'})\n"
        "except Exception as exc:\n"
        "    print(type(exc).__name__, exc)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == (
        "MissingDependency ansible_runner is not installed (import of ansible_runner halted; "
        "None in sys.modules); install it with: pip install 'runbook-engine[ansible]'"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({}, "playbook\n  Field required"),
        ({"playbook": " "}, "playbook must name a playbook file"),
        ({"playbook": "a.yml", "inventory": ""}, "inventory must be a path or an inline inventory"),
        ({"playbook": "a.yml", "tags": "deploy,,db"}, "tags must be non-empty names"),
        ({"playbook": "a.yml", "verbosity": 5}, "less than or equal to 4"),
        ({"playbook": "a.yml", "extra_vars": ["a=1"]}, "Input should be a valid dictionary"),
        ({"playbook": "a.yml", "become": True}, "Extra inputs are not permitted"),
    ],
)
def test_spec_rejects_bad_arguments(args: dict[str, Any], message: str) -> None:
    """Mistakes in `with:` are load errors with a helpful message."""
    with pytest.raises(ValidationError, match=message):
        ansible.Spec.model_validate(args)


def test_tags_accept_a_comma_list() -> None:
    """tags: "a,b" (Ansible's spelling) and [a, b] mean the same."""
    assert ansible.Spec.model_validate({"playbook": "a.yml", "tags": "deploy, db"}).tags == ["deploy", "db"]


def test_import_is_light() -> None:
    """Importing the plugin does not import ansible_runner."""
    assert loaded_after_import("runbook_engine.plugins.ansible", ("ansible_runner",)) == []


def _sleepers() -> list[str]:
    """`sleep 29.7` processes left behind by the playbook (there must be none)."""
    ps = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True, check=True)
    return [line for line in ps.stdout.splitlines() if line.strip().endswith("sleep 29.7")]
