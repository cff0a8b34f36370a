"""Any OpenAPI 3.0 or 3.1 description -> a starting manifest in the connector language.

`openai-connector import SPEC.yaml -o mine.yaml` runs `import_spec` and `render`.
Everything the description says is carried over: credentials from
`securitySchemes` and each operation's `security`, param styles from `style` and
`explode`, body types (and a `choice` of them) from the request content types,
`$ref`s resolved (component schemas into `schemas`, the rest inlined). What it
cannot say (paging, how a stream ends, better names) is returned as notes, and
written as `# import:` comments beside the actions they concern.
"""
from __future__ import annotations

import copy
import os
import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping
from urllib.parse import parse_qsl, unquote

from . import openapi
from .errors import Error

__all__ = ["Note", "import_spec", "read_spec", "build_manifest", "ordered", "render"]

_METHODS = openapi.METHODS
_UNSUPPORTED_METHODS = ("head", "options", "trace")
_COMPONENT_SCHEMA = re.compile(r"^#/components/schemas/([^/]+)$")
_IDENT_START = re.compile(r"^[a-z]")
_PARAM_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SERVER_VAR = re.compile(r"\{([^{}]+)\}")
_PAGING_WORDS = {"page", "page_size", "per_page", "pagesize", "limit", "offset", "cursor", "after", "before",
                 "starting_after", "ending_before", "page_token", "pagetoken", "next", "next_token",
                 "continuation", "continuation_token", "skip", "top", "marker", "since"}
_RESERVED_HEADERS = {"accept", "content-type", "authorization"}
_DATA_KEYS = ("example", "examples", "default", "enum", "const")
_WHOLE = "\x00body"  # the key of a param that is the whole body (no field name can be it)
_MAX_INLINE = 32  # nested local $refs followed before one is taken as a cycle
_MAX_FIXES = 20  # invalid keywords dropped from one schema before the whole of it is
_STREAM_TYPES = {"text/event-stream": "sse", "application/x-ndjson": "jsonl", "application/jsonl": "jsonl",
                 "application/json-seq": "jsonl", "application/x-jsonlines": "jsonl"}
ACTION_ORDER = ("name", "operation_id", "group", "summary", "description", "method", "path", "query", "credential",
          "headers", "body", "body_optional", "params", "response", "stream", "pagination", "deprecated")


def ordered(action: dict[str, Any]) -> dict[str, Any]:
    """An action's keys in the order a manifest is read in (its name first, then what it sends)."""
    out = {k: action[k] for k in ACTION_ORDER if k in action}
    out.update({k: v for k, v in action.items() if k not in out})
    return out


@dataclass(frozen=True)
class Note:
    """Something the description could not say: its `kind` (paging, stream, name, auth, ...), where, and what."""

    kind: str
    where: str
    text: str

    def __str__(self) -> str:
        return f"{self.where}: {self.text}"


# How a description's own words become names and texts: each a list of dotted paths into the operation
# (or, for `param_name`, the parameter), the first non-empty text winning; see docs/language.md#import.
_READ_OPTIONS = {"summary": ["summary"], "description": ["description"], "group": ["tags.0"], "param_name": []}


def _options(given: Mapping[str, Any]) -> dict[str, Any]:
    """The import options with their defaults; an Error naming each wrong one."""
    wrong = [f"import option {k!r} is unknown (known: credentials, group, names, param_name, summary, description)"
             for k in given if k not in {*_READ_OPTIONS, "names", "credentials"}]
    out: dict[str, Any] = {k: list(v) for k, v in _READ_OPTIONS.items()}
    for key in _READ_OPTIONS:
        value = given.get(key, out[key])
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            wrong.append(f"import option {key!r} must be a dotted path or a list of them")
        else:
            out[key] = value
    out["names"] = given.get("names", "operation_id")
    if out["names"] not in ("operation_id", "path"):
        wrong.append(f"import option 'names' must be operation_id or path, not {out['names']!r}")
    out["credentials"] = given.get("credentials") or {}
    if not isinstance(out["credentials"], Mapping) or not all(
            isinstance(v, str) and re.match(r"^[a-z][a-z0-9_]*$", v) for v in out["credentials"].values()):
        wrong.append("import option 'credentials' must map security scheme names to credential names "
                     "(lower_snake_case)")
    if wrong:
        raise Error("; ".join(wrong))
    return out


def _read(node: Any, dotted: str) -> Any:
    """The value at a dotted path (`x-meta.name`, `tags.0`) in a description's node, or None."""
    return openapi.lookup(node, dotted.split("."))


def _first_text(node: Any, paths: list[str]) -> str | None:
    for dotted in paths:
        text = _strip(_read(node, dotted))
        if text:
            return text
    return None


def _snake(text: str) -> str:
    text = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", str(text))
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", text)
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def _ident(text: Any, fallback: str) -> str:
    """A manifest identifier (`^[a-z][a-z0-9_]*$`) from any text."""
    out = _snake(text) or fallback
    return out if _IDENT_START.match(out) else f"{fallback}_{out}"


def _param_name(wire: str) -> str:
    name = openapi._param_name(wire)
    return name if _PARAM_NAME.match(name) else f"p_{name}"


def _strip(text: Any) -> str | None:
    return text.strip() if isinstance(text, str) and text.strip() else None


def _media_kind(content_type: str) -> str:
    base = content_type.split(";")[0].strip().lower()
    if base in ("application/json", "text/json") or base.endswith("+json"):
        return "json"
    if base == "application/x-www-form-urlencoded":
        return "form"
    if base.startswith("multipart/"):
        return "multipart"
    return "raw"


