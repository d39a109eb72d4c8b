"""JSON Schema of runbook files, generated from the models (and each plugin's Spec)."""

from __future__ import annotations

from typing import Any

from runbook_engine.format.spec import Contingency, Environment, Runbook
from runbook_engine.registry import Registry


def json_schema(registry: Registry) -> dict[str, Any]:
    """One schema accepting any of the three kinds; plugin `with:` schemas under $defs."""
    schema: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "runbook file",
        "oneOf": [],
        "$defs": {},
    }
    for model in (Runbook, Contingency, Environment):
        sub = model.model_json_schema(by_alias=True, ref_template="#/$defs/{model}")
        schema["$defs"].update(sub.pop("$defs", {}))
        schema["$defs"][model.__name__] = sub
        schema["oneOf"].append({"$ref": f"#/$defs/{model.__name__}"})
    plugins: dict[str, Any] = {}
    for name in registry.names():
        info = registry.plugins[name]
        sub = info.spec.model_json_schema(by_alias=True, ref_template="#/$defs/{model}")
        schema["$defs"].update(sub.pop("$defs", {}))
        sub["description"] = f"{'/'.join(sorted(info.kinds))}: {info.summary}"
        sub["x-outputs"] = info.outputs
        plugins[name] = sub
    schema["x-plugins"] = plugins
    return schema
