"""Execute a Jupyter notebook on a real kernel and save the executed copy (action)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator

from runbook_engine.plugin import Context, Duration, Outputs, PluginSpec, StepError, require

KINDS = frozenset({"action"})
DEFAULT_EXPECT = ["errors == []"]
OUTPUTS = {
    "cells": "number of code cells in the executed copy (an injected parameters cell included)",
    "executed": "how many code cells ran (fewer than `cells` when a failing cell stopped the run)",
    "errors": "cells that raised: a list of {cell, ename, evalue}, cell = 0-based index in the copy",
    "duration_s": "time from kernel start to the end of the last cell, in seconds",
    "output": "absolute path of the executed copy that was written",
}
DEFAULT_KERNEL = "python3"
# No timeout given to the step: a notebook still may not run forever.
DEFAULT_BUDGET_S = 600.0
# Kept back from the step's timeout to stop the kernel and write the copy before the engine
# gives up on this step.
MARGIN_S = 1.0
PARAMETERS_TAG = "parameters"
INJECTED_TAG = "injected-parameters"


class Spec(PluginSpec):
    path: str = Field(min_length=1, description="The notebook (.ipynb) to run, relative to the project.")
    output: str = Field(min_length=1, description="Where to save the executed copy (.ipynb).")
    parameters: dict[str, Any] = Field(
        default_factory=dict,
        description="Variables set in a code cell injected before the others (papermill-style).",
    )
    kernel: str = Field(
        default=DEFAULT_KERNEL,
        min_length=1,
        description="Kernel name; python3 is the Python that runs runbook (its ipykernel).",
    )
    timeout: Duration | None = Field(
        default=None, gt=0, description="Longest time one cell may run (the step's timeout bounds all)."
    )
    allow_errors: bool = Field(
        default=False,
        description="Run the cells after a failing one too (default: stop at the first error).",
    )

    @field_validator("parameters")
    @classmethod
    def _names(cls, value: dict[str, Any]) -> dict[str, Any]:
        bad = [name for name in value if not name.isidentifier()]
        if bad:
            raise ValueError(f"parameter names must be Python names: {', '.join(map(repr, bad))}")
        return value


def _read(nbformat: Any, path: Path) -> Any:
    if not path.is_file():
        raise StepError(f"notebook not found: {path}")
    invalid = f"{path} is not a valid Jupyter notebook"
    fix = "open it in Jupyter or restore it from version control"
    text = path.read_text(encoding="utf-8", errors="replace")
    # Plain JSON first: nbformat's own messages for these cases talk about converting
    # "from version 1 to version 2", which tells nobody what is wrong with the file.
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise StepError(
            f"{invalid}: not JSON ({exc.msg} at line {exc.lineno} column {exc.colno};"
            f" truncated or not a notebook?); {fix}"
        ) from None
    missing = [k for k in ("cells", "nbformat") if not isinstance(data, dict) or k not in data]
    if missing:
        raise StepError(f"{invalid}: JSON without the notebook keys {', '.join(map(repr, missing))}; {fix}")
    try:
        notebook = nbformat.reads(text, as_version=4)
        nbformat.validate(notebook)
    except Exception as exc:  # nbformat raises many kinds for a broken file; all mean the same
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StepError(f"{invalid} ({type(exc).__name__}: {reason[:300]}); {fix}") from None
    return notebook


def _inject(nbformat: Any, notebook: Any, parameters: dict[str, Any]) -> None:
    """Add the parameters cell after a cell tagged `parameters` (its defaults), else first."""
    lines = ["# Parameters (injected by runbook)"]
    lines += [f"{name} = {_literal(value)}" for name, value in parameters.items()]
    cell = nbformat.v4.new_code_cell("\n".join(lines), metadata={"tags": [INJECTED_TAG]})
    cells = notebook.cells
    tagged = [i for i, c in enumerate(cells) if PARAMETERS_TAG in c.get("metadata", {}).get("tags", [])]
    cells.insert(tagged[0] + 1 if tagged else 0, cell)


def _literal(value: Any) -> str:
    # JSON data (what YAML gives) as Python source: repr() is exact for str, int, float,
    # bool, None, and lists and dicts of those.
    return repr(value)


def _kernel_manager(spec: Spec, scratch: Path) -> Any:
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
    from jupyter_client.manager import AsyncKernelManager

    if spec.kernel == DEFAULT_KERNEL:
        # The Python running runbook, with the ipykernel installed beside it: never a
        # python3 kernelspec that happens to be registered elsewhere on the machine.
        folder = scratch / "kernels" / DEFAULT_KERNEL
        folder.mkdir(parents=True)
        argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
        (folder / "kernel.json").write_text(
            json.dumps({"argv": argv, "display_name": "Python 3 (runbook)", "language": "python"})
        )
        specs = KernelSpecManager(kernel_dirs=[str(scratch / "kernels")], ensure_native_kernel=False)
    else:
        specs = KernelSpecManager()
    try:
        specs.get_kernel_spec(spec.kernel)
    except NoSuchKernel:
        known = ", ".join(sorted(specs.find_kernel_specs())) or "none"
        raise StepError(
            f"no Jupyter kernel named {spec.kernel!r} (installed: {known});"
            " install one with: python -m ipykernel install --sys-prefix --name NAME"
        ) from None
    # Async, like the manager nbclient makes for itself: its client is what nbclient expects.
    return AsyncKernelManager(kernel_name=spec.kernel, kernel_spec_manager=specs)


def _errors(notebook: Any) -> list[dict[str, Any]]:
    found = []
    for index, cell in enumerate(notebook.cells):
        for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
            if out.get("output_type") == "error":
                found.append({"cell": index, "ename": out.get("ename"), "evalue": out.get("evalue")})
    return found


def _kill(manager: Any) -> None:
    """SIGKILL the kernel and whatever its cells started: jupyter_client starts the kernel in a
    session of its own, so its process group is the kernel and its children."""
    process = getattr(getattr(manager, "provisioner", None), "process", None)
    if process is None or process.poll() is not None:  # gone (and reaped): its pid may be reused
        return
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGKILL)


def _watch(ctx: Context, done: threading.Event, manager: Any) -> None:
    # Kill again on every tick once cancelled: a kernel still starting has no process yet.
    while not done.wait(0.1):
        if ctx.cancel.is_set():
            _kill(manager)


class _Execution:
    """One run of a notebook: the time it may take and the cell it is at."""

    def __init__(self, spec: Spec, ctx: Context, source: Path) -> None:
        self.spec, self.ctx, self.source = spec, ctx, source
        remaining = ctx.remaining()
        budget = DEFAULT_BUDGET_S if remaining is None else remaining
        self.deadline = time.monotonic() + max(0.5, budget - MARGIN_S)
        self.cell = -1

    def cell_timeout(self, _cell: Any) -> float:
        left = max(0.1, self.deadline - time.monotonic())
        return min(left, self.spec.timeout) if self.spec.timeout else left

    def on_cell_start(self, cell: Any, cell_index: int) -> None:
        self.cell = cell_index

    def execute(self, nbclient: Any, notebook: Any, scratch: Path) -> str | None:
        """Run every cell (in place); returns why the run broke off, or None."""
        from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

        spec, where = self.spec, f"{self.source}"
        manager = _kernel_manager(spec, scratch)
        client = nbclient.NotebookClient(
            notebook, km=manager, kernel_name=spec.kernel, allow_errors=spec.allow_errors,
            timeout_func=self.cell_timeout,
            startup_timeout=max(1, int(self.deadline - time.monotonic())),
            # Killed at once at the end: a graceful shutdown may wait seconds we do not have.
            shutdown_kernel="immediate", on_cell_start=self.on_cell_start,
            resources={"metadata": {"path": str(self.source.parent)}},  # cells see its folder
        )
        # The engine sets ctx.cancel on Ctrl-C or timeout; the kernel is killed then, which
        # ends the cell at once (nbclient then reports a dead kernel, told apart below).
        done = threading.Event()
        watcher = threading.Thread(target=_watch, args=(self.ctx, done, manager), daemon=True)
        watcher.start()
        kernel_log = scratch / "kernel.log"
        try:
            # The kernel's own chatter (warnings on stderr) goes to a file, not the console;
            # its tail explains a kernel that would not start.
            with kernel_log.open("wb") as log_file:
                # cleanup_kc: stop the kernel and close its sockets even though we made the
                # manager (nbclient leaves a manager it does not own running). asyncio.run,
                # not client.execute(): it cancels the output-polling task nbclient leaves
                # pending after a cell timeout ("Task was destroyed but it is pending!").
                asyncio.run(client.async_execute(stdout=log_file, stderr=log_file, cleanup_kc=True))
        except CellExecutionError:
            return None  # the failing cell's error is in its outputs: a fact, reported as such
        except CellTimeoutError:
            limit = (
                "the step's timeout ran out" if time.monotonic() >= self.deadline - 0.5
                else f"it ran longer than `timeout: {spec.timeout:g}s`"
            )
            return f"cell {self.cell} of {where} did not finish ({limit}): the kernel was stopped"
        except (DeadKernelError, RuntimeError) as exc:
            return self._broken(exc, kernel_log)
        finally:
            done.set()
            watcher.join()
            _kill(manager)
        return None


    def _broken(self, exc: Exception, kernel_log: Path) -> str:
        """Why a kernel went away: our own kill on cancel, a death, or a failed start."""
        from nbclient.exceptions import DeadKernelError

        where = str(self.source)
        if self.ctx.cancel.is_set():
            at = f"during cell {self.cell}" if self.cell >= 0 else "while the kernel was starting"
            return f"run cancelled {at} of {where}: the kernel was stopped"
        if isinstance(exc, DeadKernelError):
            return (
                f"the kernel died while running cell {self.cell} of {where}"
                " (killed, crashed or out of memory)"
            )
        # A kernel that never started (bad argv, missing module): its own output says why.
        tail = kernel_log.read_text(errors="replace").strip()[-500:] if kernel_log.exists() else ""
        return f"kernel {self.spec.kernel!r} could not run {where}: {exc}" + (f"\n{tail}" if tail else "")


def run(spec: Spec, ctx: Context) -> Outputs:
    nbformat = require("nbformat", "notebook")
    nbclient = require("nbclient", "notebook")
    require("ipykernel", "notebook")
    source, target = ctx.resolve(spec.path), ctx.resolve(spec.output)
    if source.resolve() == target.resolve():
        raise StepError(f"output is the notebook itself ({source}): give another file for the executed copy")
    notebook = _read(nbformat, source)
    if spec.parameters:
        _inject(nbformat, notebook, spec.parameters)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="runbook-notebook-") as scratch:
        failure = _Execution(spec, ctx, source).execute(nbclient, notebook, Path(scratch))
    duration = round(time.perf_counter() - started, 3)
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, str(target))
    if failure:
        raise StepError(f"{failure}; the partial copy is at {target}")
    code = [c for c in notebook.cells if c.cell_type == "code"]
    executed = sum(1 for c in code if c.get("execution_count") is not None)
    errors = _errors(notebook)
    ctx.log(f"{source}: {executed} of {len(code)} code cell(s) ran on kernel {spec.kernel} in {duration}s")
    for error in errors:
        ctx.log(f"cell {error['cell']}: {error['ename']}: {str(error['evalue'])[:200]}")
    ctx.log(f"executed copy: {target}")
    return {"cells": len(code), "executed": executed, "errors": errors, "duration_s": duration,
            "output": str(target)}