def _textual(content_type: str) -> bool:
    base = content_type.split(";")[0].strip().lower()
    return base.startswith("text/") or base.endswith(("+xml", "/xml", "+json", "/json")) or \
        base in ("application/x-www-form-urlencoded", "application/yaml", "application/sdp")


def _concrete(content_type: str) -> bool:
    return "*" not in content_type and "," not in content_type and bool(content_type.strip())


class _Importer:
    """One description being imported: its notes, and the component schemas its actions reach."""

    def __init__(self, spec: Mapping[str, Any], options: Mapping[str, Any] | None = None) -> None:
        self.spec = spec
        self.options = _options(options or {})
        self.notes: list[Note] = []
        components = spec.get("components") if isinstance(spec.get("components"), Mapping) else {}
        self.components: Mapping[str, Any] = components.get("schemas") or {}
        self.safe: dict[str, str] = {}  # component schema name -> its name in the manifest
        taken: set[str] = set()
        for name in self.components:
            safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", str(name)).strip("_") or "Schema"
            base, n = safe, 2
            while safe in taken:
                safe, n = f"{base}_{n}", n + 1
            taken.add(safe)
            self.safe[name] = safe
        self.used: dict[str, str] = {}  # manifest name -> component name, for every schema referenced

    def note(self, kind: str, where: str, text: str) -> None:
        note = Note(kind, where, text)
        if note not in self.notes:
            self.notes.append(note)

    # --- references -------------------------------------------------------------------------------

    def pointer(self, ref: str) -> Any:
        """The node a local reference (`#/a/b`) names, or None."""
        return openapi.resolve_pointer(self.spec, ref)

    def deref(self, node: Any, where: str) -> Any:
        """A parameter, request body, response or schema with its own `$ref`s followed."""
        target = openapi.follow_refs(self.spec, node, _MAX_INLINE)
        if target is None and isinstance(node, Mapping) and isinstance(node.get("$ref"), str):
            self.note("schema", where, f"$ref {node['$ref']!r} could not be resolved (only local references are): "
                                       "any value is accepted there")
        return target if target is not None else {}

    def local(self, schema: Any, where: str, stack: tuple[str, ...] = ()) -> Any:
        """A schema with references to component schemas kept (as `#/schemas/Name`) and every other one inlined."""
        if isinstance(schema, list):
            return [self.local(s, where, stack) for s in schema]
        if not isinstance(schema, Mapping):
            return schema
        ref = schema.get("$ref")
        if isinstance(ref, str):
            siblings = {k: self.local(v, where, stack) if k not in _DATA_KEYS else copy.deepcopy(v)
                        for k, v in schema.items() if k != "$ref"}
            m = _COMPONENT_SCHEMA.match(ref)
            name = unquote(m.group(1)).replace("~1", "/").replace("~0", "~") if m else None
            if name is not None and name in self.components:
                safe = self.safe[name]
                self.used[safe] = name
                return {"$ref": f"#/schemas/{safe}", **siblings}
            target = self.pointer(ref)
            if target is None or ref in stack or len(stack) >= _MAX_INLINE:
                why = "refers to itself" if ref in stack else "could not be resolved (only local references are)"
                self.note("schema", where, f"$ref {ref!r} {why}: any value is accepted there")
                return siblings
            inlined = self.local(target, where, stack + (ref,))
            return {**inlined, **siblings} if isinstance(inlined, Mapping) else inlined
        return {k: self.local(v, where, stack) if k not in _DATA_KEYS else copy.deepcopy(v)
                for k, v in schema.items()}

    def schema(self, raw: Any, where: str) -> dict[str, Any]:
        """A JSON Schema (2020-12) the manifest accepts, from an OpenAPI schema."""
        converted = openapi.convert_schema(self.local(raw if raw is not None else {}, where))
        return _clean(converted if isinstance(converted, dict) else {}, self, where)

    def fields(self, schema: Any, where: str, depth: int = 0) -> tuple[dict[str, Any], set[str]]:
        """An object schema's properties (raw) and required names, through `$ref`, `allOf`, `anyOf` and `oneOf`."""
        schema = self.deref(schema, where)
        props: dict[str, Any] = {}
        required: set[str] = set()
        if not isinstance(schema, Mapping) or depth > 16:
            return props, required
        for branch in schema.get("allOf") or ():
            p, r = self.fields(branch, where, depth + 1)
            props.update(p)
            required |= r
        alternatives = [*(schema.get("anyOf") or ()), *(schema.get("oneOf") or ())]
        for branch in alternatives:
            p, _ = self.fields(branch, where, depth + 1)
            props.update({k: v for k, v in p.items() if k not in props})
        if alternatives and depth == 0:
            self.note("body", where, "the body is one of several shapes: their fields are merged, none required")
        props.update(schema.get("properties") or {})
        required |= set(schema.get("required") or ())
        return props, required

    def is_file(self, schema: Any, where: str, depth: int = 0) -> bool:
        """A field that carries file content: binary (3.0), a media type without encoding (3.1), or a list of them."""
        schema = self.deref(schema, where)
        if not isinstance(schema, Mapping) or depth > 8:
            return False
        if schema.get("format") == "binary" or ("contentMediaType" in schema and "contentEncoding" not in schema):
            return True
        if isinstance(schema.get("items"), Mapping) and self.is_file(schema["items"], where, depth + 1):
            return True
        branches = [*(schema.get("anyOf") or ()), *(schema.get("oneOf") or ())]
        return any(self.is_file(b, where, depth + 1) for b in branches)


