"""Turn an OpenAPI 3.0 description into action descriptors.

Shared by the manifest generator (`tools/generate_manifest.py`) and the drift
report, so both read a description the same way. Every rule here is generic
(about OpenAPI, never about one API); what a particular API needs beyond it
comes from the overrides document the generator is given.
"""
from __future__ import annotations

import datetime
import re
from urllib.parse import parse_qsl, unquote
from typing import Any, Iterable, Iterator, Mapping

import yaml

from .errors import Error

__all__ = ["load_spec", "convert_schema", "operations", "derive_name", "collections",
           "describe_operation", "is_stream_flag", "resolve_pointer", "lookup"]

METHODS = ("get", "post", "put", "patch", "delete")
_RANGE = re.compile(r"\brange between (\d[\d,]*) and (\d[\d,]*)\b")
_PAIRS = re.compile(r"\bSet of (\d+) key-value pairs\b")
# The 2025 wording ("Keys can be a maximum of 64 characters") and the 2026 one ("Keys are strings with a
# maximum length of 64 characters").
_KEY_LEN = re.compile(r"\bKeys\s+(?:can\s+be\s+a\s+maximum\s+of|are\s+strings\s+with\s+a\s+maximum\s+length\s+of)"
                      r"\s+(\d+)\s+characters\b")
_VALUE_LEN = re.compile(r"\b[vV]alues\s+(?:can\s+be\s+a\s+maximum\s+of|are\s+strings\s+with\s+a\s+maximum\s+length\s+of)"
                        r"\s+(\d+)\s+characters\b")
_PLACEHOLDER = re.compile(r"^\{([^}]+)\}$")
_SAYS_NULL = re.compile(r"\bcan be\s+set to\s+`?null`?", re.IGNORECASE)


