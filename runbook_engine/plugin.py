"""The contract every plugin implements; the only engine module plugins import.

A plugin is a module (built-in, installed through the `runbook_engine.plugins` entry
point group, or a file in the project's `checks/` folder) that defines:

- ``KINDS``: a frozenset of ``"check"`` and/or ``"action"``;
- ``Spec``: a subclass of :class:`PluginSpec` describing its ``with:`` arguments;
- ``OUTPUTS``: a mapping of output name to a one-line description (shown in docs);
- ``run(spec, ctx) -> dict``: does the work and returns plain data (str, int, float,
  bool, None, lists and dicts of those).

Optionally ``NAME`` (defaults to the module's file name) and ``is_destructive(spec)``
for plugins whose arguments can make a step destructive (for example ``compose`` with
``command: down, volumes: true``).

Optionally ``async def run_async(spec, ctx) -> dict``: the same work as ``run`` written for
asyncio (network checks). The engine prefers it: it runs on the engine's event loop, so a
thousand such steps wait on the network at once, and a timeout or Ctrl-C cancels it at
its current ``await``. It must never block (no ``time.sleep``, no blocking sockets or
files): a plugin that blocks should only have ``run``, which the engine runs on a worker
thread. Objects worth sharing between steps of a run (a connection pool) live in
``ctx.resources``.

Plugins produce facts; the engine judges. A plugin never decides pass or fail: it
returns what it saw, and raises :class:`StepError` when it could not look at all.
"""

from __future__ import annotations

import contextlib
import importlib
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from runbook_engine.format.spec import Duration

PluginKind = Literal["check", "action"]


class PluginSpec(BaseModel):
    """Base for a plugin's ``with:`` model: unknown arguments are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class StepError(Exception):
    """The plugin could not check or act (refused connection, missing tool...): outcome ``error``."""


class MissingDependency(StepError):
    """An optional library is not installed; the message says how to install it."""


def require(module: str, extra: str | None = None, *, install: str | None = None) -> ModuleType:
    """Import an optional library, or fail the step with the install hint.

    The hint is `pip install 'runbook-engine[EXTRA]'` for the libraries runbook-engine has
    extras for; a third-party plugin passes `install=` (what to pip install) instead."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        what = install or (f"runbook-engine[{extra}]" if extra else module.split(".", maxsplit=1)[0])
        raise MissingDependency(
            f"{module} is not installed ({exc}); install it with: pip install '{what}'"
        ) from None


class Resources:
    """Objects the steps of one run share (a connection pool per verify setting...), made
    on first use and closed when the run ends. For ``run_async`` plugins: the engine loop
    is the only thread that touches them."""

    def __init__(self) -> None:
        self._items: dict[str, Any] = {}
        self._closers: list[Callable[[], Awaitable[None]]] = []

    def get(
        self, key: str, make: Callable[[], Any], close: Callable[[Any], Awaitable[None]] | None = None
    ) -> Any:
        """The object under `key`, made by `make()` the first time; `close(obj)` runs at the end."""
        try:
            return self._items[key]
        except KeyError:
            obj = self._items[key] = make()
            if close is not None:
                self._closers.append(lambda: close(obj))
            return obj

    async def aclose(self) -> None:
        closers, self._closers, self._items = self._closers, [], {}
        for closer in reversed(closers):
            with contextlib.suppress(Exception):  # a pool that fails to close must not hide the verdict
                await closer()


@dataclass
class Context:
    """What the engine gives a plugin for one attempt of one step."""

    step_id: str
    timeout: float | None = None
    """Seconds this attempt may take; the plugin should give up (and clean up) by then."""
    workdir: Path = field(default_factory=Path.cwd)
    """The project folder (parent of the runbook directory): relative paths start here."""
    run_dir: Path = field(default_factory=Path.cwd)
    """A folder for this run's files (plugin scratch space, logs)."""
    secrets: Mapping[str, str] = field(default_factory=dict)
    """Secret values, for plugins that must pass them on (never print them)."""
    cancel: threading.Event = field(default_factory=threading.Event)
    """Set when the run is interrupted or the attempt timed out: stop and clean up."""
    started: float = field(default_factory=time.monotonic)
    log: Callable[[str], None] = field(default=lambda _line: None)
    """Record a line of evidence for this step (shown in reports, secrets masked)."""
    resources: Resources = field(default_factory=Resources)
    """Shared by every step of the run (see Resources)."""

    def remaining(self) -> float | None:
        """Seconds left before this attempt's timeout, or None without a timeout."""
        if self.timeout is None:
            return None
        return max(0.0, self.timeout - (time.monotonic() - self.started))

    def resolve(self, path: str | Path) -> Path:
        """A user-given path, relative to the project folder unless absolute."""
        p = Path(path).expanduser()
        return p if p.is_absolute() else self.workdir / p


Outputs = dict[str, Any]
__all__ = [
    "Context",
    "Duration",
    "MissingDependency",
    "Outputs",
    "PluginKind",
    "PluginSpec",
    "Resources",
    "StepError",
    "require",
]