def _meta_valid(schema: dict[str, Any]) -> bool:
    """A fast first check against the 2020-12 meta-schema (compiled); the engine checks the same at load."""
    try:
        import jsonschema_rs
    except ImportError:  # pragma: no cover - the Python check below judges alone
        return False
    try:
        return bool(jsonschema_rs.meta.is_valid(schema))
    except (ValueError, TypeError, jsonschema_rs.ReferencingError):
        return False


def _clean(schema: dict[str, Any], imp: _Importer, where: str) -> dict[str, Any]:
    """Drop what a manifest schema may not hold (`$id`, foreign `$schema`, patterns the validator cannot compile)."""
    import jsonschema

    from .params import pattern_matcher

    def ok_pattern(p: Any) -> bool:
        try:
            pattern_matcher(p)
        except (ValueError, TypeError):
            imp.note("schema", where, f"pattern {str(p)[:60]!r} is not a regular expression the validator "
                                      "can compile: dropped")
            return False
        return True

    def walk(node: Any) -> Any:
        if isinstance(node, list):
            return [walk(v) for v in node]
        if not isinstance(node, dict):
            return node
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key in _DATA_KEYS:
                out[key] = value
            elif key in ("$id", "$dynamicRef", "$dynamicAnchor", "$recursiveRef"):
                continue
            elif key == "$schema" and not (isinstance(value, str) and re.match(r"https?://json-schema\.org/", value)):
                continue
            elif key == "pattern" and not (isinstance(value, str) and ok_pattern(value)):
                continue
            elif key == "patternProperties" and isinstance(value, dict):
                out[key] = {k: walk(v) for k, v in value.items() if ok_pattern(k)}
            elif key == "items" and isinstance(value, list):
                out["prefixItems"] = walk(value)
            elif key == "type" and value == "file":
                out["type"] = "string"
                out.setdefault("format", "binary")
            elif key in ("properties", "$defs", "dependentSchemas") and isinstance(value, dict):
                out[key] = {k: walk(v) for k, v in value.items()}
            else:
                out[key] = walk(value)
        return out

    cleaned = walk(schema)
    for _ in range(_MAX_FIXES):
        if _meta_valid(cleaned):
            return cleaned
        try:
            jsonschema.Draft202012Validator.check_schema(cleaned)
            return cleaned
        except jsonschema.exceptions.SchemaError as exc:
            path = list(exc.path)
            if not path:
                break
            parent: Any = cleaned
            for key in path[:-1]:
                parent = parent[key]
            parent.pop(path[-1])
            imp.note("schema", where, f"{'/'.join(map(str, path))} is not valid JSON Schema "
                                      f"({exc.message[:80]}): dropped")
    imp.note("schema", where, "not a valid JSON Schema: any value is accepted")
    return {}


# --- connector -----------------------------------------------------------------------------------------


def _base_url(imp: _Importer, servers: Any) -> str:
    server = servers[0] if isinstance(servers, list) and servers and isinstance(servers[0], Mapping) else {}
    url = str(server.get("url") or "/")
    variables = server.get("variables") or {}

    def value(m: re.Match) -> str:
        var = variables.get(m.group(1)) if isinstance(variables, Mapping) else None
        if isinstance(var, Mapping) and "default" in var:
            return str(var["default"])
        imp.note("server", "connector", f"server variable {{{m.group(1)}}} has no default: set base_url")
        return m.group(1)

    url = _SERVER_VAR.sub(value, url)
    if url.startswith("//"):
        url = "https:" + url
    if not re.match(r"^https?://[^\s/]+", url):
        imp.note("server", "connector", f"the server URL {url!r} is not absolute: set base_url (or base_url_env)")
        url = "https://example.invalid" + ("/" + url.lstrip("/") if url.strip("/") else "")
    return re.sub(r"\s", "", url).rstrip("/") or url


def _auth(imp: _Importer, name: str, scheme: Mapping[str, Any], env: str) -> dict[str, Any] | None:
    kind = scheme.get("type")
    where = f"credentials.{name}"
    out: dict[str, Any]
    if kind == "apiKey":
        place, key = scheme.get("in"), str(scheme.get("name") or "")
        if place == "query":
            out = {"type": "query", "param": key, "env": env}
        elif place == "cookie":
            out = {"type": "header", "header": "Cookie", "prefix": f"{key}=", "env": env}
            imp.note("auth", where, "a cookie key is sent as a Cookie header of its own")
        else:
            out = {"type": "header", "header": key, "env": env}
    elif kind == "http":
        scheme_name = str(scheme.get("scheme") or "").lower()
        if scheme_name == "basic":
            out = {"type": "basic", "username_env": f"{env}_USERNAME", "password_env": f"{env}_PASSWORD"}
        elif scheme_name == "bearer":
            out = {"type": "header", "header": "Authorization", "prefix": "Bearer ", "env": env}
        else:
            out = {"type": "header", "header": "Authorization", "prefix": f"{scheme.get('scheme')} ", "env": env}
            imp.note("auth", where, f"HTTP scheme {scheme.get('scheme')!r} is sent as a fixed Authorization "
                                    "header: the engine does not compute it")
    elif kind in ("oauth2", "openIdConnect"):
        out = {"type": "header", "header": "Authorization", "prefix": "Bearer ", "env": env}
        imp.note("auth", where, f"{kind}: pass an access token you obtained; the engine does not run the flow")
    else:
        imp.note("auth", where, f"security scheme type {kind!r} cannot be declared: left out")
        return None
    desc = _strip(scheme.get("description"))
    if desc:
        out["description"] = desc
    return out


