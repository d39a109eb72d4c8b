"""The same N local HTTP checks written for each tool of benchmarks/peers.py.

Every check is `GET <url>`, expecting status 200 and `status: healthy` in the JSON body,
written the way a user of that tool would write it:

- runbook: one section of `check: http` steps with `expect: [status == 200, json.status == "healthy"]`,
  run with `--no-history` (Chaos Toolkit writes its journal, but recording into the history
  is measured by history_recording.py);
- Chaos Toolkit: a steady-state hypothesis of `http` probes, each with a Python probe as its
  tolerance (a status code and a JSON field; Chaos Toolkit's own tolerances test one or the other);
- pyinfra: `python.call` operations on `@local` whose callback does the GET (pyinfra has no HTTP
  operation; a callback is its cheapest faithful form, cheaper than `server.shell` with curl);
- ansible-playbook: `ansible.builtin.uri` tasks with `failed_when` on the status and the field.

Each tool's own verdict is read the way its user would read it: the exit code, and for Chaos
Toolkit also the journal (a hypothesis that is not met before the method exits 0 by design).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Case:
    """One prepared command: a tool, N checks against given URLs, in its own folder."""

    argv: list[str]
    cwd: Path
    env: dict[str, str]
    passed: Callable[[subprocess.CompletedProcess[bytes]], bool] = field(
        default=lambda proc: proc.returncode == 0
    )


def base_env(venv_bin: Path) -> dict[str, str]:
    env = dict(os.environ)
    # Use bytecode caches as an installed tool would (the peers' are compiled by pip; ours
    # is written on the warm-up run), whatever the caller's shell says.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["NO_COLOR"] = "1"
    env["PATH"] = f"{venv_bin}{os.pathsep}{env.get('PATH', '')}"
    return env


def runbook_case(work: Path, urls: list[str], venv_bin: Path, tree: Path = ROOT) -> Case:
    """`tree`: the folder whose runbook_engine/ runs (an earlier commit's, for before/after)."""
    steps = "\n".join(
        f"      - {{name: Check {i}, check: http, with: {{url: '{url}'}}, "
        f'expect: [status == 200, json.status == "healthy"]}}'
        for i, url in enumerate(urls, 1)
    )
    rb = work / "runbooks"
    rb.mkdir(parents=True, exist_ok=True)
    (rb / "peers.yaml").write_text(
        f"kind: runbook\nname: peers\nsections:\n  - name: Checks\n    steps:\n{steps}\n", encoding="utf-8"
    )
    env = base_env(venv_bin)
    env["PATH"] = env["PATH"].split(os.pathsep, 1)[1]  # the project's python, not the side venv's
    env["PYTHONPATH"] = str(tree)
    argv = [sys.executable, "-m", "runbook_engine", "run", "peers", "--no-history"]
    return Case(argv, work, env)


CHAOS_TOLERANCE = '''"""The tolerance of every probe: status 200 and a healthy JSON body."""


def healthy(value=None):
    value = value or {}
    body = value.get("body")
    return value.get("status") == 200 and isinstance(body, dict) and body.get("status") == "healthy"
'''


def chaos_case(work: Path, urls: list[str], venv_bin: Path) -> Case:
    work.mkdir(parents=True, exist_ok=True)
    (work / "peer_checks.py").write_text(CHAOS_TOLERANCE, encoding="utf-8")
    tolerance = {
        "type": "probe",
        "name": "healthy",
        "provider": {"type": "python", "module": "peer_checks", "func": "healthy", "arguments": {}},
    }
    probes = [
        {
            "type": "probe",
            "name": f"check-{i}",
            "tolerance": tolerance,
            "provider": {"type": "http", "url": url, "timeout": 5},
        }
        for i, url in enumerate(urls, 1)
    ]
    experiment = {
        "version": "1.0.0",
        "title": "peers",
        "description": "N local HTTP checks",
        "steady-state-hypothesis": {"title": "healthy", "probes": probes},
        "method": [],
    }
    (work / "experiment.json").write_text(json.dumps(experiment), encoding="utf-8")
    journal = work / "journal.json"
    env = base_env(venv_bin)
    env["PYTHONPATH"] = str(work)  # where the tolerance module lives

    def passed(proc: subprocess.CompletedProcess[bytes]) -> bool:
        # A hypothesis not met before the method is "completed" with exit 0 in Chaos
        # Toolkit; its user reads steady_state_met in the journal, and so do we.
        data = json.loads(journal.read_text(encoding="utf-8"))
        before = (data.get("steady_states") or {}).get("before") or {}
        return proc.returncode == 0 and before.get("steady_state_met") is True

    argv = [
        str(venv_bin / "chaos"), "--no-log-file", "run", "experiment.json",
        "--journal-path", str(journal), "--hypothesis-strategy", "before-method-only",
    ]  # fmt: skip
    return Case(argv, work, env, passed)


PYINFRA_DEPLOY = """import json
import urllib.request

from pyinfra.operations import python


def check(url):
    with urllib.request.urlopen(url, timeout=5) as r:
        body = json.load(r)
    if r.status != 200 or body.get("status") != "healthy":
        raise RuntimeError(f"{{url}}: status {{r.status}}, body {{body}}")


for i, url in enumerate({urls!r}, 1):
    python.call(name=f"Check {{i}}", function=check, url=url)
"""


def pyinfra_case(work: Path, urls: list[str], venv_bin: Path) -> Case:
    work.mkdir(parents=True, exist_ok=True)
    (work / "deploy.py").write_text(PYINFRA_DEPLOY.format(urls=urls), encoding="utf-8")
    argv = [str(venv_bin / "pyinfra"), "-y", "@local", "deploy.py"]
    return Case(argv, work, base_env(venv_bin))


def ansible_case(work: Path, urls: list[str], venv_bin: Path) -> Case:
    work.mkdir(parents=True, exist_ok=True)
    (work / "hosts").write_text(
        f"localhost ansible_connection=local ansible_python_interpreter={venv_bin / 'python'}\n",
        encoding="utf-8",
    )
    tasks = "".join(
        f"    - name: Check {i}\n"
        f"      ansible.builtin.uri: {{url: '{url}', status_code: 200, return_content: true}}\n"
        f"      register: r\n"
        f"      failed_when: r.status != 200 or r.json.status != 'healthy'\n"
        for i, url in enumerate(urls, 1)
    )
    (work / "site.yml").write_text(
        f"- hosts: localhost\n  gather_facts: false\n  tasks:\n{tasks}", encoding="utf-8"
    )
    env = base_env(venv_bin)
    env.update(ANSIBLE_HOME=str(work / "home"), ANSIBLE_LOCAL_TEMP=str(work / "tmp"))
    env["ANSIBLE_REMOTE_TEMP"] = str(work / "rtmp")
    env.update(ANSIBLE_NOCOLOR="1", ANSIBLE_RETRY_FILES_ENABLED="0", ANSIBLE_LOCALHOST_WARNING="0")
    argv = [str(venv_bin / "ansible-playbook"), "-i", "hosts", "site.yml"]
    return Case(argv, work, env)


TOOLS: dict[str, tuple[str, Callable[[Path, list[str], Path], Case]]] = {
    "runbook": ("runbook", runbook_case),
    "chaos": ("Chaos Toolkit", chaos_case),
    "pyinfra": ("pyinfra", pyinfra_case),
    "ansible": ("ansible-playbook", ansible_case),
}
