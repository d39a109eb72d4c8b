"""notebook against a real Jupyter kernel (the venv's ipykernel through nbclient)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from runbook_engine.plugin import StepError
from runbook_engine.plugins import notebook
from runbook_engine.testing import make_context, run_plugin
from tests.support.imports import loaded_after_import


def write_notebook(path: Path, *sources: str, parameters: str | None = None) -> Path:
    """A notebook with a markdown title, an optional `parameters`-tagged cell, then code cells."""
    import nbformat

    cells = [nbformat.v4.new_markdown_cell("# Demo")]
    if parameters is not None:
        cells.append(nbformat.v4.new_code_cell(parameters, metadata={"tags": ["parameters"]}))
    cells += [nbformat.v4.new_code_cell(src) for src in sources]
    nb = nbformat.v4.new_notebook()
    nb.cells = cells
    nbformat.write(nb, str(path))
    return path


def execute(tmp_path: Path, timeout: float = 120.0, **args: object) -> dict[str, object]:
    return run_plugin(
        notebook, {"path": "demo.ipynb", "output": "out/demo.executed.ipynb", **args},
        make_context(timeout=timeout, workdir=tmp_path),
    )


def read(path: str) -> Any:
    import nbformat

    return nbformat.read(path, as_version=4)


def stream_text(path: Path) -> list[str]:
    """The printed text of each code cell of a saved notebook."""
    import nbformat

    nb = nbformat.read(str(path), as_version=4)
    return ["".join(o.get("text", "") for o in c.outputs if o.output_type == "stream")
            for c in nb.cells if c.cell_type == "code"]


def test_cells_compute_and_print_in_the_saved_copy(tmp_path: Path) -> None:
    """Two computing cells run on a real kernel; the copy holds their printed output and execution counts."""
    write_notebook(tmp_path / "demo.ipynb", "x = 6 * 7\nprint(x)", "import os\nprint(os.getpid() > 0, x + 1)")
    out = execute(tmp_path)
    duration = out.pop("duration_s")
    assert out == {"cells": 2, "executed": 2, "errors": [],
                   "output": str(tmp_path / "out" / "demo.executed.ipynb")}
    assert isinstance(duration, float) and duration > 0
    assert stream_text(tmp_path / "out" / "demo.executed.ipynb") == ["42\n", "True 43\n"]
    saved = read(str(tmp_path / "out" / "demo.executed.ipynb"))
    assert [c.execution_count for c in saved.cells if c.cell_type == "code"] == [1, 2]


def test_kernel_is_the_running_python(tmp_path: Path) -> None:
    """The python3 kernel runs the same interpreter as runbook (the venv's ipykernel, no other kernelspec)."""
    import sys

    write_notebook(tmp_path / "demo.ipynb", "import sys\nprint(sys.executable)")
    execute(tmp_path)
    assert stream_text(tmp_path / "out" / "demo.executed.ipynb") == [sys.executable + "\n"]


def test_failing_cell_is_a_fact_and_stops_the_run(tmp_path: Path) -> None:
    """A cell that raises is listed in errors (cell index, ename, evalue); later cells do not run by default."""
    write_notebook(tmp_path / "demo.ipynb", "print('before')", "1 / 0", "print('after')")
    out = execute(tmp_path)
    assert (out["cells"], out["executed"]) == (3, 2)
    assert out["errors"] == [{"cell": 2, "ename": "ZeroDivisionError", "evalue": "division by zero"}]
    assert stream_text(tmp_path / "out" / "demo.executed.ipynb") == ["before\n", "", ""]


def test_allow_errors_runs_the_remaining_cells(tmp_path: Path) -> None:
    """With allow_errors: true, cells after the failing one run too, and the error is still reported."""
    write_notebook(tmp_path / "demo.ipynb", "raise KeyError('symbol')", "print('after')")
    out = execute(tmp_path, allow_errors=True)
    assert (out["cells"], out["executed"]) == (2, 2)
    assert out["errors"] == [{"cell": 1, "ename": "KeyError", "evalue": "'symbol'"}]
    assert stream_text(tmp_path / "out" / "demo.executed.ipynb")[1] == "after\n"


def test_parameters_are_injected_after_the_parameters_cell(tmp_path: Path) -> None:
    """Parameters override the defaults of the `parameters`-tagged cell, in a tagged cell right after it."""
    write_notebook(tmp_path / "demo.ipynb", "print(symbol, limit, flags)",
                   parameters="symbol = 'AAPL'\nlimit = 1\nflags = {}")
    out = execute(tmp_path, parameters={"symbol": "BHP", "limit": 5, "flags": {"live": True, "x": None}})
    assert out["cells"] == 3
    saved = read(str(tmp_path / "out" / "demo.executed.ipynb"))
    assert saved.cells[2].metadata["tags"] == ["injected-parameters"]
    assert stream_text(tmp_path / "out" / "demo.executed.ipynb")[2] == "BHP 5 {'live': True, 'x': None}\n"


def test_bad_parameter_name_is_refused_at_load() -> None:
    """A parameter name that is not a Python name is a validation error naming it."""
    with pytest.raises(ValidationError, match="parameter names must be Python names: 'not valid'"):
        notebook.Spec(path="a.ipynb", output="b.ipynb", parameters={"not valid": 1})


def test_killed_kernel_is_a_step_error(tmp_path: Path) -> None:
    """A kernel killed for real (SIGKILL of its process, from a cell) is a StepError naming the cell and the file."""
    write_notebook(tmp_path / "demo.ipynb", "print('hi')",
                   "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)", "print('never')")
    with pytest.raises(StepError, match=r"the kernel died while running cell 2 of .*demo\.ipynb") as caught:
        execute(tmp_path)
    assert "partial copy is at" in str(caught.value)
    assert (tmp_path / "out" / "demo.executed.ipynb").is_file()


def test_sleeping_cell_is_stopped_at_the_step_timeout(tmp_path: Path) -> None:
    """A cell sleeping past the step's timeout ends in a StepError within that timeout, the kernel stopped."""
    write_notebook(tmp_path / "demo.ipynb", "import time\ntime.sleep(600)")
    start = time.monotonic()
    with pytest.raises(StepError, match=r"cell 1 of .*demo\.ipynb did not finish \(the step's timeout ran out\)"):
        execute(tmp_path, timeout=20.0)
    assert time.monotonic() - start < 20.0


def test_cell_timeout_option(tmp_path: Path) -> None:
    """`timeout:` bounds each cell: a 600s sleep stops after it, and the message names that option."""
    write_notebook(tmp_path / "demo.ipynb", "import time\ntime.sleep(600)")
    with pytest.raises(StepError, match=r"did not finish \(it ran longer than `timeout: 2s`\)"):
        run_plugin(
            notebook, {"path": "demo.ipynb", "output": "o.ipynb", "timeout": "2s"},
            make_context(timeout=60.0, workdir=tmp_path))


def test_cancel_kills_the_kernel_and_its_children(tmp_path: Path) -> None:
    """Setting ctx.cancel (Ctrl-C, engine timeout) while a cell runs kills the kernel's process group: a StepError
    saying so, and the child process the cell started is gone too."""
    from tests.support.procs import running

    pid_file = tmp_path / "child.pid"
    write_notebook(tmp_path / "demo.ipynb",
                   f"import subprocess, time\np = subprocess.Popen(['sleep', '600'])\n"
                   f"open({str(pid_file)!r}, 'w').write(str(p.pid))\ntime.sleep(600)")
    ctx = make_context(timeout=120, workdir=tmp_path)
    spec = notebook.Spec(path="demo.ipynb", output="o.ipynb")

    cancelled_at: list[float] = []

    def cancel_once_the_cell_runs() -> None:
        while not pid_file.exists() and not ctx.cancel.wait(0.05):
            pass
        cancelled_at.append(time.monotonic())
        ctx.cancel.set()

    threading.Thread(target=cancel_once_the_cell_runs, daemon=True).start()
    with pytest.raises(StepError, match=r"run cancelled during cell 1 of .*demo\.ipynb: the kernel was stopped"):
        notebook.run(spec, ctx)
    assert time.monotonic() - cancelled_at[0] < 10  # the cell sleeps 600 s: only the kill ends it
    child = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while running(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not running(child)


@pytest.mark.parametrize(("content", "reason"), [
    ("{}", r"JSON without the notebook keys 'cells', 'nbformat'"),
    ('{"cells": [{"cell_type": "code", "sour', r"not JSON \(Unterminated string .* truncated or not a notebook\?\)"),
    ('{"cells": [], "nbformat": 4, "nbformat_minor": 5, "metadata": {"x": }}', r"not JSON \(Expecting value"),
    ('{"cells": [{"cell_type": "nonsense"}], "nbformat": 4, "nbformat_minor": 5, "metadata": {}}',
     r"\(\w*ValidationError: "),
])
def test_corrupt_notebook_is_an_error_naming_the_file(tmp_path: Path, content: str, reason: str) -> None:
    """`{}`, truncated JSON, bad JSON and a schema-invalid notebook are StepErrors naming the file and what is wrong."""
    (tmp_path / "demo.ipynb").write_text(content)
    with pytest.raises(StepError, match=rf"{tmp_path}/demo\.ipynb is not a valid Jupyter notebook:? {reason}"):
        execute(tmp_path)


def test_missing_notebook_and_unknown_kernel(tmp_path: Path) -> None:
    """A missing file and an unknown kernel name are StepErrors saying what is missing."""
    with pytest.raises(StepError, match=r"notebook not found: .*demo\.ipynb"):
        execute(tmp_path)
    write_notebook(tmp_path / "demo.ipynb", "1")
    with pytest.raises(StepError, match="no Jupyter kernel named 'julia-9'"):
        execute(tmp_path, kernel="julia-9")


def test_output_may_not_replace_the_notebook(tmp_path: Path) -> None:
    """Writing the executed copy over the notebook itself is refused."""
    write_notebook(tmp_path / "demo.ipynb", "1")
    with pytest.raises(StepError, match="output is the notebook itself"):
        run_plugin(notebook, {"path": "demo.ipynb", "output": "./demo.ipynb"}, make_context(workdir=tmp_path))


def test_jupyter_libraries_are_imported_lazily() -> None:
    """Importing the plugin imports none of nbclient, nbformat, jupyter_client, ipykernel."""
    heavy = ("nbclient", "nbformat", "jupyter_client", "ipykernel", "zmq")
    assert loaded_after_import("runbook_engine.plugins.notebook", heavy) == []


def test_runbook_through_the_cli_reports_errors_and_timeouts_cleanly(tmp_path: Path) -> None:
    """Through the real CLI: a failing cell fails the step's default expectation, a cell past the step timeout is an
    error naming the cell, and nothing of the kernel or asyncio leaks to the terminal."""
    import subprocess
    import sys

    (tmp_path / "nb").mkdir()
    write_notebook(tmp_path / "nb" / "fail.ipynb", "print(symbol)", "1 / 0")
    write_notebook(tmp_path / "nb" / "slow.ipynb", "print(1)", "import time\ntime.sleep(600)")
    (tmp_path / "runbooks").mkdir()
    (tmp_path / "runbooks" / "nb.yaml").write_text(
        "kind: runbook\nname: nb\nsections:\n  - name: Notebook\n    steps:\n"
        "      - name: Demo notebook\n        action: notebook\n"
        "        with: {path: nb/fail.ipynb, output: out/fail.ipynb, parameters: {symbol: BHP}}\n"
        "      - name: Slow notebook\n        action: notebook\n"
        "        with: {path: nb/slow.ipynb, output: out/slow.ipynb}\n        timeout: 15s\n"
    )
    done = subprocess.run([str(Path(sys.executable).with_name("runbook")), "run", "nb"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert done.returncode == 1, done.stdout + done.stderr
    assert ("errors == [] -> errors = [{'cell': 3, 'ename': 'ZeroDivisionError', 'evalue': 'division by zero'}]"
            in done.stdout)
    assert f"cell 2 of {tmp_path}/nb/slow.ipynb did not finish (the step's timeout ran out)" in done.stdout
    assert stream_text(tmp_path / "out" / "fail.ipynb") == ["", "BHP\n", ""]
    assert done.stderr == ""  # no "Task was destroyed but it is pending!", no kernel warnings


def test_timeout_also_stops_what_the_cell_started(tmp_path: Path) -> None:
    """A cell that started a child process and hangs: at the timeout the kernel's whole process group is killed."""
    from tests.support.procs import running

    pid_file = tmp_path / "child.pid"
    write_notebook(tmp_path / "demo.ipynb",
                   f"import subprocess, time\np = subprocess.Popen(['sleep', '600'])\n"
                   f"open({str(pid_file)!r}, 'w').write(str(p.pid))\ntime.sleep(600)")
    with pytest.raises(StepError, match="did not finish"):
        execute(tmp_path, timeout=15.0)
    child = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while running(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not running(child)