def _credentials(imp: _Importer, conn_name: str) -> tuple[dict[str, Any], dict[str, str]]:
    components = imp.spec.get("components") if isinstance(imp.spec.get("components"), Mapping) else {}
    schemes = components.get("securitySchemes") or {}
    creds: dict[str, Any] = {}
    names: dict[str, str] = {}  # scheme name -> credential name
    for scheme_name, scheme in schemes.items():
        scheme = imp.deref(scheme, "connector")
        if not isinstance(scheme, Mapping):
            continue
        name = imp.options["credentials"].get(scheme_name) or _ident(scheme_name, "key")
        while name in creds or name == "none":
            name += "_2"
        block = _auth(imp, name, scheme, f"{conn_name}_{name}".upper())
        if block is not None:
            creds[name] = block
            names[scheme_name] = name
    return creds, names


def _pick(imp: _Importer, requirements: Any, names: Mapping[str, str], where: str) -> str:
    """The credential a `security` list names: its first alternative with a scheme that could be declared."""
    if not isinstance(requirements, list) or not requirements:
        return "none"
    for alternative in requirements:
        if not isinstance(alternative, Mapping) or not alternative:
            continue
        found = [names[s] for s in alternative if s in names]
        if not found:
            continue
        if len(alternative) > 1:
            imp.note("auth", where, f"needs {' and '.join(map(str, alternative))} together; only {found[0]} is sent")
        return found[0]
    if any(isinstance(a, Mapping) and a for a in requirements):
        imp.note("auth", where, "its security names no scheme that could be declared: sent without credentials")
    return "none"


# --- actions -------------------------------------------------------------------------------------------


def _action_name(op_id: str, group: str) -> str:
    """The name an operationId gives: `listPets` tagged `pets` is `pets.list`."""
    tokens = _snake(op_id).split("_")
    drop = set(group.split("_"))
    drop |= {t[:-1] for t in drop if t.endswith("s")} | {t[:-2] for t in drop if t.endswith("es")} | \
        {t + "s" for t in drop} | {t + "es" for t in drop}
    verb = [t for t in tokens if t not in drop] or tokens
    return ".".join(_ident(s, "op") for s in (group, "_".join(verb)))


def _query_style(imp: _Importer, p: Mapping[str, Any], schema: Mapping[str, Any], where: str) -> str | None:
    style = p.get("style", "form")
    explode = p.get("explode", style == "form")
    kinds = schema.get("type")
    kinds = set(kinds) if isinstance(kinds, list) else {kinds}
    if style == "deepObject":
        return "deep_object"
    if style == "form":
        if "object" in kinds:
            imp.note("encoding", where, f"query param {p['name']!r} is an object in form style: sent as JSON "
                                        "text (declare style: deep_object if the server reads k[a]=1)")
        return None if explode else "comma"
    if style in ("spaceDelimited", "pipeDelimited"):
        return None if explode else {"spaceDelimited": "space", "pipeDelimited": "pipe"}[style]
    imp.note("encoding", where, f"query param {p['name']!r}: style {style!r} is not one the engine writes; "
                                "sent as form")
    return None


def _params(imp: _Importer, item: Mapping[str, Any], op: Mapping[str, Any], path: str,
            where: str) -> list[dict[str, Any]]:
    merged: dict[tuple[str, str], Mapping[str, Any]] = {}
    for raw in [*(item.get("parameters") or ()), *(op.get("parameters") or ())]:
        p = imp.deref(raw, where)
        if isinstance(p, Mapping) and "name" in p and "in" in p:
            merged[(str(p["in"]), str(p["name"]))] = p  # the operation's own wins over the path's
    placeholders = re.findall(r"\{([^{}]+)\}", path)
    out: list[dict[str, Any]] = []
    for (place, wire), p in merged.items():
        if place == "cookie":
            imp.note("skipped", where, f"cookie param {wire!r} cannot be declared: left out")
            continue
        if place == "header" and wire.lower() in _RESERVED_HEADERS:
            continue  # OpenAPI says these are ignored: the engine sets them
        if place == "path" and wire not in placeholders:
            imp.note("skipped", where, f"path param {wire!r} has no {{placeholder}} in the path: left out")
            continue
        raw_schema = p.get("schema")
        content = p.get("content") if isinstance(p.get("content"), Mapping) else {}
        if raw_schema is None and content:
            raw_schema = next(iter(content.values()), {}).get("schema")
        desc = _strip(p.get("description"))
        if desc and isinstance(raw_schema, Mapping) and "description" not in raw_schema:
            raw_schema = {**raw_schema, "description": desc}  # limits stated only in the prose still bound it
        schema = imp.schema(raw_schema, where)
        desc = desc or _strip(schema.get("description"))
        schema.pop("description", None)
        declared = _first_text(p, imp.options["param_name"])
        entry: dict[str, Any] = {"name": _param_name(declared or wire)}
        while entry["name"] in {q["name"] for q in out}:  # `include` and `include[]`, `X-Id` and `x_id`
            entry["name"] = f"{entry['name']}_{place}"
        if entry["name"] != wire:
            entry["wire"] = wire
        entry["in"] = place
        if p.get("required") or place == "path":
            entry["required"] = True
        if place == "query":
            style = _query_style(imp, p, imp.deref(raw_schema, where) if raw_schema else {}, where)
            if content:
                imp.note("encoding", where, f"query param {wire!r} is JSON in the description: give it as text")
            if style:
                entry["style"] = style
        elif place == "header" and content:
            entry["style"] = "json"
        elif place == "path" and p.get("style", "simple") != "simple":
            imp.note("encoding", where, f"path param {wire!r}: style {p['style']!r} is not one the engine writes")
        entry["schema"] = schema or ({"type": "string"} if place == "path" else {})
        if desc:
            entry["description"] = desc
        if p.get("deprecated"):
            entry["deprecated"] = True
        out.append(entry)
    declared = {p.get("wire", p["name"]) for p in out if p["in"] == "path"}
    for ph in placeholders:
        if ph not in declared:
            imp.note("skipped", where, f"path placeholder {{{ph}}} is not declared: added as a string param")
            entry = {"name": _param_name(ph), "in": "path", "required": True, "schema": {"type": "string"}}
            if entry["name"] != ph:
                entry["wire"] = ph
            out.append(entry)
    return out


