"""Drift: what an OpenAPI description says that the manifest does not (and the reverse).

The description is read by the importer (`importer.build_manifest`, once), as `openai-connector
import` reads it, so the report and the manifests made from descriptions agree on what it says.
Operations are matched by operationId. For each pair, everything the description decides is
compared: method, path and fixed query, every request content type (and the body fields of each,
also those the import leaves out), the stream switches, the security an operation states, the
answer's schema, and per parameter its location, wire name, required flag, types, enums and limits
(read through `anyOf`/`oneOf`/nullable forms, so a limit that moved into a null alternative is not
"removed"). Parameters are matched by where they go on the wire (location and wire name, a header's
in any case; the param that is the whole body as that), not by the caller's name: a manifest may
call an `X-Api-Version` header `version`, and lines name a param as the manifest does. The
description's webhook events are compared with the events the manifest's webhook block declares.
What the manifest declares beyond the description (names, headers, answer kinds, a credential where
the description states no security of its own) is the overrides' business and not drift.
"""
from __future__ import annotations

import collections
import re
from typing import Any, Iterator, Mapping
from urllib.parse import urlencode

from . import importer, openapi

__all__ = ["compare", "render_text"]

_LIMITS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength",
           "minItems", "maxItems", "maxProperties", "pattern")
_SCALARS = {"string", "integer", "number"}
# An integer format states its range; a range written out as the format's bounds (often rounded
# through a float: 9223372036854776000) is the same range.
_FORMAT_BOUNDS = {"int32": (-2 ** 31, 2 ** 31 - 1), "int64": (-2 ** 63, 2 ** 63 - 1)}
_CONTENT_TYPES = {"json": "application/json", "form": "application/x-www-form-urlencoded",
                  "multipart": "multipart/form-data"}
_EVENT_STREAM = "text/event-stream"
_STREAM_FORMAT = "sse"
_WHOLE_BODY = re.compile(r"^\s*\{\{\s*params\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}\s*$")


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


def _kinds(branch: Mapping[str, Any]) -> set[str]:
    t = branch.get("type")
    return set(t) if isinstance(t, list) else ({t} if t else set())


def _types(schema: Mapping[str, Any], store: Mapping[str, Any]) -> list[str]:
    out: set[str] = set()
    for branch in _alternatives(schema, store):
        out |= _kinds(branch)
    return sorted(out)


def _enum(schema: Mapping[str, Any], store: Mapping[str, Any]) -> tuple[list[str], bool]:
    """The listed values of every branch, and whether a scalar branch without a list accepts any value.

    Null is left to the types, where a `null` branch states it. `anyOf: [string, enum]` lists the
    known values of an open set: a value missing from it is still accepted.
    """
    values: set[str] = set()
    open_ = False
    for branch in _alternatives(schema, store):
        if "enum" in branch:
            values |= {repr(v) for v in branch["enum"] if v is not None}
        elif "const" in branch:
            values |= {repr(branch["const"])} if branch["const"] is not None else set()
        elif not any(k in branch for k in ("anyOf", "oneOf", "allOf")) and _kinds(branch) & _SCALARS:
            open_ = True
    return sorted(values), open_


def _bound(key: str, value: Any) -> Any:
    """A minimum or maximum at an integer format's bound, as that bound exactly."""
    if key in ("minimum", "maximum") and isinstance(value, (int, float)) and not isinstance(value, bool):
        for low, high in _FORMAT_BOUNDS.values():
            edge = low if key == "minimum" else high
            if abs(value - edge) <= max(1, abs(edge) >> 50):
                return edge
    return value


def _limits(schema: Mapping[str, Any], store: Mapping[str, Any]) -> dict[str, Any]:
    """The limits of every branch that is not the null one, and the ranges integer formats state."""
    found: dict[str, list[Any]] = {}
    for branch in _alternatives(schema, store):
        if _kinds(branch) == {"null"}:
            continue
        stated = {key: _bound(key, branch[key]) for key in _LIMITS if key in branch}
        fmt = _FORMAT_BOUNDS.get(branch.get("format", "")) if "integer" in _kinds(branch) else None
        if fmt:
            stated.setdefault("minimum", fmt[0])
            stated.setdefault("maximum", fmt[1])
        for key, value in stated.items():
            if value not in found.setdefault(key, []):
                found[key].append(value)
    return {key: values[0] if len(values) == 1 else sorted(values, key=repr) for key, values in found.items()}


