"""Iceberg catalogs for `iceberg.table` and `iceberg.load`: arguments, opening, scrubbing.

Catalog properties may carry credentials (a REST `credential`, a password inside a
database URI), so no message that leaves this module may contain one: every error
raised while a catalog is open goes through :meth:`CatalogSession.error`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field

from runbook_engine.plugin import Context, StepError, require

DEFAULT_CATALOG_NAME = "default"
SQLITE_PREFIX = "sqlite:///"
# Values of these keys are not secret and keep error messages readable.
_PLAIN_KEYS = frozenset({"name", "type"})
_SECRET_HINTS = ("credential", "secret", "token", "password", "key")
_MIN_SCRUB = 4


def _check_catalog(value: dict[str, str | int | float | bool]) -> dict[str, str | int | float | bool]:
    # Messages here never echo values: they may be secrets rendered from templates.
    if not value:
        raise ValueError("catalog: needs its properties, e.g. {type: sql, uri: ..., warehouse: ...}")
    if not ({"type", "uri", "py-catalog-impl", "name"} & value.keys()):
        raise ValueError(
            "catalog: needs type: (sql, rest, hive, glue...) or uri:, "
            "or only a name: configured in ~/.pyiceberg.yaml"
        )
    for key in ("type", "name"):
        if key in value and not isinstance(value[key], str):
            raise ValueError(f"catalog.{key} must be a string")
    return value


def _check_identifier(value: str) -> str:
    parts = value.split(".")
    if len(parts) < 2 or not all(p.strip() for p in parts):
        raise ValueError(f"table must be namespace.table (got {value!r})")
    return value


CatalogProperties = Annotated[
    dict[str, str | int | float | bool],
    AfterValidator(_check_catalog),
    Field(description="pyiceberg catalog properties (type, uri, warehouse, credential...)."),
]
TableName = Annotated[
    str, AfterValidator(_check_identifier), Field(description="The table: namespace.table.")
]


def identifier(table: str) -> tuple[str, ...]:
    return tuple(table.split("."))


@dataclass
class CatalogSession:
    """An open catalog and the strings that must never appear in a message."""

    catalog: Any
    name: str
    secrets: list[str] = field(default_factory=list)

    def scrub(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text

    def error(self, doing: str, exc: BaseException) -> StepError:
        detail = str(exc).strip() or type(exc).__name__
        return StepError(f"{doing}: {self.scrub(detail)}")


def _text(value: str | int | float | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _is_sql(conf: dict[str, str]) -> bool:
    kind = conf.get("type")
    return kind == "sql" or (kind is None and conf.get("uri", "").startswith(("sqlite", "postgresql")))


def _sqlite_uri(uri: str, ctx: Context, may_create: bool) -> str:
    """A sqlite:/// URI with its relative path made absolute (relative to the project)."""
    rest = uri[len(SQLITE_PREFIX) :]
    path_text, sep, query = rest.partition("?")
    if not path_text or path_text == ":memory:" or path_text.startswith("file:"):
        return uri
    path = ctx.resolve(path_text)
    if not path.is_file():
        if not may_create:
            # SQLite would create an empty catalog here and every table would look missing.
            raise StepError(
                "the catalog's SQLite database does not exist (see catalog.uri; relative paths "
                f"start at the project folder {ctx.workdir})"
            )
        path.parent.mkdir(parents=True, exist_ok=True)
    return f"{SQLITE_PREFIX}{path}{sep}{query}"


def _warehouse(value: str, ctx: Context) -> str:
    """A local warehouse (a plain path or file://relative) as an absolute file:// URI."""
    if "://" not in value:
        return f"file://{ctx.resolve(value)}"
    if value.startswith("file://") and not value.startswith(("file:///", "file://localhost/")):
        return f"file://{ctx.resolve(value[len('file://') :])}"
    return value


def _secrets(props: dict[str, str], *more: str) -> list[str]:
    found: set[str] = set()
    for key, value in props.items():
        if key in _PLAIN_KEYS:
            continue
        found.add(value)
        with suppress(ValueError):
            parts = urlsplit(value)
            found.update(p for p in (parts.password, parts.username, parts.query) if p)
        if any(hint in key.lower() for hint in _SECRET_HINTS):
            found.update(value.split(":"))
    found.update(more)
    # Longest first, so a URI is hidden whole before any of its parts.
    return sorted((s for s in found if len(s) >= _MIN_SCRUB), key=len, reverse=True)


@contextmanager
def open_catalog(
    props: dict[str, str | int | float | bool], ctx: Context, *, may_create: bool
) -> Iterator[CatalogSession]:
    """Load the catalog; without ``may_create`` it never creates catalog tables or files."""
    catalogs = require("pyiceberg.catalog", "iceberg")
    conf = {key: _text(value) for key, value in props.items()}
    name = conf.pop("name", DEFAULT_CATALOG_NAME)
    given = dict(conf)
    if _is_sql(conf):
        if conf.get("uri", "").startswith(SQLITE_PREFIX):
            conf["uri"] = _sqlite_uri(conf["uri"], ctx, may_create=may_create)
        if "warehouse" in conf:
            conf["warehouse"] = _warehouse(conf["warehouse"], ctx)
        if not may_create:
            conf.setdefault("init_catalog_tables", "false")
    rewritten = [conf[key] for key in ("uri", "warehouse") if key in conf]
    session = CatalogSession(None, name, _secrets(given, *rewritten))
    try:
        session.catalog = catalogs.load_catalog(name, **conf)
    except Exception as exc:  # any library or network failure means "could not look"
        raise session.error(f"cannot open catalog {name!r}", exc) from None
    try:
        yield session
    finally:
        with suppress(Exception):  # closing must not hide the step's own outcome
            session.catalog.close()


def load_table_or_none(session: CatalogSession, table: str) -> Any:
    """The table, or None when it (or its namespace) does not exist."""
    errors = require("pyiceberg.exceptions", "iceberg")
    try:
        return session.catalog.load_table(identifier(table))
    except (errors.NoSuchTableError, errors.NoSuchNamespaceError):
        return None
    except Exception as exc:  # an unreadable catalog or metadata file: could not look
        raise session.error(f"cannot load table {table}", exc) from None


def iso_ms(ms: int | None) -> str | None:
    if ms is None:
        return None
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).isoformat(timespec="milliseconds")


def total_records(table: Any, snapshot: Any) -> int:
    """Rows in a snapshot, from its summary; the manifests when a writer left it out."""
    if snapshot is None:
        return 0
    value = snapshot.summary["total-records"] if snapshot.summary is not None else None
    if value is not None:
        return int(value)
    # Planning reads metadata only, never the data files.
    tasks = table.scan(snapshot_id=snapshot.snapshot_id).plan_files()
    return sum(int(task.file.record_count) for task in tasks)
