"""One plugin registry: built-ins (listed here by hand), entry points, and checks/*.py.

A name clash between any two sources is a load error naming both, so a project can
never silently shadow a built-in.

Built-ins are known by name and imported (with their `Spec` model built) only when a step
uses one: `runbook run` of one http step loads one plugin, not eighteen (each costs 2-25 ms
of start-up). `Registry.plugins` still gives every plugin, loading the rest, for the
commands that list them all (`plugins`, `schema`).
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from functools import cached_property
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType
from typing import Any

from runbook_engine.errors import LoadError, Problem, display_path
from runbook_engine.expr import Expression, ExpressionError, compile_expression
from runbook_engine.plugin import Context, PluginSpec

ENTRY_POINT_GROUP = "runbook_engine.plugins"

# name -> module. Modules import only light things at top level (see STYLE.md).
BUILTINS: dict[str, str] = {
    "shell": "runbook_engine.plugins.shell",
    "http": "runbook_engine.plugins.http",
    "tcp": "runbook_engine.plugins.tcp",
    "file": "runbook_engine.plugins.file",
    "sleep": "runbook_engine.plugins.sleep",
    "duckdb.query": "runbook_engine.plugins.duckdb_query",
    "iceberg.table": "runbook_engine.plugins.iceberg_table",
    "iceberg.load": "runbook_engine.plugins.iceberg_load",
    "prometheus.query": "runbook_engine.plugins.prometheus_query",
    "metrics": "runbook_engine.plugins.metrics",
    "ansible": "runbook_engine.plugins.ansible",
    "docker.container": "runbook_engine.plugins.docker_container",
    "compose.services": "runbook_engine.plugins.compose_services",
    "compose": "runbook_engine.plugins.compose",
    "browser": "runbook_engine.plugins.browser",
    "material": "runbook_engine.plugins.material",
    "kafka.topic": "runbook_engine.plugins.kafka_topic",
    "notebook": "runbook_engine.plugins.notebook",
}


@dataclass(frozen=True)
class PluginInfo:
    name: str
    module: ModuleType
    source: str

    # Cached: the runner reads these for every step (a frozen dataclass still has a
    # __dict__, which is where cached_property keeps its value).
    @cached_property
    def kinds(self) -> frozenset[str]:
        return frozenset(self.module.KINDS)

    @cached_property
    def spec(self) -> type[PluginSpec]:
        spec: type[PluginSpec] = self.module.Spec
        return spec

    @cached_property
    def run_async(self) -> Callable[[Any, Context], Coroutine[Any, Any, Any]] | None:
        """The plugin's `async def run_async(spec, ctx)`, when it has one (run on the loop)."""
        fn = getattr(self.module, "run_async", None)
        return fn if callable(fn) else None

    @property
    def outputs(self) -> dict[str, str]:
        return dict(getattr(self.module, "OUTPUTS", {}))

    @cached_property
    def default_expect(self) -> list[Expression]:
        """What a step of this plugin must show when it has no `expect:` of its own."""
        return [compile_expression(src) for src in getattr(self.module, "DEFAULT_EXPECT", ())]

    @cached_property
    def can_be_destructive(self) -> bool:
        """Whether its arguments can make a step destructive (it has an is_destructive hook)."""
        return callable(getattr(self.module, "is_destructive", None))

    def is_destructive(self, spec: PluginSpec) -> bool:
        hook = getattr(self.module, "is_destructive", None)
        return bool(hook(spec)) if callable(hook) else False

    @property
    def summary(self) -> str:
        doc = (self.module.__doc__ or "").strip()
        return doc.splitlines()[0] if doc else ""


def _check_contract(module: ModuleType, source: str) -> str | None:
    """Why a module is not a plugin, or None if it is one."""
    kinds = getattr(module, "KINDS", None)
    if not kinds or not set(kinds) <= {"check", "action"}:
        return "KINDS must be a set of 'check' and/or 'action'"
    spec = getattr(module, "Spec", None)
    if not (isinstance(spec, type) and issubclass(spec, PluginSpec)):
        return "Spec must be a subclass of runbook_engine.plugin.PluginSpec"
    if not callable(getattr(module, "run", None)):
        return "run(spec, ctx) is missing"
    run_async = getattr(module, "run_async", None)
    if run_async is not None and not inspect.iscoroutinefunction(run_async):
        return "run_async must be an `async def run_async(spec, ctx)` (or leave it out)"
    for src in getattr(module, "DEFAULT_EXPECT", ()):
        try:
            compile_expression(src)
        except ExpressionError as exc:
            return f"DEFAULT_EXPECT {src!r}: {exc}"
    return None


