"""The data templates and expressions see: vars, env, secrets, event, steps, now.

Built once per run from the chosen environment, the document's vars (rendered in
order, so a var may use an earlier one) and `--var` overrides.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from runbook_engine.errors import LoadError, UserError, display_path
from runbook_engine.expr import ExpressionData, ExpressionError, is_template, render, suggest
from runbook_engine.format.library import Library
from runbook_engine.format.spec import Contingency, Environment, Runbook
from runbook_engine.format.yamlio import line_of, load_yaml_text
from runbook_engine.redact import Redactor


class ReadOnly(dict[str, Any]):
    """A copy of a mapping that refuses every change."""

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError("the data templates and expressions read cannot be changed")

    __setitem__ = __delitem__ = __ior__ = update = pop = popitem = clear = setdefault = _refuse


# Jinja names a value's type in its messages ("'dict object' has no attribute 'x'"): keep that.
ReadOnly.__module__, ReadOnly.__name__, ReadOnly.__qualname__ = "builtins", "dict", "dict"


@dataclass
class TemplateData:
    vars: dict[str, Any]
    env: dict[str, Any]
    secrets: dict[str, str]
    event: datetime | None
    environment: str | None
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)

    def for_templates(self) -> dict[str, Any]:
        """Read-only views: the sandbox already refuses `vars.update(...)`; a view also
        stops whatever else is handed this data from changing what later steps see."""
        return {
            "vars": ReadOnly(self.vars),
            "env": ReadOnly(self.env),
            "secrets": ReadOnly(self.secrets),
            "event": self.event.isoformat() if self.event else None,
            "steps": ReadOnly(self.steps),
            "now": datetime.now(UTC).isoformat(),
        }

    def for_expressions(self, outputs: dict[str, Any]) -> ExpressionData:
        """Plugin outputs plus the context; secrets are left out so no explanation can show them.

        An output may still hold a secret (a command that echoes it): explanations mask
        each value before showing and shortening it.
        """
        data = dict(outputs)
        data.update({k: v for k, v in self.for_templates().items() if k != "secrets"})
        return ExpressionData(data, show=self.redactor.data)

    @property
    def redactor(self) -> Redactor:
        return Redactor(self.secrets)  # cheap: the compiled pattern is cached per set of secrets


SECRETS_DIRS = "RUNBOOK_SECRETS_DIRS"
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _secrets_path(lib: Library, environment: str, relative: str) -> Path:
    """The secrets file, which must be inside the project folder (or a folder named in
    RUNBOOK_SECRETS_DIRS): a runbook from elsewhere must not read `/etc/shadow` or `../x.env`
    into a run, where a step could send it anywhere. Symbolic links are followed first."""
    path = (lib.project_dir / relative).resolve()
    allowed = [lib.project_dir.resolve()]
    allowed += [Path(d).resolve() for d in os.environ.get(SECRETS_DIRS, "").split(os.pathsep) if d]
    if any(path.is_relative_to(folder) for folder in allowed):
        return path
    loaded = lib.environments[environment]
    raise UserError(
        f"{loaded.shown}:{line_of(loaded.raw, ('secrets_file',))}: secrets_file: {relative!r} is outside "
        f"the project folder ({display_path(lib.project_dir)}); move the file into the project, "
        f"or name its folder in {SECRETS_DIRS} (folders separated by {os.pathsep!r})"
    )


def _read_secrets_file(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    if not path.is_file():
        return out
    shown = display_path(path)
    for number, raw_bytes in enumerate(path.read_bytes().split(b"\n"), start=1):
        try:
            raw = raw_bytes.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise UserError(
                f"{shown}:{number}: byte 0x{raw_bytes[exc.start]:02x} at column {exc.start + 1} is not "
                "UTF-8 text; save the file as UTF-8"
            ) from None
        line = raw.strip().removeprefix("\ufeff")
        if not line or line.startswith("#"):
            continue
        key, equals, value = line.partition("=")
        key = key.strip().removeprefix("export ").strip()
        if not equals or not _NAME.fullmatch(key):
            # The line itself is not shown: it may hold a secret.
            what = "has no '='" if not equals else "does not start with a name (letters, digits, _)"
            raise UserError(f"{shown}:{number}: this line {what}; write NAME=value (or # for a comment)")
        out[key] = value.strip().strip("'\"")
    return out


def build_template_data(
    lib: Library,
    doc: Runbook | Contingency,
    environment: str | None,
    overrides: dict[str, str],
    event: datetime | None,
) -> TemplateData:
    """Resolve environment, secrets and vars; a problem here is a usage error (exit 2)."""
    env_doc: Environment | None = None
    if environment:
        loaded = lib.environments.get(environment)
        if loaded is None:
            raise UserError(
                f"unknown environment {environment!r}"
                f"{suggest(environment, list(lib.environments))}; "
                f"known: {', '.join(sorted(lib.environments)) or 'none'}"
            )
        env_doc = loaded.doc
    unknown = [k for k in overrides if k not in doc.vars]
    if unknown:
        raise UserError(
            f"{doc.name} has no var {unknown[0]!r}{suggest(unknown[0], list(doc.vars))}; "
            f"declared vars: {', '.join(doc.vars) or 'none'}"
        )
    file_secrets: dict[str, str] = {}
    if env_doc and env_doc.secrets_file:
        file_secrets = _read_secrets_file(_secrets_path(lib, str(environment), env_doc.secrets_file))
    secrets: dict[str, str] = {}
    for name in doc.secrets:
        value = os.environ.get(name) or file_secrets.get(name)
        if not value:
            where = f" or add it to {env_doc.secrets_file}" if env_doc and env_doc.secrets_file else ""
            raise UserError(f"secret {name} is not set: export {name}=...{where}")
        secrets[name] = value
        _warn_if_short(name, value)
    data = TemplateData(
        vars={},
        env=dict(env_doc.vars) if env_doc else {},
        secrets=secrets,
        event=event,
        environment=environment,
    )
    for key, value in doc.vars.items():
        if key in overrides:
            data.vars[key] = _like(value, overrides[key], f"{_where(lib, doc, key)}--var {key}")
            continue
        try:
            data.vars[key] = render(value, data.for_templates())
        except ExpressionError as exc:
            raise UserError(f"{_where(lib, doc, key)}vars.{key}: {data.redactor.text(str(exc))}") from None
    return data


def _where(lib: Library, doc: Runbook | Contingency, var: str) -> str:
    """`file:line: ` of a var, for an error found only when it is rendered."""
    loaded = (lib.runbooks if isinstance(doc, Runbook) else lib.contingencies).get(doc.name)
    if loaded is None:
        return ""
    return f"{loaded.shown}:{line_of(loaded.raw, ('vars', var))}: "


def _like(declared: Any, text: str, where: str) -> Any:
    """A --var value as the type of the var it overrides: `--var min_items=5` must compare
    as the number 5 when the runbook declares `min_items: 1000` (a string is kept as is)."""
    if isinstance(declared, bool):
        if text.lower() in ("true", "false"):
            return text.lower() == "true"
        raise UserError(f"{where}={text!r}: this var is true or false; give one of those")
    if isinstance(declared, int | float):
        try:
            return int(text) if isinstance(declared, int) else float(text)
        except ValueError:
            kind = "a whole number" if isinstance(declared, int) else "a number"
            raise UserError(f"{where}={text!r}: this var is {kind} (declared {declared!r})") from None
    if isinstance(declared, str) and is_template(declared):
        # Its type is whatever the template renders to: read the override as YAML would
        # read a plain value (8080 a number, true a boolean, anything else text).
        return _scalar(text)
    if declared is None or isinstance(declared, list | dict):
        kind = "empty" if declared is None else "a list" if isinstance(declared, list) else "a mapping"
        raise UserError(
            f"{where}={text!r}: this var is {kind} in the file; --var sets text, numbers "
            "and true/false only: change it in the file (or in an environment)"
        )
    return text


def _scalar(text: str) -> Any:
    """The text as the runbook reader would read a plain YAML value: a number or true/false
    when it is one, else the text itself (never a list or mapping)."""
    try:
        value = load_yaml_text(text, "--var")
    except LoadError:
        return text
    return value if isinstance(value, bool | int | float) else text


SHORT_SECRET = 6
_warned: set[str] = set()


def _warn_if_short(name: str, value: str) -> None:
    """Every occurrence of a secret's value is masked; a placeholder such as `x` would turn
    every x in the output into ***. Say so once per process (it stays masked)."""
    if len(value) < SHORT_SECRET and name not in _warned:
        _warned.add(name)
        sys.stderr.write(
            f"warning: secret {name} is only {len(value)} character(s) long; every occurrence "
            "of it in the output is masked, which garbles text: use a real, longer value\n"
        )