def _body_encoding(imp: _Importer, kind: str, encoding: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Form and multipart options from the media type's `encoding` (OpenAPI's own defaults otherwise)."""
    arrays, objects = ("repeat", "brackets") if kind == "form" else ("repeat", "json")
    for field, enc in encoding.items():
        if not isinstance(enc, Mapping):
            continue
        style = enc.get("style", "form")
        explode = enc.get("explode", style == "form")
        if style == "deepObject":
            objects = "brackets"
        elif "json" in str(enc.get("contentType", "")):
            objects = "json"
        if style in ("form", "spaceDelimited", "pipeDelimited") and not explode and "style" in enc:
            imp.note("encoding", where, f"body field {field!r}: {style} without explode is not one the engine "
                                        "writes; lists are sent as repeated fields")
    if kind == "multipart":
        return {"type": kind} if objects == "json" else {"type": kind, "objects": objects}
    return {"type": kind, "arrays": arrays, "objects": objects}


def _body(imp: _Importer, op: Mapping[str, Any], taken: set[str],
          where: str) -> tuple[dict[str, Any] | None, list[dict[str, Any]], bool]:
    """(body block, body params, required) of an operation's requestBody."""
    rb = imp.deref(op.get("requestBody"), where) if op.get("requestBody") else None
    content = rb.get("content") if isinstance(rb, Mapping) else None
    if not isinstance(content, Mapping) or not content:
        return None, [], False
    required = bool(rb.get("required"))
    by_kind: dict[str, tuple[str, Mapping[str, Any]]] = {}
    for ctype, media in content.items():
        by_kind.setdefault(_media_kind(str(ctype)), (str(ctype), media if isinstance(media, Mapping) else {}))
    alone = None  # (field, raw content type): a form one of whose fields may also be sent alone as the body
    if "multipart" in by_kind and ({"json", "form"} & set(by_kind)):
        fallback = "json" if "json" in by_kind else "form"
        chosen = ["multipart", fallback]
    else:
        chosen = [next(k for k in ("json", "form", "multipart", "raw") if k in by_kind)]
        if chosen == ["multipart"] and "raw" in by_kind:
            alone = _raw_field(by_kind["multipart"][1], by_kind["raw"][0])
    sent = {by_kind[k][0] for k in chosen} | ({by_kind["raw"][0]} if alone else set())
    left = [str(ct) for ct in content if str(ct) not in sent]
    body_name = next(n for n in ("body", "request_body", "body_") if n not in taken)
    if left:
        declared = ", ".join(by_kind[k][0] for k in chosen)
        imp.note("body", where, f"also accepts {', '.join(left)}: only {declared} declared")

    blocks: dict[str, dict[str, Any]] = {}
    params: dict[str, dict[str, Any]] = {}
    required_in: dict[str, int] = {}
    for kind in chosen:
        ctype, media = by_kind[kind]
        raw_schema = media.get("schema") or {}
        encoding = media.get("encoding") if isinstance(media.get("encoding"), Mapping) else {}
        if kind == "raw":
            is_file = imp.is_file(raw_schema, where) or not _textual(ctype)
            entry: dict[str, Any] = {"name": body_name, "in": "body", "required": required}
            if is_file:
                entry["file"] = True
            else:
                entry["schema"] = imp.schema(raw_schema, where) or {"type": "string"}
            if not _concrete(ctype):
                imp.note("body", where, f"request content type {ctype!r} is a range: sent as "
                                        "application/octet-stream (set body.content_type)")
                ctype = "application/octet-stream"
            blocks[kind] = {"type": "raw", "param": body_name, "content_type": ctype}
            params[_WHOLE] = entry
            required_in[_WHOLE] = len(chosen)
            continue
        props, req = imp.fields(raw_schema, where)
        block = {"type": "json"} if kind == "json" else _body_encoding(imp, kind, encoding, where)
        if kind == "json" and ctype.split(";")[0].strip().lower() != "application/json":
            block["content_type"] = ctype
        if not props:
            if kind == "multipart":
                imp.note("body", where, "the multipart body declares no fields: add them as params")
            else:
                entry = {"name": body_name, "in": "body", "required": required,
                         "schema": imp.schema(raw_schema, where)}
                params.setdefault(_WHOLE, entry)
                required_in[_WHOLE] = required_in.get(_WHOLE, 0) + 1
                block["template"] = f"{{{{ params.{body_name} }}}}"
            blocks[kind] = block
            continue
        for fname, fschema in props.items():
            resolved = imp.deref(fschema, where)
            if isinstance(resolved, Mapping) and resolved.get("readOnly"):
                continue
            name = params[fname]["name"] if fname in params else _param_name(str(fname))
            entry = params.get(fname) or {"name": name, "in": "body"}
            if name != fname:
                entry["wire"] = str(fname)
            enc = encoding.get(fname) if isinstance(encoding.get(fname), Mapping) else {}
            enc_type = str(enc.get("contentType", ""))
            file = kind == "multipart" and (imp.is_file(fschema, where) or
                                            (enc_type and not _textual(enc_type) and "json" not in enc_type))
            if file and "file" not in entry:
                entry.pop("schema", None)
                entry["file"] = {"default_content_type": enc_type} if _concrete(enc_type) else True
                desc = _strip(fschema.get("description")) if isinstance(fschema, Mapping) else None
                if desc:
                    entry["description"] = desc
            elif "file" not in entry and "schema" not in entry:
                schema = imp.schema(fschema, where)
                desc = _strip(schema.pop("description", None))
                if isinstance(fschema, Mapping) and _strip(fschema.get("description")):
                    desc = _strip(fschema["description"])  # a nullable choice nests the converted one
                entry["schema"] = schema
                if desc:
                    entry["description"] = desc
            params[fname] = entry
            if fname in req:
                required_in[fname] = required_in.get(fname, 0) + 1
        blocks[kind] = block

    out = []
    for fname, entry in params.items():
        if required_in.get(fname, 0) == len(chosen) and (fname != _WHOLE or required):
            entry["required"] = True
        else:
            entry.pop("required", None)
        while entry["name"] in taken and fname != _WHOLE:
            entry.setdefault("wire", str(fname))
            entry["name"] = f"{entry['name']}_body"
        taken.add(entry["name"])
        out.append({k: entry[k] for k in ("name", "wire", "in", "required", "file", "schema", "description")
                    if k in entry})
    if alone:
        field, raw_type = alone
        name = params[field]["name"] if field in params else _param_name(field)
        others = [f for f in params if f not in (field, _WHOLE)]
        return {"type": "choice", "options": [
            {"when": "{{ %r | select('in', params) | list }}" % [params[f]["name"] for f in others],
             "body": blocks["multipart"]},
            {"body": {"type": "raw", "param": name, "content_type": raw_type}}]}, out, required
    if len(chosen) == 1:
        return blocks[chosen[0]], out, required
    return {"type": "choice", "options": [{"when": "files", "body": blocks[chosen[0]]},
                                         {"body": blocks[chosen[1]]}]}, out, required


