"""Reading an OpenAPI 3.0/3.1 description: load it, walk its operations, convert its schemas to
JSON Schema, derive names, follow local references.

The pieces the importer (`engine/importer.py`) reads a description with; the importer in turn reads
it for `openai-connector import`, the bundled manifests' generator and the drift report. Every rule
here is generic (about OpenAPI, never about one API); what a particular API needs beyond it comes
from an overrides document (`engine/overrides.py`).
"""
from __future__ import annotations

import datetime
import re
from urllib.parse import unquote
from typing import Any, Iterable, Iterator, Mapping

import yaml

from .errors import Error

__all__ = ["load_spec", "convert_schema", "operations", "derive_name", "is_stream_flag", "resolve_pointer", "follow_refs", "lookup"]

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


def follow_refs(spec: Any, node: Any, limit: int = 32) -> Any:
    """`node` with its own local `$ref`s followed; None where one does not resolve, or they loop."""
    seen: list[str] = []
    while isinstance(node, Mapping) and isinstance(node.get("$ref"), str):
        ref = node["$ref"]
        if ref in seen or len(seen) > limit:
            return None
        seen.append(ref)
        node = resolve_pointer(spec, ref)
    return node


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
