"""An OpenAPI import plus an overrides file: a manifest that regenerates when the description changes.

`openai-connector import SPEC --overrides FILE` (and `tools/generate_manifest.py`, which writes the
bundled OpenAI manifests this way) imports the description, then applies the overrides: what the
description cannot say (paging, stream endings, better names, retries, form hints), kept apart from
what it does say so that a new version of the description is one command away. The file's sections
are documented in docs/language.md#overrides.
"""
from __future__ import annotations

import copy
import json
import os
from collections import Counter
from typing import Any, Iterable, Mapping

import yaml

from . import importer, openapi
from .manifest import schema_refs
from .errors import Error

__all__ = ["load_overrides", "apply_overrides", "import_with_overrides"]

_SECTIONS = {"extends", "import", "connector", "definitions", "shared_params", "detect", "rules", "actions",
             "composites", "triggers", "schemas"}
_RULE_MATCH = {"path_prefix", "method"}


def load_overrides(path: str | os.PathLike, seen: tuple[str, ...] = ()) -> dict[str, Any]:
    """An overrides file, with the file it `extends` (a path beside it) merged under it.

    The base's sections merge key by key; its rules come first; its per-operation `actions`
    merge under this file's; a composite or trigger of the same name is replaced, others added.
    """
    real = os.path.realpath(path)
    if real in seen:
        raise Error(f"{path}: extends itself")
    try:
        with open(path, "rb") as fh:
            ov = yaml.safe_load(fh)
    except yaml.YAMLError as exc:
        raise Error(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(ov, dict):
        raise Error(f"{path}: an overrides file is a mapping of sections")
    wrong = sorted(k for k in ov if k not in _SECTIONS and not str(k).startswith("x-"))
    if wrong:
        raise Error(f"{path}: unknown section(s) {wrong} (known: {', '.join(sorted(_SECTIONS))}; "
                    "x-* keys are free for YAML anchors)")
    base_name = ov.pop("extends", None)
    if base_name is None:
        return ov
    base = load_overrides(os.path.join(os.path.dirname(real), str(base_name)), seen + (real,))
    lists = ("rules", "composites", "triggers", "shared_params")
    out = _merge({k: v for k, v in base.items() if k not in lists}, {k: v for k, v in ov.items() if k not in lists})
    out["rules"] = base.get("rules", []) + ov.get("rules", [])
    out["shared_params"] = list(dict.fromkeys(base.get("shared_params", []) + ov.get("shared_params", [])))
    for key in ("composites", "triggers"):
        mine = {c["name"]: c for c in ov.get(key, [])}
        out[key] = [mine.pop(c["name"], c) for c in base.get(key, [])] + list(mine.values())
    return out


def import_with_overrides(spec_path: str | os.PathLike, overrides: str | os.PathLike | Mapping[str, Any],
                          ) -> tuple[dict[str, Any], list[importer.Note]]:
    """(manifest, notes): the description imported with the overrides' `import` options, then overridden.

    Notes the overrides answered (paging or a stream they declare) are dropped.
    """
    ov = load_overrides(overrides) if not isinstance(overrides, Mapping) else copy.deepcopy(dict(overrides))
    spec = importer.read_spec(spec_path)
    keep = schema_refs(ov)
    sandbox = (ov.get("connector") or {}).get("sandbox") or {}
    keep.update(sandbox.get("stream_schemas", {}).values())
    keep.update(n for s in sandbox.get("event_streams", {}).values() for n in s.get("events", {}).values())
    events = _webhook_events(spec) if (ov.get("connector") or {}).get("webhooks") is not None else {}
    keep |= schema_refs(events)
    stem = os.path.splitext(os.path.basename(str(spec_path)).removesuffix(".xz"))[0]
    named = {op: c["name"] for op, c in (ov.get("actions") or {}).items() if isinstance(c, Mapping) and "name" in c}
    imported, notes = importer.build_manifest(spec, stem, ov.get("import"), sorted(keep), named)
    touched: dict[str, tuple[str, set[str]]] = {}
    manifest = _apply(imported, spec, ov, events, touched)
    return manifest, _answered(notes, touched)


def apply_overrides(manifest: Mapping[str, Any], spec: Mapping[str, Any], ov: Mapping[str, Any],
                    webhook_events: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The imported manifest with the overrides applied (see `_apply` for the order)."""
    return _apply(manifest, spec, ov, webhook_events, {})


def _apply(manifest: Mapping[str, Any], spec: Mapping[str, Any], ov: Mapping[str, Any],
           webhook_events: Mapping[str, Any] | None, touched: dict[str, tuple[str, set[str]]]) -> dict[str, Any]:
    """The imported manifest with the overrides applied, in this order.

    1. `connector`: its keys replace the imported ones; `credentials` replace by name.
    2. `rules`: each `set` deep-merges into every action its `match` fits.
    3. `detect`: a stream flag and paging styles recognised from params and answers.
    4. `actions`: per operationId, deep-merged last; `params` changes are keyed by param name.
    5. `definitions`: merged by section and name (a named style replaces the imported one);
       `shared_params` are defined once and referred to with `use:`.
    6. `composites`, `triggers` and `schemas` are added as given.
    """
    out = copy.deepcopy(dict(manifest))
    connector = out["connector"]
    for key, value in copy.deepcopy(ov.get("connector") or {}).items():
        if key == "credentials":
            connector["credentials"] = {**connector.get("credentials", {}), **value}
        else:
            connector[key] = value
    hooks = connector.get("webhooks")
    if hooks is not None and webhook_events:
        hooks["events"] = dict(webhook_events)
    default = connector.get("default_credential")
    by_id = {a.get("operation_id"): a for a in out["actions"]}
    changes = ov.get("actions") or {}
    stale = sorted(set(changes) - set(by_id))
    if stale:
        raise Error(f"overrides: no operation {stale} in the description")
    actions = []
    for action in out["actions"]:
        imported_name, keys = action["name"], set()
        for rule in ov.get("rules") or ():
            unknown = set(rule.get("match") or {}) - _RULE_MATCH
            if unknown:
                raise Error(f"overrides: a rule matches by {sorted(_RULE_MATCH)}, not {sorted(unknown)}")
            if _matches(rule.get("match") or {}, action):
                action = _merge(action, rule.get("set") or {})
                keys.update(rule.get("set") or {})
        before = {k: action.get(k) for k in ("stream", "pagination")}
        _detect(spec, action, ov.get("detect") or {})
        keys.update(k for k, v in before.items() if action.get(k) != v)
        extra = changes.get(action.get("operation_id"))
        if extra:
            keys.update(extra)
            extra = dict(extra)
            param_changes = extra.pop("params", {})
            action = _merge(action, extra)
            names = {p["name"] for p in action["params"]}
            unknown = sorted(set(param_changes) - names)
            if unknown:
                raise Error(f"overrides: {action['operation_id']}: no parameter {unknown}")
            for p in action["params"]:
                if p["name"] in param_changes:
                    p.update(_merge(p, param_changes[p["name"]]))
        if (action.get("stream") or {}).get("use") in ((ov.get("definitions") or {}).get("streams") or {}):
            keys.add("stream")  # its stream style is one the author declared
        if action.get("credential") == default:
            action.pop("credential")
        touched[imported_name] = (action["name"], keys)
        actions.append(importer.ordered(action))
    dupes = sorted(n for n, c in Counter(a["name"] for a in actions).items() if c > 1)
    if dupes:
        raise Error(f"overrides: duplicate action names {dupes}: name them in `actions`")
    out["actions"] = actions

    definitions = out.get("definitions") or {}
    for section, named in copy.deepcopy(ov.get("definitions") or {}).items():
        definitions[section] = {**definitions.get(section, {}), **named} if isinstance(named, Mapping) else named
    shared = _share_params(actions, ov.get("shared_params") or ())
    if shared:
        definitions["parameters"] = {**definitions.get("parameters", {}), **shared}
    rest = {k: v for k, v in out.items() if k not in ("definitions", "actions", "schemas")}
    result: dict[str, Any] = {**rest, "definitions": definitions, "actions": actions} if definitions else \
        {**rest, "actions": actions}
    for key in ("composites", "triggers"):
        if ov.get(key):
            result[key] = copy.deepcopy(ov[key])
    schemas = {**out.get("schemas", {}), **copy.deepcopy(ov.get("schemas") or {})}
    if schemas:
        result["schemas"] = {k: schemas[k] for k in sorted(schemas)}
    return result


# A note of this kind is answered when the overrides set this key of its action.
_ANSWERS = {"paging": "pagination", "stream": "stream", "auth": "credential", "encoding": "params", "body": "body",
            "name": "name", "server": "path"}


def _answered(notes: Iterable[importer.Note], touched: Mapping[str, tuple[str, set[str]]]) -> list[importer.Note]:
    """The import's notes the overrides left open, under the actions' final names."""
    out = []
    for note in notes:
        if note.where not in touched:
            out.append(note)
            continue
        name, keys = touched[note.where]
        if _ANSWERS.get(note.kind) not in keys:
            out.append(importer.Note(note.kind, name, note.text))
    return out


def _merge(base: Any, extra: Any) -> Any:
    """Deep-merge `extra` into a copy of `base`; mappings merge, anything else replaces."""
    if isinstance(base, Mapping) and isinstance(extra, Mapping):
        out = dict(base)
        for k, v in extra.items():
            out[k] = _merge(base[k], v) if k in base else copy.deepcopy(v)
        return out
    return copy.deepcopy(extra)


def _as_list(value: Any) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _matches(match: Mapping[str, Any], action: Mapping[str, Any]) -> bool:
    if "path_prefix" in match and not any(action["path"].startswith(p) for p in _as_list(match["path_prefix"])):
        return False
    if "method" in match and action["method"] not in _as_list(match["method"]):
        return False
    return True


def _response_fields(spec: Mapping[str, Any], schema: Mapping[str, Any] | None) -> dict[str, Any]:
    if not schema:
        return {}
    name = str(schema.get("$ref", "")).rsplit("/", 1)[-1]
    resolved = spec.get("components", {}).get("schemas", {}).get(name, schema) if name else schema
    return dict(resolved.get("properties", {})) if isinstance(resolved, Mapping) else {}


def _detect(spec: Mapping[str, Any], action: dict[str, Any], detect: Mapping[str, Any]) -> None:
    """Stream and paging styles recognised by shape: a boolean stream flag; query params and a list answer."""
    names = {p["name"]: p for p in action["params"]}
    stream_param = detect.get("stream_param")
    if stream_param and openapi.is_stream_flag(names.get(stream_param)):
        action["stream"] = {"when": stream_param, "use": detect["stream_style"]}
    query = {p.get("wire", p["name"]) for p in action["params"] if p["in"] == "query"}
    fields = _response_fields(spec, (action.get("response") or {}).get("schema"))
    for rule in detect.get("paginations", []):
        if not set(rule.get("query_params", [])) <= query:
            continue
        if "method" in rule and action["method"] != rule["method"]:
            continue
        arr = rule.get("response_array")
        if arr and fields.get(arr, {}).get("type") != "array":
            continue
        action["pagination"] = rule["use"]
        return


def _share_params(actions: list[dict[str, Any]], names: Iterable[str]) -> dict[str, Any]:
    """Define each shared parameter once (its most common form) and point actions at it."""
    definitions: dict[str, Any] = {}
    for name in names:
        seen = Counter(json.dumps(p, sort_keys=True) for a in actions for p in a["params"] if p.get("name") == name)
        if not seen:
            continue
        common = json.loads(seen.most_common(1)[0][0])
        definitions[name] = common
        for action in actions:
            for i, p in enumerate(action["params"]):
                if p.get("name") != name:
                    continue
                diff = {k: v for k, v in p.items() if common.get(k) != v}
                missing = [k for k in common if k not in p]
                if missing or len(diff) > 1:  # more differs than is shared: keep it inline
                    continue
                action["params"][i] = {"use": name, **diff}
    return definitions


def _webhook_events(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The description's webhooks as event type (what the payload's `type` says) -> its schema."""
    events: dict[str, Any] = {}
    schemas = spec.get("components", {}).get("schemas", {})
    for _, item in sorted((spec.get("webhooks") or {}).items()):
        for op in (item or {}).values():
            if not isinstance(op, Mapping):
                continue
            media = (op.get("requestBody") or {}).get("content", {}).get("application/json", {})
            ref = str((media.get("schema") or {}).get("$ref", ""))
            schema = schemas.get(ref.rsplit("/", 1)[-1], {})
            kinds = ((schema.get("properties") or {}).get("type") or {}).get("enum") or []
            if ref and kinds:
                events[kinds[0]] = {"$ref": "#/schemas/" + ref.rsplit("/", 1)[-1]}
    return dict(sorted(events.items()))