def _raw_field(form: Mapping[str, Any], raw_type: str) -> tuple[str, str] | None:
    """(field, type) when exactly one form field's `encoding` is the other content type the body accepts.

    Such a field may be the whole body alone (an SDP offer as `application/sdp`): the form is sent
    when any other field is given, the field alone otherwise.
    """
    encoding = form.get("encoding") if isinstance(form.get("encoding"), Mapping) else {}
    fields = [str(name) for name, enc in encoding.items()
              if isinstance(enc, Mapping) and str(enc.get("contentType", "")) == raw_type]
    return (fields[0], raw_type) if len(fields) == 1 else None


def _response(imp: _Importer, op: Mapping[str, Any], where: str) -> tuple[dict[str, Any], list[str], str | None]:
    """(decoder block, the answer's content types, the stream style it offers or None)."""
    responses = op.get("responses") if isinstance(op.get("responses"), Mapping) else {}
    code = next((k for k in responses if str(k).startswith("2")), "default" if "default" in responses else None)
    resp = imp.deref(responses[code], where) if code is not None else {}
    content = resp.get("content") if isinstance(resp, Mapping) and isinstance(resp.get("content"), Mapping) else {}
    types = [str(t) for t in content]
    stream = next((_STREAM_TYPES[t.split(";")[0].strip().lower()] for t in types
                   if t.split(";")[0].strip().lower() in _STREAM_TYPES), None)
    if not content:
        return {"type": "none"}, types, None
    plain = [t for t in types if t.split(";")[0].strip().lower() not in _STREAM_TYPES]
    if not plain:
        return {"type": "text"}, types, stream
    if _media_kind(plain[0]) == "json":  # the first type is what the call answers; later ones are alternatives
        schema_raw = (content[plain[0]] or {}).get("schema")
        out: dict[str, Any] = {"type": "json"}
        if schema_raw:
            out["schema"] = imp.schema(schema_raw, where)
        return out, types, stream
    return {"type": "text" if _textual(plain[0]) else "binary"}, types, stream


def _is_list(imp: _Importer, schema: Any) -> bool:
    """An answer that is a list, or an object holding one: paging may apply."""
    if not isinstance(schema, Mapping):
        return False
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/schemas/"):
        schema = imp.components.get(imp.used.get(ref[len("#/schemas/"):], ""), {})
    schema = imp.deref(schema, "connector")
    if not isinstance(schema, Mapping):
        return False
    if schema.get("type") == "array":
        return True
    props = schema.get("properties") if isinstance(schema.get("properties"), Mapping) else {}
    return any(isinstance(imp.deref(v, "connector"), Mapping) and imp.deref(v, "connector").get("type") == "array"
               for v in props.values())