def _param_view(p: Mapping[str, Any], key: tuple[str, str | None], store: Mapping[str, Any]) -> dict[str, Any]:
    schema = _resolve(p.get("schema") or {}, store)
    view = {"in": key[0], "wire": key[1], "required": bool(p.get("required")),
            "file": p.get("file") is not None and p.get("file") is not False}
    if not view["file"]:
        view["types"] = _types(schema, store)
        view["enum"], view["open"] = _enum(schema, store)
        view.update(_limits(schema, store))
    return view


def _whole_body(body: Any) -> str | None:
    """The param that is the whole body (a raw body's, or a JSON or form body's `{{ params.x }}`), if no
    option of the body sends fields."""
    body = {"type": body} if isinstance(body, str) else body or {}
    options = [o.get("body", "none") for o in body.get("options", ())] if body.get("type") == "choice" else [body]
    names: set[str] = set()
    for option in options:
        option = {"type": option} if isinstance(option, str) else option
        kind, template = option.get("type", "none"), option.get("template")
        whole = _WHOLE_BODY.match(template) if isinstance(template, str) and kind in ("json", "form") else None
        if kind == "raw":
            names.add(option.get("param"))
        elif whole:
            names.add(whole.group(1))
        elif kind != "none":
            return None  # fields are sent: the raw param is one of them
    return names.pop() if len(names) == 1 else None


def _key(p: Mapping[str, Any], whole: str | None) -> tuple[str, str | None]:
    """Where a param goes on the wire: (location, wire name), a header's name in lower case (headers are
    named in any case), and ("body", None) for the param that is the whole body."""
    if p["in"] == "body" and p["name"] == whole:
        return "body", None
    wire = p.get("wire") or p["name"]
    return p["in"], wire.lower() if p["in"] == "header" else wire


def _param_views(params: list[Mapping[str, Any]], body: Any,
                 store: Mapping[str, Any]) -> dict[tuple[str, str | None], tuple[str, dict[str, Any]]]:
    """Each param by where it goes on the wire: (its name, its view)."""
    whole = _whole_body(body)
    out: dict[tuple[str, str | None], tuple[str, dict[str, Any]]] = {}
    for p in params:
        key = _key(p, whole)
        out.setdefault(key, (p["name"], _param_view(p, key, store)))
    return out


def _switches(params: Mapping[tuple[str, str | None], tuple[str, Mapping[str, Any]]], detect: str | None,
              answers: list[str]) -> list[str]:
    """What turns the answer into a stream: a `stream` flag (body or query), a `stream_*` param whose
    values include an event stream, or nothing because the operation only ever streams."""
    out: list[str] = []
    if answers and all(a == _EVENT_STREAM for a in answers):
        out.append("always")
    if not detect:
        return out
    for (place, wire), (_, view) in params.items():
        if wire is None or view["file"]:
            continue
        kinds = set(view["types"])
        if wire == detect and "boolean" in kinds and kinds <= {"boolean", "null"}:  # a (nullable) boolean
            out.append(f"{place} {wire}")
        elif wire.startswith(detect + "_") and repr(_STREAM_FORMAT) in view["enum"]:
            out.append(f"{place} {wire}={_STREAM_FORMAT}")
    return sorted(out)


