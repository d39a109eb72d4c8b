"""The tcp, file and sleep plugins against real sockets, files and clocks."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from runbook_engine.plugin import StepError
from runbook_engine.plugins import file, sleep, tcp
from runbook_engine.testing import make_context, run_plugin
from tests.support.httpserver import Server


def test_tcp_connects_to_a_listening_port(http_server: Server) -> None:
    """An open port gives connected: true and no error."""
    out = run_plugin(tcp, {"host": "127.0.0.1", "port": http_server.port})
    assert (out["connected"], out["error"]) == (True, None)


def test_tcp_refused_is_a_fact() -> None:
    """A closed port gives connected: false with the reason (the engine judges it)."""
    out = run_plugin(tcp, {"host": "127.0.0.1", "port": 1})
    assert (out["connected"], out["error"]) == (False, "Connection refused")


def test_file_glob_counts_and_sizes(tmp_path: Path) -> None:
    """A glob reports count, total size and the age of the newest match."""
    shots = tmp_path / "shots"
    shots.mkdir()
    for i in range(3):
        (shots / f"{i}.png").write_bytes(b"x" * 10)
    old = time.time() - 3600
    os.utime(shots / "0.png", (old, old))
    out = run_plugin(file, {"glob": "shots/*.png"}, make_context(workdir=tmp_path))
    assert (out["exists"], out["count"], out["size"]) == (True, 3, 30)
    assert 0 <= out["age_s"] < 60


def test_file_missing_and_read(tmp_path: Path) -> None:
    """A missing path gives exists false; read: true returns a file's text."""
    out = run_plugin(file, {"path": "nope.txt"}, make_context(workdir=tmp_path))
    assert (out["exists"], out["count"], out["age_s"]) == (False, 0, None)
    (tmp_path / "notes.md").write_text("ready")
    out = run_plugin(file, {"path": "notes.md", "read": True}, make_context(workdir=tmp_path))
    assert out["text"] == "ready"


def test_file_that_cannot_be_read_says_why() -> None:
    """A file that exists but cannot be read (here /proc/self/mem: EIO at offset 0) is a
    step error naming the file and the reason, not a plugin crash."""
    with pytest.raises(StepError, match=r"^cannot read /proc/self/mem: Input/output error$"):
        run_plugin(file, {"path": "/proc/self/mem", "read": True})


def test_sleep_sleeps_and_respects_timeout() -> None:
    """sleep waits the given time, and refuses to outlast its step timeout."""
    started = time.monotonic()
    assert run_plugin(sleep, {"duration": "200ms"}) == {"slept_s": 0.2}
    assert time.monotonic() - started >= 0.2
    with pytest.raises(StepError, match="longer than the step timeout"):
        run_plugin(sleep, {"duration": "5s"}, make_context(timeout=0.1))