def _names(imp: _Importer, paths: Mapping[str, Any], colls: frozenset[str],
           fixed: Mapping[str, str]) -> dict[tuple[str, str], str]:
    """Every operation's action name, by (path, method), collisions resolved.

    Names come from `fixed` (operationId -> name, as overrides declare them), else the operationId
    (`listPets` tagged `pets` is `pets.list`) or, with the `names: path` option, the path's shape
    (`GET /pets/{id}` is `pets.retrieve`). Derived path names that collide take the operationId as
    their verb; what still collides gets a number. A fixed name never changes.
    """
    by_op: dict[tuple[str, str], tuple[str, str | None]] = {}
    for raw_path, raw_item in paths.items():
        item = imp.deref(raw_item, str(raw_path))
        if not isinstance(item, Mapping):
            continue
        path = ("/" + str(raw_path).lstrip("/")).partition("?")[0]
        for method in _METHODS:
            op = item.get(method)
            if not isinstance(op, Mapping):
                continue
            group = _group(imp, op, path)
            op_id = op.get("operationId") if isinstance(op.get("operationId"), str) and \
                _snake(op["operationId"]) else None
            if op_id in fixed:
                name = fixed[op_id]
            elif imp.options["names"] == "path" or op_id is None:
                derived = openapi.derive_name(path, method.upper(), colls)
                name = ".".join(_ident(s, "op") for s in derived.split(".") if _snake(s)) or _ident(method, "op")
            else:
                name = _action_name(op_id, group)
            by_op[(str(raw_path), method)] = (name, op_id)
    count: dict[str, int] = {}
    for name, _ in by_op.values():
        count[name] = count.get(name, 0) + 1
    out: dict[tuple[str, str], str] = {}
    taken = set(fixed.values())
    for key, (name, op_id) in by_op.items():
        if op_id in fixed:
            out[key] = name
            continue
        if count[name] > 1 and op_id is not None and imp.options["names"] == "path":
            name = f"{name.rsplit('.', 1)[0]}.{_ident(op_id, 'op')}" if "." in name else _ident(op_id, "op")
        base, n = name, 2
        while name in taken:
            name, n = f"{base}_{n}", n + 1
        if name != base:
            imp.note("name", name, f"{key[1].upper()} {key[0]} would have the name {base!r} of another action")
        taken.add(name)
        out[key] = name
    return out


def _group(imp: _Importer, op: Mapping[str, Any], path: str) -> str:
    """The group an operation is listed under: the `group` option's text (its first tag), else its first segment."""
    static = [s for s in path.strip("/").split("/") if s and not s.startswith("{")]
    return _ident(_first_text(op, imp.options["group"]) or (static[0] if static else "default"), "api")