class Registry:
    def __init__(self) -> None:
        self._loaded: dict[str, PluginInfo] = {}
        self._lazy: dict[str, str] = {}  # built-in name -> module path, imported on first use
        self.problems: list[Problem] = []

    def add_builtin(self, name: str, mod_path: str) -> None:
        """A built-in plugin, known by name; its module is imported by get()."""
        self._lazy[name] = mod_path

    def _source(self, name: str) -> str | None:
        if name in self._lazy:
            return _builtin_source(self._lazy[name])
        info = self._loaded.get(name)
        return info.source if info else None

    def add(self, name: str, module: ModuleType, source: str) -> None:
        why = _check_contract(module, source)
        if why:
            self.problems.append(Problem(source, 0, "", f"not a valid plugin {name!r}: {why}"))
            return
        other = self._source(name)
        if other is not None:
            self.problems.append(
                Problem(
                    source,
                    0,
                    "",
                    f"plugin {name!r} is defined twice: in {other} and in {source}; "
                    "rename one (set NAME in the module)",
                )
            )
            return
        self._loaded[name] = PluginInfo(name, module, source)

    def get(self, name: str) -> PluginInfo | None:
        info = self._loaded.get(name)
        if info is None:
            mod_path = self._lazy.get(name)  # _lazy never changes after build_registry
            if mod_path is not None:
                info = self._load_builtin(name, mod_path)
        return info

    def _load_builtin(self, name: str, mod_path: str) -> PluginInfo:
        source = _builtin_source(mod_path)
        module = importlib.import_module(mod_path)
        why = _check_contract(module, source)
        if why:  # a built-in is ours: breaking the contract is a bug (exit 3), not bad input
            raise RuntimeError(f"not a valid plugin {name!r} ({source}): {why}")
        # setdefault: two threads loading the same plugin at once agree on one PluginInfo.
        return self._loaded.setdefault(name, PluginInfo(name, module, source))

    @property
    def plugins(self) -> dict[str, PluginInfo]:
        """Every plugin, built-ins imported now (for the commands that list them all), by name."""
        for name in self._lazy:
            self.get(name)
        return {name: self._loaded[name] for name in self.names()}

    def names(self) -> list[str]:
        return sorted({*self._loaded, *self._lazy})


def _builtin_source(mod_path: str) -> str:
    return f"built-in ({mod_path})"


def _load_file(path: Path) -> ModuleType:
    mod_name = f"runbook_checks_{path.stem}"
    spec = importlib.util.spec_from_file_location(mod_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module
    spec.loader.exec_module(module)
    return module


def build_registry(project_dir: Path | None = None) -> Registry:
    """Built-ins, then installed entry points, then the project's checks/*.py."""
    reg = Registry()
    for name, mod_path in BUILTINS.items():
        reg.add_builtin(name, mod_path)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        source = f"entry point {ep.value} ({ep.dist.name if ep.dist else '?'})"
        try:
            reg.add(ep.name, ep.load(), source)
        except Exception as exc:  # a broken third-party plugin must not hide the others
            reg.problems.append(Problem(source, 0, "", f"cannot load plugin {ep.name!r}: {exc}"))
    checks = (project_dir / "checks") if project_dir else None
    if checks and checks.is_dir():
        for path in sorted(checks.glob("*.py")):
            if path.name.startswith("_"):
                continue
            shown = display_path(path)
            try:
                module = _load_file(path)
            except Exception as exc:  # the user's plugin file is user input: report, don't crash
                reg.problems.append(Problem(shown, 0, "", f"cannot load plugin: {type(exc).__name__}: {exc}"))
                continue
            reg.add(str(getattr(module, "NAME", path.stem)), module, shown)
    if reg.problems:
        raise LoadError(reg.problems)
    return reg