def load_spec(path: str) -> dict[str, Any]:
    """The description at `path`; an Error naming the file (and line) when it is not one.

    A file that is not YAML, or YAML without `openapi` and `paths`, would
    otherwise surface as a parser traceback or as every operation "removed".
    A `.xz` file is decompressed in memory (descriptions are vendored compressed).
    """
    with open(path, "rb") as fh:
        raw = fh.read()
    if str(path).endswith(".xz"):
        import lzma

        try:
            raw = lzma.decompress(raw)
        except lzma.LZMAError as exc:
            raise Error(f"{path}: not an xz file: {exc}") from None
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        spec = yaml.load(raw, Loader=loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else path
        problem, context = getattr(exc, "problem", None), getattr(exc, "context", None)
        reason = f"{problem} ({context})" if problem and context else problem or str(exc)
        raise Error(f"{where}: not valid YAML: {reason}") from None
    if not isinstance(spec, dict) or "openapi" not in spec or not isinstance(spec.get("paths"), dict):
        raise Error(f"{path}: not an OpenAPI description (it needs an `openapi` version and `paths`)")
    return spec


def operations(spec: Mapping[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(path, METHOD, operation) in document order."""
    for path, item in spec.get("paths", {}).items():
        shared = item.get("parameters", [])
        for method in METHODS:
            if method in item:
                op = dict(item[method])
                if shared:
                    op["parameters"] = list(shared) + list(op.get("parameters", []))
                yield path, method.upper(), op


def convert_schema(schema: Any, ref_prefix: str = "#/schemas/") -> Any:
    """OpenAPI 3.0 schema -> JSON Schema 2020-12.

    `nullable` becomes a null type, `example` becomes `examples`, vendor
    extensions and `discriminator` go, and `oneOf` becomes `anyOf`: the API's
    `oneOf` branches overlap in places, and input must never be rejected for
    matching two branches the server accepts.
    """
    if isinstance(schema, list):
        return [convert_schema(s, ref_prefix) for s in schema]
    if not isinstance(schema, Mapping):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key.startswith("x-") or key in ("discriminator", "nullable", "example", "$recursiveAnchor"):
            continue
        if key == "$recursiveRef":  # 2019-09 only; accept what it would have accepted rather than guess
            continue
        if key == "$ref":
            out["$ref"] = ref_prefix + value.rsplit("/", 1)[-1]
        elif key == "oneOf":
            out["anyOf"] = convert_schema(value, ref_prefix)
        elif key in ("properties", "patternProperties", "$defs"):
            out[key] = {k: convert_schema(v, ref_prefix) for k, v in value.items()}
        elif key == "required" and isinstance(value, list):
            out[key] = list(dict.fromkeys(value))  # descriptions sometimes repeat a name
        elif key in ("items", "additionalProperties", "not", "anyOf", "allOf"):
            out[key] = convert_schema(value, ref_prefix)
        elif key == "exclusiveMinimum" and isinstance(value, bool):
            if value and "minimum" in schema:
                out["exclusiveMinimum"] = schema["minimum"]
        elif key == "exclusiveMaximum" and isinstance(value, bool):
            if value and "maximum" in schema:
                out["exclusiveMaximum"] = schema["maximum"]
        else:
            out[key] = _as_json(value)
    if schema.get("exclusiveMinimum") is True:
        out.pop("minimum", None)
    if schema.get("exclusiveMaximum") is True:
        out.pop("maximum", None)
    _required_slips(out)
    _documented_limits(out)
    if "example" in schema and "examples" not in out:
        out["examples"] = [_as_json(schema["example"])]
    if schema.get("nullable") or _says_null(out):
        t = out.get("type")
        if isinstance(t, str):
            out["type"] = [t, "null"]
            if "enum" in out and None not in out["enum"]:
                out["enum"] = list(out["enum"]) + [None]
        elif t is None:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


def _as_json(value: Any) -> Any:
    """A copy of `value` as JSON carries it: a YAML date (an unquoted `2024-10-01` in an example) is its text."""
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _as_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_json(v) for v in value]
    return value


def _required_slips(out: dict[str, Any]) -> None:
    """A required name the object itself does not declare is a slip of the description.

    The 2025-01-21 description requires `type` inside `response_format.json_schema`,
    which has no such field: kept, it would reject every valid structured-output
    request. Dropping such a name can only accept more, and the server still judges.
    (Only where the object's fields are all in view: not beside an `allOf`.)
    """
    required, props = out.get("required"), out.get("properties")
    if isinstance(required, list) and isinstance(props, Mapping) and "allOf" not in out:
        kept = [name for name in required if name in props]
        if kept:
            out["required"] = kept
        else:
            out.pop("required")


def _says_null(out: Mapping[str, Any]) -> bool:
    """The prose says null is accepted ("Can be set to `null` to turn off") though `nullable` is missing.

    The 2025-01-21 description says so of a realtime session's `turn_detection` and
    `input_audio_transcription`; without it the documented way to turn them off is refused.
    """
    text = out.get("description")
    return isinstance(text, str) and _SAYS_NULL.search(text) is not None


def _documented_limits(out: dict[str, Any]) -> None:
    """Limits the prose states but the schema omits are still enforced by the server.

    "Limit can range between 1 and 100" bounds an integer; "Set of 16
    key-value pairs ... Keys ... 64 characters ... values ... 512 characters"
    bounds a string map.
    """
    text = out.get("description")
    if not isinstance(text, str):
        return
    kind = out.get("type")
    kinds = kind if isinstance(kind, list) else [kind]
    if "integer" in kinds and "minimum" not in out and "maximum" not in out:
        m = _RANGE.search(text)
        if m:
            out["minimum"] = int(m.group(1).replace(",", ""))
            out["maximum"] = int(m.group(2).replace(",", ""))
    if "object" in kinds and "properties" not in out:
        m = _PAIRS.search(text)
        if m and "maxProperties" not in out:
            out["maxProperties"] = int(m.group(1))
        m = _KEY_LEN.search(text)
        if m and "propertyNames" not in out:
            out["propertyNames"] = {"maxLength": int(m.group(1))}
        m = _VALUE_LEN.search(text)
        values = out.get("additionalProperties")
        if m and (values is None or values == {"type": "string"}):  # declared as strings, but unbounded
            out["additionalProperties"] = {"type": "string", "maxLength": int(m.group(1))}


def derive_name(path: str, method: str, collections: frozenset[str] = frozenset()) -> str:
    """The SDK-style dotted name: resources from the static segments, verb from shape.

    GET on a collection lists, POST creates, GET/POST/DELETE on an item
    retrieves/updates/deletes, GET of a static segment after an item lists it,
    POST to a static segment after an item is that verb (`cancel`, `archive`)
    unless the segment is a collection (a path in `collections`).
    """
    segments = [s for s in path.strip("/").split("/") if s]
    resources: list[str] = []
    ends_with_id = False
    for seg in segments:
        if _PLACEHOLDER.match(seg):
            ends_with_id = True
        else:
            resources.append(seg)
            ends_with_id = False
    if ends_with_id:
        verb = {"GET": "retrieve", "POST": "update", "PUT": "update", "PATCH": "update",
                "DELETE": "delete"}[method]
        return ".".join(resources + [verb])
    after_id = len(segments) >= 2 and _PLACEHOLDER.match(segments[-2])
    if method == "POST" and after_id and path not in collections:
        return ".".join(resources)
    verb = {"GET": "list", "POST": "create", "PUT": "replace", "PATCH": "update", "DELETE": "delete_all"}[method]
    return ".".join(resources + [verb])


def resolve_pointer(spec: Any, ref: str) -> Any:
    """The node a local reference (`#/components/parameters/Limit`) names, or None (remote, or absent)."""
    if not isinstance(ref, str) or not ref.startswith("#"):
        return None
    return lookup(spec, (unquote(raw).replace("~1", "/").replace("~0", "~") for raw in ref[1:].split("/")[1:]))


def lookup(node: Any, keys: Iterable[str]) -> Any:
    """The node reached by these keys (a list index as digits), or None where one is missing."""
    for key in keys:
        if isinstance(node, Mapping) and key in node:
            node = node[key]
        elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
            node = node[int(key)]
        else:
            return None
    return node


def _resolve(spec: Mapping[str, Any], schema: Mapping[str, Any]) -> Mapping[str, Any]:
    """A parameter or schema with its `$ref`s followed, wherever in the description they point."""
    seen: list[str] = []
    while "$ref" in schema:
        ref = schema["$ref"]
        target = resolve_pointer(spec, ref)
        if not isinstance(target, Mapping) or ref in seen:
            raise Error(f"$ref {ref!r} does not resolve to an object in the description")
        seen.append(ref)
        schema = target
    return schema


def _is_binary(spec: Mapping[str, Any], schema: Mapping[str, Any], depth: int = 0) -> bool:
    """A multipart field that carries file content: binary, or a list or choice of binaries."""
    schema = _resolve(spec, schema)
    if schema.get("format") == "binary" or depth > 4:
        return schema.get("format") == "binary"
    if schema.get("type") == "array" and isinstance(schema.get("items"), Mapping):
        return _is_binary(spec, schema["items"], depth + 1)
    return any(_is_binary(spec, b, depth + 1) for b in [*schema.get("anyOf", ()), *schema.get("oneOf", ())])


def is_stream_flag(param: Mapping[str, Any] | None) -> bool:
    """A body parameter that switches the answer to a stream: a boolean (perhaps nullable)."""
    if not param or param.get("in") != "body":
        return False
    schema = param.get("schema") or {}
    kinds = schema.get("type")
    kinds = set(kinds) if isinstance(kinds, list) else {kinds}
    for branch in schema.get("anyOf", ()):
        t = branch.get("type") if isinstance(branch, Mapping) else None
        kinds |= set(t) if isinstance(t, list) else {t}
    return "boolean" in kinds and kinds <= {"boolean", "null", None}


def _param_name(wire: str) -> str:
    """The caller's name for a wire name: `include[]` -> `include`, `OpenAI-Beta` -> `openai_beta`."""
    name = wire[:-2] if wire.endswith("[]") else wire
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        return name
    return re.sub(r"[^A-Za-z0-9_]+", "_", name).strip("_").lower() or "param"


def _object_fields(spec: Mapping[str, Any], schema: Mapping[str, Any],
                   depth: int = 0) -> tuple[dict[str, Any], set[str]]:
    """The properties and required names of an object schema, through `$ref` and `allOf`."""
    schema = _resolve(spec, schema)
    props: dict[str, Any] = {}
    required: set[str] = set()
    if depth < 16:
        for branch in schema.get("allOf", ()):
            p, r = _object_fields(spec, branch, depth + 1)
            props.update(p)
            required |= r
    props.update(schema.get("properties", {}))
    required |= set(schema.get("required", ()))
    return props, required


def _param_schema(raw: Mapping[str, Any], description: str | None) -> dict[str, Any]:
    if description and "description" not in raw:
        raw = {**raw, "description": description}
    return convert_schema(raw)


def _strip(text: str | None) -> str | None:
    return text.strip() if isinstance(text, str) and text.strip() else None


def collections(spec: Mapping[str, Any]) -> frozenset[str]:
    """Paths that name a collection: they have a GET or a deeper path below them."""
    paths = list(spec.get("paths", {}))
    return frozenset(p for p in paths if "get" in spec["paths"][p]
                     or any(q.startswith(p + "/") for q in paths))


def describe_operation(spec: Mapping[str, Any], path: str, method: str,
                       op: Mapping[str, Any], colls: frozenset[str] = frozenset(),
                       meta: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """One operation as a descriptor (no overrides applied, no shared refs).

    `meta` is what a description's vendor extension adds, read by its generator:
    `name` is the summary, `group` the group of an operation without tags.
    """
    params: list[dict[str, Any]] = []
    for p in op.get("parameters", []):
        p = _resolve(spec, p) if "$ref" in p else p
        wire = p["name"]
        name = p.get("schema", {}).get("x-stainless-param") or _param_name(wire)
        desc = _strip(p.get("description") or p.get("schema", {}).get("description"))
        entry: dict[str, Any] = {"name": name}
        if wire != name:
            entry["wire"] = wire
        entry["in"] = p["in"]
        if p.get("required"):
            entry["required"] = True
        schema = _param_schema(p.get("schema", {}), desc)
        schema.pop("description", None)
        style = _style(p, schema)
        if style:
            entry["style"] = style
        entry["schema"] = schema
        if desc:
            entry["description"] = desc
        params.append(entry)

    body: Any = "none"
    body_required = False
    rb = op.get("requestBody")
    if rb:
        kinds = {_body_kind(ctype): (ctype, media) for ctype, media in reversed(list(rb["content"].items()))}
        first = _body_kind(next(iter(rb["content"])))
        if "json" in kinds and "multipart" in kinds:
            # Both: files go as a form, anything else as JSON (the SDKs choose the same way).
            body = {"type": "choice", "options": [{"when": "files", "body": {"type": "multipart"}},
                                                  {"body": {"type": "json"}}]}
            media_list = [kinds["multipart"][1], kinds["json"][1]]
        elif "raw" in kinds and "multipart" in kinds and _raw_field(spec, kinds):
            # A form, or one of its fields alone as the whole body (an SDP offer): the form
            # when any of its other fields is given.
            field, others = _raw_field(spec, kinds)  # type: ignore[misc]
            body = {"type": "choice", "options": [
                {"when": "{{ %r | select('in', params) | list }}" % others, "body": {"type": "multipart"}},
                {"body": {"type": "raw", "param": field, "content_type": kinds["raw"][0]}}]}
            media_list = [kinds["multipart"][1]]
        else:
            body = first if first != "raw" else "json"  # a raw body alone needs its param named: an override's
            media_list = [kinds[first][1]]
        body_required = bool(rb.get("required"))
        props, required = _object_fields(spec, media_list[0].get("schema", {}))
        for media in media_list[1:]:  # a field is required only where every content type requires it
            more, more_required = _object_fields(spec, media.get("schema", {}))
            props = {**props, **{k: v for k, v in more.items() if k not in props}}
            required &= more_required
        multipart = body != "json"
        for fname, fschema in props.items():
            name = _param_name(fname)
            entry = {"name": name}
            if fname != name:
                entry["wire"] = fname
            entry["in"] = "body"
            if fname in required:
                entry["required"] = True
            desc = _strip(fschema.get("description"))
            if multipart and _is_binary(spec, fschema):
                entry["file"] = True
            else:
                schema = _param_schema(fschema, desc)
                schema.pop("description", None)
                entry["schema"] = schema
            if desc:
                entry["description"] = desc
            params.append(entry)

    response: dict[str, Any] = {}
    ok = next((v for k, v in op.get("responses", {}).items() if str(k).startswith("2")), {})
    content = ok.get("content", {})
    if content:
        ctype, media = next(iter(content.items()))
        if "json" in ctype:
            response["type"] = "json"
        elif ctype.startswith("text/"):
            response["type"] = "text"
        else:
            response["type"] = "binary"
        if media.get("schema") and response["type"] == "json":
            response["schema"] = convert_schema(media["schema"])
    elif ok:  # a success declared without a body: nothing to decode
        response["type"] = "none"
    else:
        response["type"] = "json"

    meta = meta or {}
    path, _, fixed_query = path.partition("?")
    desc: dict[str, Any] = {
        "name": derive_name(path, method, colls),
        "operation_id": op.get("operationId"),
        "group": _slug((op.get("tags") or [meta.get("group") or "default"])[0]),
        "summary": _strip(meta.get("name")) or _strip(op.get("summary")) or "",
        "description": _strip(op.get("summary")),
        "method": method,
        "path": path,
        "body": body,
    }
    if fixed_query:
        # A query the path itself carries (`/x?beta=true`) is sent on every call.
        desc["query"] = dict(parse_qsl(fixed_query, keep_blank_values=True))
    if body != "none" and not body_required:
        desc["body_optional"] = True
    if content and "json" not in next(iter(content)):
        # A connector-wide Accept asks for JSON; an operation that answers with
        # something else first (a video, an archive) asks for all it declares, so a
        # strict server never says 406.
        desc["headers"] = {"Accept": ", ".join(content)}
    desc["params"] = params
    desc["response"] = response
    if op.get("deprecated"):
        desc["deprecated"] = True
    return desc


def _body_kind(content_type: str) -> str:
    """`json`, `multipart`, `form`, or `raw` for any other request content type."""
    if "json" in content_type:
        return "json"
    if content_type.startswith("multipart/"):
        return "multipart"
    return "form" if content_type == "application/x-www-form-urlencoded" else "raw"


def _raw_field(spec: Mapping[str, Any], kinds: Mapping[str, tuple[str, Any]]) -> tuple[str, list[str]] | None:
    """The form field the raw content type carries alone (its `encoding` has that type), and the other fields."""
    raw_type, (_, form) = kinds["raw"][0], kinds["multipart"]
    fields = [name for name, enc in (form.get("encoding") or {}).items()
              if isinstance(enc, Mapping) and enc.get("contentType") == raw_type]
    if len(fields) != 1:
        return None
    props, _ = _object_fields(spec, form.get("schema", {}))
    return fields[0], [name for name in props if name != fields[0]]


# OpenAPI `style` (with `explode`) -> the manifest's param style; `form` exploded is the default.
_QUERY_STYLES = {("deepObject", True): "deep_object", ("form", False): "comma",
                 ("pipeDelimited", False): "pipe", ("spaceDelimited", False): "space"}


def _style(param: Mapping[str, Any], schema: Mapping[str, Any]) -> str | None:
    """The manifest style of a query or header param, as its description's `style` says.

    A query object with no style is a filter sent as `k[a]=1` (deep_object); a
    header list is comma-separated (`simple`), the only form OpenAPI gives headers.
    """
    style = param.get("style")
    if param.get("in") == "header":
        return "simple" if style == "simple" else None
    if param.get("in") != "query":
        return None
    if style is None:
        return "deep_object" if schema.get("type") == "object" else None
    return _QUERY_STYLES.get((style, bool(param.get("explode", style == "form"))))


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")
