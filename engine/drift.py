"""Drift: what an OpenAPI description says that the manifest does not (and the reverse).

Operations are matched by operationId. For each pair, everything the
description decides is compared: method, path, body encoding, streaming, the
answer's schema, and per parameter its location, wire name, required flag,
types, enums and limits. What the manifest declares beyond the description
(names, credentials, headers, answer kinds) is the overrides' business and
not drift.
"""
from __future__ import annotations

from typing import Any, Mapping

from . import openapi

__all__ = ["compare", "render_text"]

_LIMITS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength",
           "minItems", "maxItems", "maxProperties", "pattern")


def _resolve(schema: Any, store: Mapping[str, Any]) -> Any:
    seen = 0
    while isinstance(schema, Mapping) and "$ref" in schema and seen < 16:
        schema = store.get(schema["$ref"].rsplit("/", 1)[-1], {})
        seen += 1
    return schema if isinstance(schema, Mapping) else {}


def _alternatives(schema: Any, store: Mapping[str, Any], seen: frozenset[str] = frozenset()) -> list[Mapping[str, Any]]:
    """The schema and every branch under it, however deep: `nullable` over a `oneOf` nests one
    anyOf inside another (openapi.convert_schema), and branches are often $refs."""
    ref = schema.get("$ref") if isinstance(schema, Mapping) else None
    if isinstance(ref, str):
        if ref in seen:  # a schema that contains itself adds nothing new
            return []
        seen = seen | {ref}
    schema = _resolve(schema, store)
    out = [schema]
    for key in ("anyOf", "oneOf", "allOf"):
        for branch in schema.get(key, ()):
            out += _alternatives(branch, store, seen)
    return out


def _types(schema: Mapping[str, Any], store: Mapping[str, Any]) -> list[str]:
    out: set[str] = set()
    for branch in _alternatives(schema, store):
        t = branch.get("type")
        out |= set(t) if isinstance(t, list) else ({t} if t else set())
    return sorted(out)


def _enum(schema: Mapping[str, Any], store: Mapping[str, Any]) -> list[Any]:
    """The listed values of every branch; null is left to the types, where a `null` branch states it."""
    values = [v for branch in _alternatives(schema, store) for v in branch.get("enum", ())]
    return sorted({repr(v) for v in values if v is not None})


def _param_view(p: Mapping[str, Any], store: Mapping[str, Any]) -> dict[str, Any]:
    schema = _resolve(p.get("schema") or {}, store)
    view = {"in": p["in"], "wire": p.get("wire", p["name"]), "required": bool(p.get("required")),
            "file": p.get("file") is not None and p.get("file") is not False}
    if not view["file"]:
        view["types"] = _types(schema, store)
        view["enum"] = _enum(schema, store)
        for key in _LIMITS:
            if key in schema:
                view[key] = schema[key]
    return view


def _action_view(spec: Mapping[str, Any], params: list[Mapping[str, Any]], store: Mapping[str, Any],
                 streams: bool) -> dict[str, Any]:
    response = spec.get("response", {}).get("schema") or {}
    body = spec.get("body", "none")
    return {
        "method": spec["method"],
        "path": spec["path"],
        "body": body.get("type", "none") if isinstance(body, Mapping) else body,
        "streaming": streams,
        "response_schema": response.get("$ref", "").rsplit("/", 1)[-1] or None,
        "params": {p["name"]: _param_view(p, store) for p in params},
    }


def _diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    changes: list[str] = []
    for key in ("method", "path", "body", "streaming", "response_schema"):
        if old[key] != new[key]:
            changes.append(f"{key}: {old[key]!r} -> {new[key]!r}")
    for name in sorted(set(old["params"]) | set(new["params"])):
        a, b = old["params"].get(name), new["params"].get(name)
        if a is None:
            changes.append(f"param {name}: added ({b['in']}{', required' if b['required'] else ''})")
        elif b is None:
            changes.append(f"param {name}: removed")
        else:
            for key in sorted(set(a) | set(b)):
                if a.get(key) != b.get(key):
                    if key == "enum" and key in a and key in b:
                        plus = sorted(set(b[key]) - set(a[key]))
                        minus = sorted(set(a[key]) - set(b[key]))
                        changes.append(f"param {name}: enum {'+' + ', +'.join(plus) if plus else ''}"
                                       f"{' ' if plus and minus else ''}{'-' + ', -'.join(minus) if minus else ''}")
                    else:
                        changes.append(f"param {name}: {key} {a.get(key)!r} -> {b.get(key)!r}")
    return changes


def compare(manifest: Any, spec: Mapping[str, Any], detect_stream: str | None = "stream") -> dict[str, Any]:
    """The drift between a loaded manifest and an OpenAPI description, as plain data."""
    store_new = {k: openapi.convert_schema(v) for k, v in spec.get("components", {}).get("schemas", {}).items()}
    colls = openapi.collections(spec)
    theirs: dict[str, dict[str, Any]] = {}
    for path, method, op in openapi.operations(spec):
        desc = openapi.describe_operation(spec, path, method, op, colls)
        names = {p["name"]: p for p in desc["params"]}
        streams = bool(detect_stream) and openapi.is_stream_flag(names.get(detect_stream))
        theirs[desc["operation_id"] or f"{method} {path}"] = _action_view(desc, desc["params"], store_new, streams)
    ours: dict[str, tuple[str, dict[str, Any]]] = {}
    for action in manifest.actions.values():
        op_id = action.spec.get("operation_id") or f"{action.method} {action.path}"
        params = [{"name": p.name, "in": p.location, "wire": p.wire, "required": p.required,
                   "schema": p.schema, "file": p.file} for p in action.params]
        ours[op_id] = (action.name, _action_view(action.spec, params, manifest.schemas, action.stream_param is not None))
    added = sorted(set(theirs) - set(ours))
    removed = sorted(set(ours) - set(theirs))
    changed = []
    for op_id in sorted(set(ours) & set(theirs)):
        name, view = ours[op_id]
        diffs = _diff(view, theirs[op_id])
        if diffs:
            changed.append({"operation_id": op_id, "action": name, "changes": diffs})
    return {
        "added": [{"operation_id": k, "method": theirs[k]["method"], "path": theirs[k]["path"]} for k in added],
        "removed": [{"operation_id": k, "action": ours[k][0], "method": ours[k][1]["method"],
                     "path": ours[k][1]["path"]} for k in removed],
        "changed": changed,
        "drift": bool(added or removed or changed),
    }


def render_text(report: Mapping[str, Any]) -> str:
    lines = [f"drift: {len(report['added'])} added, {len(report['removed'])} removed, "
             f"{len(report['changed'])} changed"]
    for op in report["added"]:
        lines.append(f"+ {op['method']} {op['path']}  ({op['operation_id']})")
    for op in report["removed"]:
        lines.append(f"- {op['action']}: {op['method']} {op['path']}  ({op['operation_id']})")
    for op in report["changed"]:
        lines.append(f"~ {op['action']}  ({op['operation_id']})")
        lines.extend(f"    {c}" for c in op["changes"])
    return "\n".join(lines) + "\n"