def build_manifest(spec: Mapping[str, Any], name: str = "imported", options: Mapping[str, Any] | None = None,
                   keep_schemas: Iterable[str] = (), fixed_names: Mapping[str, str] | None = None,
                   ) -> tuple[dict[str, Any], list[Note]]:
    """The manifest for an OpenAPI description (already read), and the notes on what it could not say.

    `options` choose where names and texts come from (see `_READ_OPTIONS`, `names`, `credentials`);
    `keep_schemas` names component schemas to carry even where no action refers to them;
    `fixed_names` gives operations (by operationId) the names an author chose.
    """
    imp = _Importer(spec, options)
    info = spec.get("info") if isinstance(spec.get("info"), Mapping) else {}
    conn_name = _ident(info.get("title") or name, "api")[:40].rstrip("_")
    creds, scheme_names = _credentials(imp, conn_name)
    default = _pick(imp, spec.get("security"), scheme_names, "connector") if "security" in spec else "none"
    if not creds:
        creds = {"anonymous": {"type": "none", "description": "The description declares no credential."}}
        default = "anonymous"
    connector: dict[str, Any] = {"name": conn_name}
    if _strip(info.get("title")):
        connector["title"] = _strip(info["title"])
    if info.get("version") is not None:
        connector["version"] = str(info["version"])
    connector["base_url"] = _base_url(imp, spec.get("servers"))
    connector["base_url_env"] = f"{conn_name}_BASE_URL".upper()
    connector["credentials"] = creds
    connector["default_credential"] = default

    paths = spec.get("paths") if isinstance(spec.get("paths"), Mapping) else {}
    colls = frozenset(p for p, item in paths.items() if (isinstance(item, Mapping) and "get" in item)
                      or any(str(q).startswith(f"{p}/") for q in paths))
    actions: list[dict[str, Any]] = []
    streams: dict[str, Any] = {}
    names = _names(imp, paths, colls, fixed_names or {})
    for raw_path, raw_item in paths.items():
        item = imp.deref(raw_item, str(raw_path))
        if not isinstance(item, Mapping):
            continue
        full_path = "/" + str(raw_path).lstrip("/")
        path, _, fixed_query = full_path.partition("?")
        for method in _UNSUPPORTED_METHODS:
            if method in item:
                imp.note("skipped", f"{method.upper()} {path}", "the engine sends GET, POST, PUT, PATCH and "
                                                                 "DELETE only: left out")
        for method in _METHODS:
            op = item.get(method)
            if not isinstance(op, Mapping):
                continue
            label = f"{method.upper()} {path}"
            group = _group(imp, op, path)
            action_name = names[(str(raw_path), method)]
            where = action_name
            if not (isinstance(op.get("operationId"), str) and _snake(op["operationId"])):
                imp.note("name", where, f"{label} has no operationId: named from the path and method")
            if op.get("servers") or item.get("servers"):
                imp.note("server", where, "the operation has servers of its own: it is sent to base_url")
            params = _params(imp, item, op, path, where)
            body, body_params, body_required = _body(imp, op, {p["name"] for p in params}, where)
            response, answer_types, stream_style = _response(imp, op, where)
            action: dict[str, Any] = {"name": action_name}
            if isinstance(op.get("operationId"), str):
                action["operation_id"] = op["operationId"]
            action["group"] = group
            action["summary"] = _first_text(op, imp.options["summary"]) or ""
            desc = _first_text(op, imp.options["description"])
            if desc:
                action["description"] = desc
            action["method"] = method.upper()
            action["path"] = re.sub(r"[\s#]", "", path) or "/"
            if fixed_query:
                action["query"] = dict(parse_qsl(fixed_query, keep_blank_values=True))
            credential = _pick(imp, op["security"], scheme_names, where) if "security" in op else default
            if credential != default:
                action["credential"] = credential
            plain = [t for t in answer_types if t.split(";")[0].strip().lower() not in _STREAM_TYPES]
            if response["type"] != "json" and plain and all(_concrete(t) for t in answer_types):
                action["headers"] = {"Accept": ", ".join(answer_types)}  # never a 406 for asking JSON alone
            if body is not None:
                action["body"] = body
                if not body_required:
                    action["body_optional"] = True
            action["params"] = params + body_params
            action["response"] = response
            if stream_style:
                streams.setdefault(stream_style, {"type": stream_style, "data": "json", "ends_on_close": True})
                flag = next((p for p in body_params if p["name"] == "stream"), None)
                if not plain:
                    action["stream"] = {"use": stream_style}
                elif openapi.is_stream_flag(flag):
                    action["stream"] = {"use": stream_style, "when": "stream"}
                else:
                    imp.note("stream", where, f"answers {', '.join(answer_types)}: declare when it streams "
                                              "(see docs/language.md#streams)")
                if "stream" in action:
                    imp.note("stream", where, f"streams {stream_style}: check how a stream ends (done, "
                                              "terminal_events) in definitions.streams; see docs/language.md#streams")
            if method == "get" and response.get("type") == "json" and \
                    any(p["in"] == "query" and _snake(p.get("wire", p["name"])) in _PAGING_WORDS for p in params) \
                    and _is_list(imp, response.get("schema")):
                imp.note("paging", where, "could not infer paging; see docs/language.md#paging")
            if op.get("deprecated"):
                action["deprecated"] = True
            actions.append(ordered(action))

    schemas: dict[str, Any] = {}
    done: set[str] = set()
    by_safe = {safe: name for name, safe in imp.safe.items()}
    for safe in keep_schemas:
        if safe in by_safe:
            imp.used.setdefault(safe, by_safe[safe])
    while set(imp.used) - done:
        for safe in sorted(set(imp.used) - done):
            done.add(safe)
            schemas[safe] = imp.schema(imp.components[imp.used[safe]], f"schemas.{safe}")
    manifest: dict[str, Any] = {"manifest_version": 2, "connector": connector}
    if streams:
        manifest["definitions"] = {"streams": streams}
    manifest["actions"] = actions
    if schemas:
        manifest["schemas"] = {k: schemas[k] for k in sorted(schemas)}
    return manifest, imp.notes


def read_spec(spec_path: str | os.PathLike) -> dict[str, Any]:
    """An OpenAPI 3.0 or 3.1 description; an Error when the file is not one."""
    spec = openapi.load_spec(str(spec_path))
    version = str(spec.get("openapi", ""))
    if not version.startswith("3."):
        raise Error(f"{spec_path}: OpenAPI {version or '?'} is not supported (3.0 and 3.1 are)")
    return spec


def import_spec(spec_path: str | os.PathLike) -> tuple[dict[str, Any], list[Note]]:
    """Read an OpenAPI 3.0 or 3.1 description and return (manifest, notes); an Error when it is not one."""
    spec = read_spec(spec_path)
    stem = os.path.splitext(os.path.basename(str(spec_path)))[0]
    return build_manifest(spec, stem)


def render(manifest: Mapping[str, Any], notes: list[Note], source: str = "", head: list[str] | None = None) -> str:
    """The manifest as YAML, with each note as an `# import:` comment above what it concerns.

    `head` replaces the opening comment lines.
    """
    import yaml

    class Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
        def ignore_aliases(self, data: Any) -> bool:
            return True

    def text(dumper: Any, value: str) -> Any:
        style = "|" if "\n" in value and not value.endswith(" ") and "\t" not in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    Dumper.add_representer(str, text)
    body = yaml.dump(dict(manifest), Dumper=Dumper, sort_keys=False, allow_unicode=True, width=100,
                     default_flow_style=False)
    by_action: dict[str, list[str]] = {}
    general: list[str] = []
    actions = {a["name"] for a in manifest.get("actions", ())}
    for note in notes:
        if note.where in actions:
            by_action.setdefault(note.where, []).append(f"# import: {note.text}")
        else:
            general.append(f"# import: {note}")
    lines: list[str] = []
    for line in body.splitlines():
        if line.startswith("- name: "):
            lines.extend(by_action.get(yaml.safe_load(line[len("- name: "):]), []))
        lines.append(line)
    if head is None:
        head = [f"# A connector manifest imported{' from ' + source if source else ''} by `openai-connector import`.",
                "# Lines starting with `# import:` mark what the description could not say: check them."]
    head = [*head, *general]
    return "\n".join(head + lines) + "\n"
