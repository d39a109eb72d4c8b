"""Run an Ansible playbook through ansible-runner and report per-host and per-task results."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from types import ModuleType
from typing import Any

from pydantic import Field, field_validator

from runbook_engine.plugin import Context, Outputs, PluginSpec, StepError, require
from runbook_engine.plugins._ansible_events import Events, Stopper

# Without an `expect:` of its own, a playbook must succeed for the step to pass.
DEFAULT_EXPECT = ['status == "successful"']
KINDS = frozenset({"check", "action"})
OUTPUTS = {
    "status": "successful (rc 0) or failed (some task or host failed)",
    "rc": "ansible-playbook's exit code (0 ok, 2 a task failed, 4 a host unreachable)",
    "stats": "per host: {ok, changed, failed, unreachable, skipped, rescued, ignored} counts",
    "tasks": "per task and host: {host, task, status, duration_s} (at most 500)",
    "failed_tasks": "tasks that failed (not ignored) or hosts unreachable: {host, task, message}",
}
# ansible-runner's event names -> the status we report per task and host.
# What users install under ~/.ansible and expect to be found; linked into our private home.
SHARED_HOME_ENTRIES = ("collections", "roles", "plugins")
MASK = "********"


class Spec(PluginSpec):
    playbook: str = Field(description="The playbook file, relative to the project folder.")
    inventory: str | dict[str, Any] | None = Field(
        default=None,
        description="An inventory path (file or folder, relative to the project), an inline "
        "INI inventory (text with at least one line break), or an inline YAML-style mapping; "
        "default: Ansible's own default inventory.",
    )
    limit: str | None = Field(default=None, description="Host pattern, as ansible-playbook --limit.")
    tags: list[str] = Field(default_factory=list, description="Run only tasks with these tags.")
    skip_tags: list[str] = Field(default_factory=list, description="Skip tasks with these tags.")
    extra_vars: dict[str, Any] = Field(
        default_factory=dict,
        description="Variables passed as -e; kept off disk after the run and out of the outputs.",
    )
    check_mode: bool = Field(default=False, description="Dry run (ansible-playbook --check).")
    verbosity: int = Field(default=0, ge=0, le=4, description="0-4, like -v ... -vvvv.")

    @field_validator("playbook")
    @classmethod
    def _playbook(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("playbook must name a playbook file")
        return value

    @field_validator("inventory")
    @classmethod
    def _inventory(cls, value: str | dict[str, Any] | None) -> str | dict[str, Any] | None:
        if isinstance(value, str) and not value.strip():
            raise ValueError("inventory must be a path or an inline inventory, not empty")
        return value

    @field_validator("tags", "skip_tags", mode="before")
    @classmethod
    def _tag_list(cls, value: Any) -> Any:
        # Accept Ansible's own comma-separated spelling as well as a YAML list.
        if isinstance(value, str):
            value = value.split(",")
        if isinstance(value, list):
            tags = [t.strip() if isinstance(t, str) else t for t in value]
            if any(t == "" for t in tags):
                raise ValueError("tags must be non-empty names")
            return tags
        return value


def run(spec: Spec, ctx: Context) -> Outputs:
    runner = require("ansible_runner", "ansible")
    playbook = ctx.resolve(spec.playbook)
    if not playbook.is_file():
        raise StepError(f"playbook not found: {playbook}")
    inventory = _inventory(spec, ctx)
    search_path = _search_path()
    if shutil.which("ansible-playbook", path=search_path) is None:
        raise StepError(
            "ansible-playbook is not on PATH nor beside this Python; "
            "install it with: pip install 'runbook-engine[ansible]'"
        )
    if (remaining := ctx.remaining()) is not None and remaining < 1:
        raise StepError("no time left in this attempt to run a playbook")
    base = ctx.run_dir / "ansible"
    base.mkdir(parents=True, exist_ok=True)
    # One private data dir per attempt. ansible-runner writes the full environment, the
    # command line, job events and stdout there, any of which can hold secrets, so the
    # whole folder goes once the run is over; the evidence we keep is what ctx.log gets.
    private = Path(tempfile.mkdtemp(prefix=f"{_slug(ctx.step_id)}-", dir=base))
    try:
        return _run(runner, spec, ctx, playbook, inventory, private, search_path)
    finally:
        shutil.rmtree(private, ignore_errors=True)


def _run(
    runner: ModuleType,
    spec: Spec,
    ctx: Context,
    playbook: Path,
    inventory: str | dict[str, Any] | None,
    private: Path,
    search_path: str,
) -> Outputs:
    scrub = _scrubber(ctx.secrets.values())
    events = Events(ctx, scrub)
    stopper = Stopper(ctx, events)
    # How often ansible-runner asks stopper() while the playbook prints nothing. Passed as a
    # file: ansible-runner drops a `settings=` argument when env/settings does not exist.
    _write_private(private / "env" / "settings", json.dumps({"pexpect_timeout": 0.2}))
    cmdline: list[str] = []
    if spec.extra_vars:
        vars_file = _write_private(private / "extravars.json", _json(spec.extra_vars))
        cmdline += ["-e", f"@{vars_file}"]
        # ansible-playbook reads -e files before its first event: delete it right away.
        events.on_start = lambda: vars_file.unlink(missing_ok=True)
    if spec.check_mode:
        cmdline.append("--check")
    ctx.log(_describe(spec, playbook))
    try:
        result = runner.run(
            private_data_dir=str(private),
            project_dir=str(playbook.parent),
            playbook=str(playbook),
            inventory=inventory,
            limit=spec.limit,
            tags=",".join(spec.tags) or None,
            skip_tags=",".join(spec.skip_tags) or None,
            verbosity=spec.verbosity or None,
            cmdline=shlex.join(cmdline) or None,
            envvars=_env(private, search_path),
            # stopper() ends the run at the attempt's deadline; ansible-runner's own
            # timeout (which kills harder, see _Stopper) is only the backstop.
            timeout=stopper.backstop_timeout(),
            event_handler=events.handle,
            cancel_callback=stopper,
            quiet=True,
            # Keep extra vars and env out of files ansible-runner would write.
            suppress_env_files=True,
        )
    except (runner.AnsibleRunnerException, ValueError, OSError) as exc:
        raise StepError(scrub(f"ansible-runner could not start the playbook: {exc}")) from None
    finally:
        events.on_start()
    finished = events.task_count
    if stopper.reason == "cancelled" or result.status == "canceled":
        raise StepError(f"cancelled; ansible-playbook was stopped after {finished} task results")
    if stopper.reason == "timeout" or result.status == "timeout":
        raise StepError(
            f"timed out after {ctx.timeout or 0:g}s; ansible-playbook was stopped "
            f"after {finished} task results"
        )
    if events.stats is None:
        # No recap: the playbook never ran to its end (syntax error, no matching hosts...).
        # Ansible could not look, which is an error of the step, not a fact about hosts.
        raise StepError(
            f"ansible-playbook could not run {playbook.name} (rc {result.rc}): "
            f"{events.verbose_text() or 'no output'}"
        )
    for host, counts in events.stats.items():
        ctx.log(scrub(f"recap {host}: " + " ".join(f"{k}={v}" for k, v in counts.items())))
    outputs: Outputs = {
        "status": result.status,
        "rc": result.rc,
        "stats": events.stats,
        "tasks": events.tasks,
        "failed_tasks": events.failed,
    }
    return outputs


def _inventory(spec: Spec, ctx: Context) -> str | dict[str, Any] | None:
    inventory = spec.inventory
    if inventory is None or isinstance(inventory, dict):
        return inventory
    if "\n" in inventory:
        return inventory  # inline INI text; ansible-runner writes it into its private dir
    path = ctx.resolve(inventory)
    if not path.exists():
        raise StepError(f"inventory not found: {path} (an inline inventory needs at least one line break)")
    return str(path)


def _search_path() -> str:
    # ansible-runner starts ansible-playbook by name: the virtualenv we run from must come
    # first even when it was not activated (else rc 127, "command not found").
    bindir = str(Path(sys.executable).parent)
    return os.pathsep.join([bindir, os.environ.get("PATH", os.defpath)])


def _env(private: Path, search_path: str) -> dict[str, str]:
    tmp = private / "tmp"
    tmp.mkdir(mode=0o700)
    env = {
        "PATH": search_path,
        "ANSIBLE_LOCAL_TEMP": str(tmp),
        "TMPDIR": str(tmp),
        "ANSIBLE_NOCOLOR": "1",
    }
    if "ANSIBLE_HOME" not in os.environ:
        # A private home keeps caches, sockets and temp files of this run in the run folder;
        # the user's collections, roles and plugins stay visible through links.
        home = private / "home"
        home.mkdir(mode=0o700)
        user_home = Path("~/.ansible").expanduser()
        for entry in SHARED_HOME_ENTRIES:
            if (user_home / entry).is_dir():
                (home / entry).symlink_to(user_home / entry, target_is_directory=True)
        env["ANSIBLE_HOME"] = str(home)
    return env


def _write_private(path: Path, text: str) -> Path:
    path.parent.mkdir(mode=0o700, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    return path


def _json(values: dict[str, Any]) -> str:
    try:
        return json.dumps(values)
    except (TypeError, ValueError) as exc:
        raise StepError(f"extra_vars must be plain data (strings, numbers, lists, maps): {exc}") from None


def _scrubber(secrets: Iterable[str]) -> Callable[[str], str]:
    values = sorted({s for s in secrets if s}, key=len, reverse=True)

    def scrub(text: str) -> str:
        for value in values:
            text = text.replace(value, MASK)
        return text

    return scrub


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text)[:40] or "step"


def _describe(spec: Spec, playbook: Path) -> str:
    words = [f"ansible-playbook {playbook.name}"]
    if spec.limit:
        words.append(f"--limit {spec.limit}")
    if spec.tags:
        words.append(f"--tags {','.join(spec.tags)}")
    if spec.skip_tags:
        words.append(f"--skip-tags {','.join(spec.skip_tags)}")
    if spec.check_mode:
        words.append("--check")
    if spec.verbosity:
        words.append("-" + "v" * spec.verbosity)
    if spec.extra_vars:
        words.append(f"-e <{len(spec.extra_vars)} extra vars>")
    return " ".join(words)