def _bare(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def _body_types(body: Any) -> list[str]:
    """The content types a manifest body block sends."""
    body = {"type": body} if isinstance(body, str) else body
    kind = body.get("type", "none")
    if kind == "none":
        return []
    if kind == "choice":
        return sorted({t for option in body.get("options", ()) for t in _body_types(option.get("body", {}))})
    if kind == "raw":
        return [_bare(str(body.get("content_type", "")))]
    return [_CONTENT_TYPES.get(kind, kind)]


def _requirement(op: Mapping[str, Any], spec: Mapping[str, Any]) -> tuple[str, bool] | None:
    """The security an operation states, as `A or B+C` (`none` for none), and whether it is its own.

    None when the description states no security at all.
    """
    explicit = "security" in op
    req = op["security"] if explicit else spec.get("security")
    if req is None:
        return None
    alternatives = sorted({"+".join(sorted(alt)) or "none" for alt in req if isinstance(alt, Mapping)}) or ["none"]
    return " or ".join(alternatives), explicit


def _security(matched: list[tuple[str, Any, tuple[str, bool] | None]], default_credential: str,
              default_schemes: set[str]) -> dict[str, str]:
    """op id -> a change line, for each action whose credential is not the one its stated security asks for.

    A requirement an operation states itself is a decision: `none` asks for no credential; a
    scheme other than the document's default is not met by the default credential; and the
    actions stating the same requirement send the same credential (the most common one). An
    operation left to the document's default is not judged: a manifest may give it another
    credential the description has no words for.
    """
    usual: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for _, credential, req in matched:
        if req and req[1]:
            usual[req[0]][credential] += 1
    out: dict[str, str] = {}
    for op_id, credential, req in matched:
        if not req or not req[1]:
            continue
        label = req[0]
        if label == "none":
            expected: str | None = "none"
        else:
            counts = usual[label]
            if not set(label.replace("+", " or ").split(" or ")) & default_schemes:
                counts = collections.Counter({c: n for c, n in counts.items() if c != default_credential})
            expected = counts.most_common(1)[0][0] if counts else None
        if credential != expected:
            if expected == "none":
                out[op_id] = f"security: credential {credential!r} -> none (the operation takes no credential)"
            else:
                sent = f" (sent as {expected!r})" if expected else ""
                out[op_id] = f"security: credential {credential!r} -> {label!r}{sent}"
    return out


def _event_types(spec: Mapping[str, Any]) -> dict[str, str]:
    """Event type -> the webhook's key: the type its payload names (`type: {enum: [x]}`), else the key."""
    schemas = spec.get("components", {}).get("schemas", {})
    out: dict[str, str] = {}
    for key, item in (spec.get("webhooks") or {}).items():
        kind = key
        for op in (item or {}).values():
            if not isinstance(op, Mapping):
                continue
            for media in op.get("requestBody", {}).get("content", {}).values():
                payload = _resolve(media.get("schema") or {}, schemas)
                field = _resolve(payload.get("properties", {}).get("type") or {}, schemas)
                names = field.get("enum") or ([field["const"]] if "const" in field else [])
                if len(names) == 1 and isinstance(names[0], str):
                    kind = names[0]
        out[kind] = key
    return out


def _deref(spec: Mapping[str, Any], node: Any) -> Mapping[str, Any]:
    """A path item, parameter, request body or response with its own `$ref`s followed ({} where one does not
    resolve)."""
    node = openapi.follow_refs(spec, node)
    return node if isinstance(node, Mapping) else {}


def _operations(spec: Mapping[str, Any]) -> Iterator[tuple[str, str, Mapping[str, Any], Mapping[str, Any]]]:
    """(path, METHOD, path item, operation) for each operation the importer makes an action of, in its order."""
    paths = spec.get("paths") if isinstance(spec.get("paths"), Mapping) else {}
    for path, item in paths.items():
        item = _deref(spec, item)
        for method in openapi.METHODS:
            if isinstance(item.get(method), Mapping):
                yield str(path), method.upper(), item, item[method]


def _content(spec: Mapping[str, Any], op: Mapping[str, Any]) -> Mapping[str, Any]:
    """The request content types of an operation, with their media."""
    content = _deref(spec, op.get("requestBody")).get("content")
    return content if isinstance(content, Mapping) else {}


def _answers(spec: Mapping[str, Any], op: Mapping[str, Any]) -> list[str]:
    """The content types the first success answer declares."""
    responses = op.get("responses") if isinstance(op.get("responses"), Mapping) else {}
    ok = _deref(spec, next((v for k, v in responses.items() if str(k).startswith("2")), {}))
    return [_bare(str(c)) for c in (ok.get("content") or {})]


def _undeclared(spec: Mapping[str, Any], item: Mapping[str, Any], op: Mapping[str, Any],
                params: dict[tuple[str, str | None], Any]) -> None:
    """Drop the path params the importer adds for placeholders the description does not declare, where the
    description declares a param of that name elsewhere: the param moved (say, to the query) and the path
    kept its placeholder, which is not a second param."""
    declared = {(str(p.get("in")), str(p.get("name"))) for p in (
        _deref(spec, raw) for raw in [*(item.get("parameters") or ()), *(op.get("parameters") or ())])}
    for key in [k for k in params if k[0] == "path" and k not in declared]:
        if any(name == key[1] for _, name in declared):
            del params[key]


def _other_content_types(spec: Mapping[str, Any], ops: list[tuple[str, str, Mapping[str, Any], Mapping[str, Any]]],
                         ) -> dict[int, dict[tuple[str, str | None], tuple[str, dict[str, Any]]]]:
    """The body fields of every request content type of the operations that accept several, each type read
    alone by the importer (one more import, of those operations only): the import proper declares the types
    it sends (a form and JSON, or one type of each kind), and drift reports the fields of all. Keyed by the
    operation's index in `ops`."""
    paths: dict[str, Any] = {}
    for i, (path, method, item, op) in enumerate(ops):
        content = _content(spec, op)
        if len(content) < 2:
            continue
        body = _deref(spec, op.get("requestBody"))
        for n, (ctype, media) in enumerate(content.items()):
            alone = {**op, "operationId": f"drift{i}-{n}", "requestBody": {**body, "content": {ctype: media}}}
            paths[f"/drift{i}-{n}/{path.lstrip('/')}"] = {"parameters": item.get("parameters") or [],
                                                          method.lower(): alone}
    if not paths:
        return {}
    split, _ = importer.build_manifest({**spec, "paths": paths})
    out: dict[int, dict[tuple[str, str | None], tuple[str, dict[str, Any]]]] = {}
    for action in split["actions"]:
        fields = out.setdefault(int(action["operation_id"][len("drift"):].split("-")[0]), {})
        for key, entry in _param_views(action["params"], action.get("body"), split.get("schemas") or {}).items():
            if key[0] == "body" and key[1] is not None:  # a field (the whole body of a raw type is no field)
                fields.setdefault(key, entry)
    return out


def _described(spec: Mapping[str, Any], detect: str | None,
               ) -> tuple[dict[str, dict[str, Any]], dict[str, tuple[str, bool] | None]]:
    """Each operation of the description as the importer reads it, by operationId: its view, and the
    security it states."""
    imported, _ = importer.build_manifest(spec)
    ops = list(_operations(spec))  # the importer makes one action of each, in this order
    others = _other_content_types(spec, ops)
    store = imported.get("schemas") or {}
    theirs: dict[str, dict[str, Any]] = {}
    security: dict[str, tuple[str, bool] | None] = {}
    for i, ((path, method, item, op), action) in enumerate(zip(ops, imported["actions"], strict=True)):
        op_id = op.get("operationId") or f"{method} {path.partition('?')[0]}"
        params = _param_views(action["params"], action.get("body"), store)
        _undeclared(spec, item, op, params)
        for key, entry in others.get(i, {}).items():
            params.setdefault(key, entry)
        content_types = sorted({_bare(str(c)) for c in _content(spec, op)})
        theirs[op_id] = _action_view(action, params, content_types, _switches(params, detect, _answers(spec, op)))
        security[op_id] = _requirement(op, spec)
    return theirs, security


def _action_view(spec: Mapping[str, Any], params: dict[tuple[str, str | None], tuple[str, dict[str, Any]]],
                 content_types: list[str], switches: list[str]) -> dict[str, Any]:
    response = spec.get("response", {}).get("schema") or {}
    return {
        "method": spec["method"],
        "path": spec["path"],
        "query": dict(spec.get("query") or {}),
        "content_types": content_types,
        "stream": switches,
        "response_schema": response.get("$ref", "").rsplit("/", 1)[-1] or None,
        "params": params,
    }


def _listing(plus: list[str], minus: list[str]) -> str:
    return " ".join(x for x in (", ".join("+" + v for v in plus), ", ".join("-" + v for v in minus)) if x)


def _enum_change(name: str, a: Mapping[str, Any], b: Mapping[str, Any]) -> str | None:
    """An enum change as the caller meets it: a value an open set no longer lists is still accepted."""
    old, new = set(a.get("enum", ())), set(b.get("enum", ()))
    closed_a, closed_b = bool(old) and not a.get("open"), bool(new) and not b.get("open")
    plus, minus = sorted(new - old), sorted(old - new)
    if closed_a and closed_b:
        return f"param {name}: enum {_listing(plus, minus)}" if plus or minus else None
    if closed_a:
        if not new:
            return f"param {name}: enum no longer restricted (was {', '.join(sorted(old))})"
        return f"param {name}: enum {_listing(plus, [])}{' ' if plus else ''}(any other value now accepted too)"
    if closed_b:
        return f"param {name}: enum now restricted to {', '.join(sorted(new))}"
    return f"param {name}: enum {_listing(plus, [])}" if plus else None


def _pairs(ours: Mapping[tuple[str, str | None], tuple[str, dict[str, Any]]],
           theirs: Mapping[tuple[str, str | None], tuple[str, dict[str, Any]]],
           ) -> list[tuple[str, dict[str, Any] | None, dict[str, Any] | None]]:
    """(name, our view, their view) of each param, by name: the same where both send it to the same place
    on the wire; else one that moved (the same wire name, another location) or was renamed on the wire
    (another wire name, the same name); else ours alone (removed) or theirs alone (added). The name is
    ours where we have the param."""
    pairs = [(ours[k][0], ours[k][1], theirs[k][1]) for k in ours if k in theirs]
    mine, yours = [k for k in ours if k not in theirs], [k for k in theirs if k not in ours]
    for same in (lambda a, b: a[1] is not None and a[1] == b[1], lambda a, b: ours[a][0] == theirs[b][0]):
        for a in list(mine):
            found = [b for b in yours if same(a, b)]
            if len(found) == 1:
                pairs.append((ours[a][0], ours[a][1], theirs[found[0]][1]))
                mine.remove(a)
                yours.remove(found[0])
    pairs += [(ours[k][0], ours[k][1], None) for k in mine] + [(theirs[k][0], None, theirs[k][1]) for k in yours]
    return sorted(pairs, key=lambda pair: pair[0])


def _diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(kind, line) for each difference."""
    changes: list[tuple[str, str]] = []
    for key in ("method", "path", "query", "response_schema"):
        if old[key] != new[key]:
            changes.append((key, f"{key}: {old[key]!r} -> {new[key]!r}"))
    for key, label, kind in (("content_types", "content types", "content_type"),
                             ("stream", "stream switches", "stream")):
        plus = sorted(set(new[key]) - set(old[key]))
        minus = sorted(set(old[key]) - set(new[key]))
        if plus or minus:
            changes.append((kind, f"{label}: {_listing(plus, minus)}"))
    for name, a, b in _pairs(old["params"], new["params"]):
        if a is None:
            changes.append(("param", f"param {name}: added ({b['in']}{', required' if b['required'] else ''})"))
        elif b is None:
            changes.append(("param", f"param {name}: removed"))
        else:
            for key in sorted(set(a) | set(b)):
                if key == "open" or a.get(key) == b.get(key) and key != "enum":
                    continue
                if key == "enum":
                    line = _enum_change(name, a, b)
                    if line:
                        changes.append(("enum", line))
                else:
                    kind = "limit" if key in _LIMITS else "type" if key == "types" else "param"
                    changes.append((kind, f"param {name}: {key} {a.get(key)!r} -> {b.get(key)!r}"))
    return changes


def _with_query(path: str, query: Mapping[str, str]) -> str:
    return f"{path}?{urlencode(query)}" if query else path


def compare(manifest: Any, spec: Mapping[str, Any], detect_stream: str | None = "stream") -> dict[str, Any]:
    """The drift between a loaded manifest and an OpenAPI description, as plain data (the `--json` report).

    `added` operations carry their fixed `query` (and `variant_of`, the operation at the same
    path without it), content types, stream switches and security; each `changed` operation
    its `changes` as lines and as `details` (`kind`: method, path, query, response_schema,
    content_type, stream, security, param, type, enum or limit); `webhooks` the event types
    added or removed.
    """
    theirs, security = _described(spec, detect_stream)
    ours: dict[str, tuple[str, dict[str, Any], str]] = {}
    for action in manifest.actions.values():
        op_id = action.spec.get("operation_id") or f"{action.method} {action.path}"
        body = action.spec.get("body", "none")
        params = _param_views([{"name": p.name, "in": p.location, "wire": p.wire, "required": p.required,
                                "schema": p.schema, "file": p.file} for p in action.params], body, manifest.schemas)
        stream = action.spec.get("stream")
        switches = []
        if stream and "when" in stream:
            p = action.by_name[stream["when"]]
            where = f"{p.location} {p.wire.lower() if p.location == 'header' else p.wire}"
            switches = [f"{where}={stream['equals']}" if "equals" in stream else where]
        elif stream:
            switches = ["always"]
        ours[op_id] = (action.name, _action_view(action.spec, params, _body_types(body), switches), action.credential)
    added = sorted(set(theirs) - set(ours))
    removed = sorted(set(ours) - set(theirs))
    both = sorted(set(ours) & set(theirs))
    default_schemes = {s for alt in spec.get("security") or () if isinstance(alt, Mapping) for s in alt}
    wrong_credential = _security([(k, ours[k][2], security[k]) for k in both],
                                 getattr(manifest, "default_credential", None) or "", default_schemes)
    changed = []
    for op_id in both:
        name, view, _ = ours[op_id]
        diffs = _diff(view, theirs[op_id])
        if op_id in wrong_credential:
            diffs.append(("security", wrong_credential[op_id]))
        if diffs:
            changed.append({"operation_id": op_id, "action": name, "changes": [line for _, line in diffs],
                            "details": [{"kind": kind, "change": line} for kind, line in diffs]})
    plain = {(v["method"], v["path"]): k for k, v in theirs.items() if not v["query"]}
    added_ops = []
    for k in added:
        v = theirs[k]
        entry: dict[str, Any] = {"operation_id": k, "method": v["method"], "path": v["path"]}
        if v["query"]:
            entry["query"] = v["query"]
            if (v["method"], v["path"]) in plain:
                entry["variant_of"] = plain[(v["method"], v["path"])]
        entry.update(content_types=v["content_types"], stream=v["stream"])
        if security[k]:
            entry["security"] = security[k][0]
        added_ops.append(entry)
    declared = set(((getattr(manifest, "connector", None) or {}).get("webhooks") or {}).get("events") or {})
    described = _event_types(spec)
    webhooks = {"added": sorted(set(described) - declared), "removed": sorted(declared - set(described))}
    return {
        "added": added_ops,
        "removed": [{"operation_id": k, "action": ours[k][0], "method": ours[k][1]["method"],
                     "path": ours[k][1]["path"]} for k in removed],
        "changed": changed,
        "webhooks": webhooks,
        "drift": bool(added or removed or changed or webhooks["added"] or webhooks["removed"]),
    }


def render_text(report: Mapping[str, Any]) -> str:
    hooks = report.get("webhooks") or {"added": [], "removed": []}
    lines = [f"drift: {len(report['added'])} added, {len(report['removed'])} removed, "
             f"{len(report['changed'])} changed"
             + (f"; webhook events: {len(hooks['added'])} added, {len(hooks['removed'])} removed"
                if hooks["added"] or hooks["removed"] else "")]
    for op in report["added"]:
        query = op.get("query") or {}
        note = f"  ({op['operation_id']})"
        if query:
            fixed = urlencode(query)
            note = (f"  ({op['operation_id']}: {op['variant_of']} with the fixed query {fixed})"
                    if op.get("variant_of") else f"  ({op['operation_id']}, with the fixed query {fixed})")
        lines.append(f"+ {op['method']} {_with_query(op['path'], query)}{note}")
    for op in report["removed"]:
        lines.append(f"- {op['action']}: {op['method']} {op['path']}  ({op['operation_id']})")
    for op in report["changed"]:
        lines.append(f"~ {op['action']}  ({op['operation_id']})")
        lines.extend(f"    {c}" for c in op["changes"])
    lines.extend(f"+ webhook event {kind}" for kind in hooks["added"])
    lines.extend(f"- webhook event {kind}" for kind in hooks["removed"])
    return "\n".join(lines) + "\n"
