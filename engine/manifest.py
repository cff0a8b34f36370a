"""The manifest: loading, checking at load, and the Action objects built from it.

A manifest is checked once, when it is loaded, and every problem is reported at
once (a `ManifestError` whose `.problems` name each file, line, action and rule):
first against the manifest schema, composed from `schemas/manifest.schema.json`
and every registered component's fragment (`engine.components`), then for what a
schema cannot say (path placeholders match path params, names are unique,
references resolve, a paginator's params are declared, templates compile and use
only the names their place offers). A checked manifest is cached by the hash of
its bytes, so a warm start checks nothing again.
"""
from __future__ import annotations

import copy
import difflib
import functools
import hashlib
import json
import os
import re
from functools import cached_property
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from . import components
from ._version import __version__ as _ENGINE_VERSION
from .components import Where
from .components.values import is_template
from .errors import ManifestError, UnknownActionError
from .files import replace_file
from .platform import check_rules as check_platform, form_fields, sample_output

__all__ = ["Manifest", "Action", "Param", "load", "bundled_names", "BUNDLED", "SCHEMA_PATH", "VERSION"]

# engine/_data holds links to the top-level connector.yaml and schemas/, so a
# checkout and an installed wheel find them at the same place.
_DATA = Path(__file__).resolve().parent / "_data"
BUNDLED = (_DATA / "connector.yaml").resolve()
# More bundled manifests sit beside it; `aliases.json` gives some a second, stable name.
_ALIASES = _DATA / "aliases.json"
SCHEMA_PATH = (_DATA / "schemas" / "manifest.schema.json").resolve()
VERSION = 2
_PLACEHOLDER = re.compile(r"\{\{.*?\}\}|\{([^{}]*)\}")
_TEMPLATE_IN_PATH = re.compile(r"\{\{.*?\}\}")
_REF_PREFIX = "#/schemas/"
_JSON_TYPES = ("array", "boolean", "integer", "null", "number", "object", "string")
_MAX_PROBLEMS = 50  # a manifest with more problems than this is reported in part
# A loaded file may hold at most this many nodes (aliases counted as expanded) and nest this deep:
# a 600-byte alias bomb expands to hundreds of millions, and deep nesting overflows the C parser's stack.
MAX_NODES = 1_000_000
MAX_DEPTH = 100
# Keywords that name another schema; in a manifest they may only point inside it (#/schemas/NAME).
_REF_KEYWORDS = ("$ref", "$dynamicRef", "$recursiveRef")
# Keywords that judge the same value in place: a cycle through only these never ends.
_IN_PLACE_ONE = ("not", "if", "then", "else")
_IN_PLACE_MANY = ("allOf", "anyOf", "oneOf")


class _Lines:
    """Where each mapping and sequence started, and each mapping's keys, in one loaded file (by object id)."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.by_id: dict[int, int] = {}
        self.keys: dict[int, dict[Any, int]] = {}

    def line_of(self, root: Any, path: Iterable[Any]) -> int | None:
        """The line of the deepest key (or list item) of `path` found under `root`."""
        node, line = root, self.by_id.get(id(root))
        for key in path:
            keys = self.keys.get(id(node))
            if keys is None or key not in keys:
                break
            line = keys[key]
            node = node[key]
        return line


def _loader_for(lines: _Lines) -> type:
    import yaml

    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class Loader(base):  # type: ignore[misc, valid-type]
        def construct_mapping(self, node: Any, deep: bool = False) -> dict:
            seen: dict[Any, Any] = {}
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                if key in seen:
                    raise ManifestError(f"duplicate key {key!r} (first at line {seen[key].start_mark.line + 1})",
                                        file=lines.file, line=key_node.start_mark.line + 1)
                seen[key] = key_node
            mapping = super().construct_mapping(node, deep=True)
            lines.by_id[id(mapping)] = node.start_mark.line + 1
            lines.keys[id(mapping)] = {k: n.start_mark.line + 1 for k, n in seen.items()}
            return mapping

        def construct_sequence(self, node: Any, deep: bool = False) -> list:
            seq = super().construct_sequence(node, deep=True)
            lines.by_id[id(seq)] = node.start_mark.line + 1
            lines.keys[id(seq)] = {i: n.start_mark.line + 1 for i, n in enumerate(node.value)}
            return seq

    Loader.add_constructor("tag:yaml.org,2002:map", Loader.construct_mapping)
    Loader.add_constructor("tag:yaml.org,2002:seq", Loader.construct_sequence)
    return Loader


def _check_size(raw: bytes, file: str) -> None:
    """Refuse a document that would expand past MAX_NODES or nest past MAX_DEPTH, before building it.

    Reads parser events only (nothing is expanded): each alias adds the size its anchor had.
    """
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    sizes: dict[Any, int] = {}
    stack: list[list[Any]] = []  # [nodes so far, anchor] per open collection
    total = 0
    for event in yaml.parse(raw, Loader=loader):
        if isinstance(event, yaml.AliasEvent):
            size = sizes.get(event.anchor)
            if size is None:
                continue  # an undefined or self-holding alias: the loader refuses it with its own message
        elif isinstance(event, yaml.ScalarEvent):
            size = 1
            if event.anchor is not None:
                sizes[event.anchor] = 1
        elif isinstance(event, yaml.CollectionStartEvent):
            stack.append([0, event.anchor])
            if len(stack) > MAX_DEPTH:
                raise ManifestError(f"nested more than {MAX_DEPTH} levels deep", file=file,
                                    line=event.start_mark.line + 1)
            size = 1
        elif isinstance(event, yaml.CollectionEndEvent):
            count, anchor = stack.pop()  # the count includes the collection itself
            if anchor is not None:
                sizes[anchor] = count
            if stack:
                stack[-1][0] += count
            continue
        else:
            continue
        if stack:
            stack[-1][0] += size
        total += size
        if total > MAX_NODES:
            what = f"alias *{event.anchor} expands" if isinstance(event, yaml.AliasEvent) else "it grows"
            raise ManifestError(f"the document holds more than {MAX_NODES:,} nodes once aliases are expanded "
                                f"({what} past the limit here)", file=file, line=event.start_mark.line + 1)


def _read(source: str | os.PathLike | Mapping[str, Any],
          raw: bytes | None = None) -> tuple[dict[str, Any], _Lines]:
    import yaml

    if isinstance(source, Mapping):
        return copy.deepcopy(dict(source)), _Lines("<dict>")
    file = str(source)
    lines = _Lines(file)
    try:
        if raw is None:
            raw = _bytes(file)
        _check_size(raw, file)
        data = yaml.load(raw, Loader=_loader_for(lines))  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise ManifestError(f"not valid YAML: {exc.problem or exc.context}", file=file,
                            line=mark.line + 1 if mark else None) from None
    if not isinstance(data, dict):
        raise ManifestError("a manifest is a mapping with `manifest_version`, `connector` and `actions`",
                            file=file, line=1)
    return data, lines


def _normalize(data: dict[str, Any]) -> None:
    """Shorthands written as their full blocks: `body: json` is `body: {type: json}`."""
    for group in ("actions",):
        for action in data.get(group) or ():
            if isinstance(action, dict) and isinstance(action.get("body"), str):
                action["body"] = {"type": action["body"]}
            body = action.get("body") if isinstance(action, dict) else None
            if isinstance(body, dict) and isinstance(body.get("options"), list):
                for option in body["options"]:
                    if isinstance(option, dict) and isinstance(option.get("body"), str):
                        option["body"] = {"type": option["body"]}


_schema_cache: dict[str, Any] = {}


def manifest_schema() -> dict[str, Any]:
    """The whole manifest schema: the base file with every component family's composed schema in `$defs`."""
    key = components.fingerprint()
    found = _schema_cache.get(key)
    if found is None:
        with open(SCHEMA_PATH, "rb") as fh:
            found = json.load(fh)
        for family in components.FAMILIES:
            found["$defs"][f"component_{family}"] = components.family_schema(family)
        _schema_cache.clear()
        _schema_cache[key] = found
    return found


class Param:
    """One input of an action: where it goes on the wire and what it accepts."""

    __slots__ = ("name", "wire", "location", "required", "schema", "style", "file", "description",
                 "deprecated", "title", "help", "advanced", "secret", "order", "options_spec", "options")

    def __init__(self, spec: Mapping[str, Any]) -> None:
        self.name: str = spec["name"]
        self.wire: str = spec.get("wire", self.name)
        self.location: str = spec["in"]
        self.required: bool = bool(spec.get("required", False))
        self.schema: Any = spec.get("schema", {}) if "file" not in spec else None
        self.style: str = spec.get("style", "form" if self.location != "header" else "simple")
        f = spec.get("file")
        self.file: dict[str, str] | None = ({} if f is True else dict(f)) if f is not None else None
        self.description: str | None = spec.get("description")
        self.deprecated: bool = bool(spec.get("deprecated", False))
        # For forms (engine.platform): a label, help text, basic or advanced, hidden as typed, a place.
        self.title: str | None = spec.get("title")
        self.help: str | None = spec.get("help")
        self.advanced: bool = bool(spec.get("advanced", False))
        self.secret: bool = bool(spec.get("secret", False))
        self.order: int | None = spec.get("order")
        self.options_spec: dict[str, Any] | None = spec.get("options")
        self.options: Any = None  # its compiled OptionSource, set when the manifest is built

    def __repr__(self) -> str:
        return f"Param({self.name!r}, in={self.location!r}, required={self.required})"


class Action:
    """One API operation as the manifest declares it, with its components compiled."""

    composite = False

    def __init__(self, spec: Mapping[str, Any], manifest: "Manifest", where: Where | None = None,
                 place: Callable[[Sequence[Any]], Where] | None = None) -> None:
        self.spec = spec
        self.manifest = manifest
        self.name: str = spec["name"]
        self.group: str = spec.get("group", "default")
        self.summary: str = spec.get("summary", "")
        self.description: str | None = spec.get("description")
        self.method: str = spec["method"]
        self.path: str = spec["path"]
        credential = spec.get("credential", manifest.default_credential)
        # Several: the first one the Engine was given (an API that takes a key or a token).
        self.credentials: list[str] = list(credential) if isinstance(credential, list) else [credential]
        self.credential: str = self.credentials[0]
        self.headers: dict[str, str] = dict(spec.get("headers", {}))
        body = spec.get("body", {"type": "none"})
        body = {"type": body} if isinstance(body, str) else body  # a manifest built without load() keeps shorthands
        self.body_component = components.build("body", body, where)
        self.body: str = body["type"]
        self.params: list[Param] = [Param(p) for p in spec.get("params", ())]
        self.by_name: dict[str, Param] = {p.name: p for p in self.params}
        response = spec["response"]
        self.decoder = components.build("decoder", response, where)
        self.response_kind: str = response["type"]
        self.response_schema: Any = response.get("schema")
        self.text_when: dict[str, list[Any]] = self.decoder.text_when
        stream = spec.get("stream")
        self.streamed_always = bool(stream) and "when" not in stream
        self.stream_param: str | None = stream.get("when") if stream else None
        self.stream_value: Any = stream.get("equals", True) if stream else None  # the switch's value that streams
        self.framing = manifest.streams[stream["use"]] if stream else None
        pagination = spec.get("pagination")
        if isinstance(pagination, str):
            self.pagination_name: str | None = pagination
            self.pagination: dict[str, Any] | None = manifest.definitions["paginations"][pagination]
            self.paginator = manifest.paginators[pagination]
        elif pagination is not None:
            self.pagination_name, self.pagination = pagination["type"], pagination
            self.paginator = components.build("paginator", pagination, where)
        else:
            self.pagination_name, self.pagination, self.paginator = None, None, None
        self.retry: dict[str, Any] = {**manifest.connector.get("retry", {}), **spec.get("retry", {})}
        self.errors = components.build("errors", spec["errors"], where) if "errors" in spec else manifest.error_map
        self.deprecated: bool = bool(spec.get("deprecated", False))
        self.replaces: str | None = manifest.replaced.get(self.name)
        self.templates = _compile_templates(spec, where, place)

    def __repr__(self) -> str:
        return f"<Action {self.name} {self.method} {self.path}>"

    def _self_contained(self, schema: Any) -> dict[str, Any]:
        return self.manifest.self_contained(schema)

    def input_schema(self) -> dict[str, Any]:
        """A self-contained JSON Schema of `params`: what a platform renders a form from."""
        props: dict[str, Any] = {}
        required: list[str] = []
        for p in self.params:
            if p.file is not None:
                s: dict[str, Any] = {"type": "string", "format": "binary", "contentMediaType":
                                     p.file.get("default_content_type", "application/octet-stream")}
            else:
                s = copy.deepcopy(p.schema) if isinstance(p.schema, dict) else {}
            s.setdefault("title", p.name)
            if p.description and "description" not in s:
                s["description"] = p.description
            s["x-location"] = p.location
            props[p.name] = form_fields(p, s)
            if p.required:
                required.append(p.name)
        if any(p.order is not None for p in self.params):  # a form that reads properties in order
            ranked = sorted(self.params, key=lambda p: (p.order is None, p.order or 0))
            props = {p.name: props[p.name] for p in ranked}
        schema: dict[str, Any] = {"type": "object", "title": self.name, "properties": props,
                                  "additionalProperties": False}
        if self.summary:
            schema["description"] = self.summary
        if required:
            schema["required"] = required
        return self._self_contained(schema)

    def output_schema(self) -> dict[str, Any]:
        """A self-contained JSON Schema of what `run` returns (decoded JSON), for mapping fields."""
        if self.decoder.binary:
            return {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "string",
                    "contentEncoding": "binary", "title": self.name}
        return self._self_contained(copy.deepcopy(self.response_schema) if self.response_schema else {})

    def sample_output(self) -> Any:
        """A sample answer for mapping UIs, synthesized as the sandbox would answer."""
        return sample_output(self)

    @cached_property
    def validator(self) -> Any:
        from .params import ParamValidator

        return ParamValidator(self)

    @cached_property
    def builder(self) -> Any:
        from .request import RequestBuilder

        return RequestBuilder(self)


def _compile_templates(spec: Mapping[str, Any], where: Where | None,
                       place: Callable[[Sequence[Any]], Where] | None = None) -> dict[str, Any]:
    """The action's header, query and path templates, by their source; most actions have none.

    `place(keys)` says where a key under the action stands, so a broken template names its own line.
    """
    found: dict[str, Any] = {}
    sources = [(v, [field, k]) for field in ("headers", "query") for k, v in spec.get(field, {}).items()
               if is_template(v)] + [(t, ["path"]) for t in _TEMPLATE_IN_PATH.findall(spec["path"])]
    if not sources:
        return found
    from .templates import compile as compile_template

    for source, keys in sources:
        at = place(keys) if place is not None else where
        found[source] = compile_template(source, file=getattr(at, "file", None), line=getattr(at, "line", None),
                                         names=("params", "config"))
    return found


class Manifest:
    """A checked manifest: connector settings, components, actions and composites by name."""

    def __init__(self, data: dict[str, Any], files: Sequence[str] = (), *,
                 places: Callable[[Sequence[Any]], Where] | None = None,
                 replaced: Mapping[str, str] | None = None, trust: Mapping[str, Any] | None = None) -> None:
        where = places or (lambda path: Where(None, None, "/".join(map(str, path))))
        self.data = data
        self.files = list(files)
        self.replaced: dict[str, str] = dict(replaced or {})
        # Who declared what (see the Engine's trust model): for each credential and setting, the base URL
        # in force where it was first declared, and the variables the bundled manifest names for it.
        self.trust: dict[str, Any] = dict(trust or _provenance([data], [False]))
        self.connector: dict[str, Any] = data["connector"]
        defs = data.get("definitions", {})
        self.definitions: dict[str, Any] = {"parameters": defs.get("parameters", {}),
                                            "paginations": defs.get("paginations", {}),
                                            "streams": defs.get("streams", {})}
        self.schemas: dict[str, Any] = data.get("schemas", {})
        creds = self.connector["credentials"]
        self.credentials = {name: components.build("auth", spec, where(["connector", "credentials", name]))
                            for name, spec in creds.items()}
        self.default_credential: str = self.connector.get("default_credential") or \
            (next(iter(creds)) if len(creds) == 1 else "none")
        self.error_map = components.build("errors", self.connector.get("errors", {"type": "json",
                                                                                "message": "error.message"}),
                                          where(["connector", "errors"]))
        self.paginators = {name: components.build("paginator", spec, where(["definitions", "paginations", name]))
                           for name, spec in self.definitions["paginations"].items()}
        self.streams = {name: components.build("stream", spec, where(["definitions", "streams", name]))
                        for name, spec in self.definitions["streams"].items()}
        hooks = self.connector.get("webhooks")
        self.webhooks = components.build("webhook", hooks, where(["connector", "webhooks"])) if hooks else None
        self.actions: dict[str, Action] = {}
        for i, spec in enumerate(data["actions"]):
            self.actions[spec["name"]] = Action(spec, self, where(["actions", i]),
                                                lambda keys, i=i: where(["actions", i, *keys]))
        from .composite import Composite

        self.composites: dict[str, Composite] = {}
        for i, spec in enumerate(data.get("composites", ())):
            comp = Composite(spec, self, where(["composites", i]))
            comp.replaces = self.replaced.get(comp.name)
            self.composites[comp.name] = comp
        from .platform import attach

        self.checks, self.triggers = attach(self, where)

    def action(self, name: str) -> Any:
        """The action or composite action of that name."""
        found = self.actions.get(name) or self.composites.get(name)
        if found is None:
            close = difflib.get_close_matches(name, list(self.actions) + list(self.composites), n=3, cutoff=0.6)
            hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            raise UnknownActionError(f"unknown action {name!r}{hint}")
        return found

    def self_contained(self, schema: Any) -> dict[str, Any]:
        """Copy `schema` with every `#/schemas/X` it reaches moved into its own `$defs`."""
        needed: dict[str, Any] = {}
        pending = list(schema_refs(schema))
        while pending:
            name = pending.pop()
            if name in needed:
                continue
            needed[name] = self.schemas[name]
            pending.extend(schema_refs(needed[name]) - set(needed))
        out = _rewrite_refs(schema if isinstance(schema, dict) else {})
        out = {"$schema": "https://json-schema.org/draft/2020-12/schema", **out}
        if needed:
            out["$defs"] = {k: _rewrite_refs(needed[k]) for k in sorted(needed)}
        return out


def schema_refs(node: Any) -> set[str]:
    """Every schema name a `#/schemas/Name` reference in `node` names."""
    found: set[str] = set()
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, dict):
            ref = n.get("$ref")
            if isinstance(ref, str) and ref.startswith(_REF_PREFIX):
                found.add(ref[len(_REF_PREFIX):])
            stack.extend(n.values())
        elif isinstance(n, list):
            stack.extend(n)
    return found


def _rewrite_refs(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: ("#/$defs/" + v[len(_REF_PREFIX):] if k == "$ref" and isinstance(v, str)
                    and v.startswith(_REF_PREFIX) else _rewrite_refs(v)) for k, v in node.items()}
    if isinstance(node, list):
        return [_rewrite_refs(v) for v in node]
    return node


def _merge(base: dict[str, Any], extra: Mapping[str, Any], replaced: dict[str, str],
           owners: Mapping[str, str]) -> dict[str, Any]:
    """Layer a manifest over another: actions and composites replace or add by name, the rest merges.

    A key the base has and the layer sets to null is removed.

    `replaced` gets, for each name replaced, the file that declared what it replaces (`owners`).
    """
    out = dict(base)
    for key, value in extra.items():
        if key in ("actions", "composites", "triggers"):
            by_name = {a.get("name"): a for a in out.get(key, []) if isinstance(a, Mapping)}
            for a in value or []:
                name = a.get("name") if isinstance(a, Mapping) else None
                if name in by_name:
                    replaced[name] = owners.get(name, "an earlier layer")
                by_name[name] = a
            out[key] = list(by_name.values())
        elif isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(dict(out[key]), value, replaced, owners)
        elif value is None and key in out:
            del out[key]  # as in a JSON Merge Patch: a later layer takes a key away (a check, a header)
        else:
            out[key] = value
    return out


def _bytes(file: str) -> bytes:
    try:
        with open(file, "rb") as fh:
            return fh.read()
    except OSError as exc:
        raise ManifestError(f"cannot read manifest: {exc.strerror}", file=file) from None


def cache_dir() -> Path | None:
    """Where checked manifests are cached; None when caching is off.

    `OPENAI_CONNECTOR_CACHE` names the folder, or `off` to disable; the
    default is the user's cache folder.
    """
    setting = os.environ.get("OPENAI_CONNECTOR_CACHE")
    if setting is not None:
        return None if setting.strip().lower() in ("", "0", "off", "false", "no") else Path(setting)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "openai-connector"


_CACHE_FORMAT = b"manifest-cache-5"


def _cache_read(path: Path, key: str) -> dict[str, Any] | None:
    """The cached document, or None when absent, for another key, or damaged in any way."""
    try:
        blob = path.read_bytes()
    except OSError:
        return None
    digest, _, payload = blob.partition(b"\n")
    if hashlib.sha256(payload).hexdigest().encode() != digest:
        return None
    try:
        doc = json.loads(payload)
    except ValueError:
        return None
    if not isinstance(doc, dict) or doc.get("key") != key or not isinstance(doc.get("data"), dict) \
            or not isinstance(doc.get("replaced"), dict) or not isinstance(doc.get("trust"), dict) \
            or not isinstance(doc.get("places"), dict):
        return None
    return doc


def _cache_write(path: Path, key: str, data: dict[str, Any], replaced: Mapping[str, str],
                 trust: Mapping[str, Any], places: Mapping[str, tuple[str | None, int | None]]) -> None:
    try:
        payload = json.dumps({"key": key, "data": data, "replaced": dict(replaced), "trust": dict(trust),
                              "places": dict(places)},
                             separators=(",", ":"),
                             default=_json_default).encode()
    except (TypeError, ValueError):
        return  # a value JSON cannot hold: not cached, still valid
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        replace_file(path, hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload)
    except OSError:
        pass  # a read-only home is no reason to fail a load


def _json_default(value: Any) -> Any:
    """YAML dates (an OpenAPI example's `2024-01-01`) are kept as the text JSON would carry."""
    import datetime

    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    raise TypeError(type(value).__name__)


def load(sources: str | os.PathLike | Mapping[str, Any] | Sequence[Any] | None = None) -> Manifest:
    """Load, layer and check one or more manifests (default: the bundled one; others by name, `bundled_names()`).

    A manifest that checked once is cached by the hash of its bytes (and of the
    schema, the registered components and the engine version), so a warm start
    parses JSON and checks nothing twice; any change to any input, or a damaged
    cache file, means a full load.
    """
    if sources is None:
        sources = [BUNDLED]
    elif isinstance(sources, (str, os.PathLike, Mapping)):
        sources = [sources]
    sources = [_named(s) for s in sources]
    files = [str(s) for s in sources if not isinstance(s, Mapping)]
    raws = {f: _bytes(f) for f in files}
    folder = cache_dir() if len(files) == len(sources) else None
    key = path = None
    if folder is not None:
        h = hashlib.sha256(_CACHE_FORMAT + _ENGINE_VERSION.encode())
        h.update(_bytes(str(SCHEMA_PATH)))
        h.update(components.fingerprint().encode())
        for f in files:
            h.update(b"B" if _is_bundled(f) else b"F")
            h.update(hashlib.sha256(raws[f]).digest())
        key = h.hexdigest()
        path = folder / f"{key}.json"
        cached = _cache_read(path, key)
        if cached is not None:
            from .templates import deferred

            spots = cached["places"]

            def cached_place(at: Sequence[Any]) -> Where:
                joined = "/".join(map(str, at))
                spot = spots.get(joined)
                ok = isinstance(spot, list) and len(spot) == 2 and isinstance(spot[0], (str, type(None))) \
                    and isinstance(spot[1], (int, type(None)))
                return Where(spot[0], spot[1], joined) if ok else Where(None, None, joined)

            with deferred():  # checked when it was cached: no template needs Jinja2 before it renders
                return Manifest(cached["data"], files, places=cached_place, replaced=cached["replaced"],
                                trust=cached["trust"])
    merged: dict[str, Any] = {}
    origins: list[tuple[dict[str, Any], _Lines]] = []
    replaced: dict[str, str] = {}
    owners: dict[str, str] = {}  # action or composite name -> the file that declared it last
    problems: list[ManifestError] = []
    for src in sources:
        data, lines = _read(src, raws.get(str(src)) if not isinstance(src, Mapping) else None)
        _normalize(data)
        origins.append((data, lines))
        problems += _duplicate_names(data, lines)
        merged = _merge(merged, data, replaced, owners) if merged else data
        for section in ("actions", "composites"):
            for item in data.get(section) or ():
                if isinstance(item, Mapping) and isinstance(item.get("name"), str):
                    owners[item["name"]] = lines.file
    places = _Places(origins, merged)
    problems += _resolve_pagination_uses(merged, places)
    problems += _check(merged, places)
    manifest = None
    trust = _provenance([data for data, _ in origins],
                        [not isinstance(src, Mapping) and _is_bundled(src) for src in sources])
    spots: dict[str, tuple[str | None, int | None]] = {}  # each place the Manifest kept, for a cached load

    def place(at: Sequence[Any]) -> Where:
        where = places.where(at)
        spots[where.path] = (where.file, where.line)
        return where

    if not problems:
        try:
            manifest = Manifest(merged, [lines.file for _, lines in origins], places=place, replaced=replaced,
                                trust=trust)
        except ManifestError as exc:  # a template that does not compile, found while building its block
            problems += exc.problems
    if problems:
        raise ManifestError.many(problems)
    if path is not None and key is not None:
        _cache_write(path, key, merged, replaced, trust, spots)
    return manifest  # type: ignore[return-value]


@functools.lru_cache(maxsize=1)
def bundled_names() -> dict[str, Path]:
    """Every bundled manifest by name: its file name without `.yaml`, and the aliases `aliases.json` declares.

    These are trusted as the default one is (`load("NAME")`, `Engine(manifest="NAME")`,
    `--manifest NAME`): they ship with the engine, so the variables they name are read.
    """
    names = {p.name[:-len(".yaml")]: p.resolve() for p in sorted(_DATA.glob("*.yaml"))}
    if _ALIASES.exists():
        for alias, target in json.loads(_ALIASES.read_text(encoding="utf-8")).items():
            names[alias] = names[target]
    return names


def _named(source: Any) -> Any:
    """A bundled manifest's path for its name (a bare name wins over a file of that name); else the source."""
    if isinstance(source, str) and source in bundled_names():
        return bundled_names()[source]
    return source


def _is_bundled(source: str | os.PathLike) -> bool:
    resolved = Path(source).resolve()
    return resolved == BUNDLED or resolved in bundled_names().values()


def _provenance(layers: Sequence[Mapping[str, Any]], bundled: Sequence[bool]) -> dict[str, Any]:
    """Who declared each credential and setting first, and which variables the bundled manifest names.

    `declared_at` is the base URL in force where a credential or setting was first
    declared: it goes only to that origin unless the caller says otherwise, so a
    later layer cannot take it elsewhere, even by declaring it again. `env` maps each
    name to the variables the bundled manifest reads for it (the only ones the
    Engine reads without the caller's leave); `$base_url_env` is the base URL's, `$webhook_secret`
    the webhook secret's.
    """
    declared_at: dict[str, Any] = {}
    env: dict[str, list[str]] = {}
    base_url = None
    for layer, is_bundled in zip(layers, bundled):
        connector = layer.get("connector") if isinstance(layer.get("connector"), Mapping) else {}
        base_url = connector.get("base_url", base_url)
        for section in ("credentials", "settings"):
            for name, spec in (connector.get(section) or {}).items():
                declared_at.setdefault(name, base_url)
                if is_bundled and isinstance(spec, Mapping):
                    env[name] = sorted({spec[k] for k in ("env", "username_env", "password_env")
                                        if isinstance(spec.get(k), str)})
        if is_bundled and isinstance(connector.get("base_url_env"), str):
            env["$base_url_env"] = [connector["base_url_env"]]
        hooks = connector.get("webhooks")
        if is_bundled and isinstance(hooks, Mapping) and isinstance(hooks.get("secret_env"), str):
            env["$webhook_secret"] = [hooks["secret_env"]]
    return {"declared_at": declared_at, "env": env}


def _resolve_pagination_uses(merged: dict[str, Any], places: "_Places") -> list[ManifestError]:
    """`pagination: {use: NAME, items: ...}`: a named paginator with some of its fields changed for one action."""
    named = (merged.get("definitions") or {}).get("paginations") or {}
    problems = []
    for i, action in enumerate(merged.get("actions") or ()):
        block = action.get("pagination") if isinstance(action, dict) else None
        if not isinstance(block, dict) or "use" not in block:
            continue
        base = named.get(block["use"])
        if not isinstance(base, dict):
            problems.append(places.problem(f"pagination {block['use']!r} is not in definitions.paginations"
                                           + _hint(block["use"], named), ["actions", i, "pagination", "use"]))
            del action["pagination"]
            continue
        action["pagination"] = {**base, **{k: v for k, v in block.items() if k != "use"}}
    return problems


def _duplicate_names(data: Mapping[str, Any], lines: _Lines) -> list[ManifestError]:
    """The same action or composite name twice in one file: layering would keep the last one silently."""
    found = []
    for key in ("actions", "composites", "triggers"):
        items = data.get(key)
        seen: dict[str, int] = {}
        for i, item in enumerate(items if isinstance(items, list) else ()):
            name = item.get("name") if isinstance(item, Mapping) else None
            if not isinstance(name, str):
                continue
            if name in seen:
                first = lines.line_of(data, [key, seen[name]])
                found.append(ManifestError(f"duplicate {key[:-1]} name {name!r} in one file (first at line {first})",
                                           file=lines.file, line=lines.line_of(data, [key, i, "name"]), action=name))
            seen[name] = i
    return found


class _Places:
    """Finds, for a path into the merged document, the file and line of the author's own text."""

    def __init__(self, origins: Sequence[tuple[dict[str, Any], _Lines]], merged: dict[str, Any]) -> None:
        self.origins, self.merged = origins, merged

    def locate(self, path: Sequence[Any]) -> tuple[str | None, int | None, str | None]:
        action = None
        target: Any = self.merged
        for key in path[:2]:
            try:
                target = target[key]
            except (KeyError, IndexError, TypeError):
                target = None
                break
        if len(path) >= 2 and path[0] in ("actions", "composites") and isinstance(target, dict):
            action = target.get("name")
            for _, lines in reversed(self.origins):  # the file whose list holds this very action
                if id(target) in lines.by_id:
                    return lines.file, lines.line_of(target, list(path[2:])), action
        for data, lines in reversed(self.origins):  # the last layer that has the path
            node: Any = data
            found = True
            for key in path:
                try:
                    node = node[key]
                except (KeyError, IndexError, TypeError):
                    found = False
                    break
            if found:
                return lines.file, lines.line_of(data, path), action
        data, lines = self.origins[-1]
        return lines.file, lines.line_of(data, path), action

    def where(self, path: Sequence[Any]) -> Where:
        file, line, _ = self.locate(path)
        return Where(file, line, "/".join(map(str, path)))

    def problem(self, rule: str, path: Sequence[Any]) -> ManifestError:
        file, line, action = self.locate(path)
        return ManifestError(rule, file=file, line=line, action=action, where="/".join(str(p) for p in path) or None)


def _check(merged: dict[str, Any], places: _Places) -> list[ManifestError]:
    """Every problem: schema first (one per place), then the rules a schema cannot say."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(manifest_schema())
    problems: list[ManifestError] = []
    seen: set[tuple[Any, ...]] = set()
    for error in sorted(validator.iter_errors(merged), key=lambda e: list(map(str, e.absolute_path))):
        deepest = _deepest(error)
        where = tuple(deepest.absolute_path)
        if any(where[:len(p)] == p for p in seen):  # one problem a place: the deepest, first
            continue
        seen.add(where)
        problems.append(places.problem(_schema_message(deepest), list(where)))
        if len(problems) >= _MAX_PROBLEMS:
            return problems
    if not problems:
        return _check_rules(merged, places)
    # The rules read the document as the schema promises it: run on a copy, they go as far as the
    # document lets them, and add what is wrong elsewhere than where the schema already said.
    more: list[ManifestError] = []
    try:
        _check_rules(copy.deepcopy(merged), places, more)
    except (KeyError, TypeError, AttributeError, IndexError, ValueError):
        pass  # a part the schema already refused stops the rules there: what they found before it is kept
    flagged = [p.where or "" for p in problems]
    return problems + [p for p in more
                       if not any(p.where == f or (p.where or "").startswith(f + "/") for f in flagged)]


def _deepest(error: Any) -> Any:
    """The most specific reason: inside a component block, the fragment its `type` picked."""
    import jsonschema

    best = error
    while best.context:
        inner = jsonschema.exceptions.best_match(_meant(best.context))
        if inner is None or inner is best:
            break
        best = inner
    return best


def _meant(context: Any) -> list[Any]:
    """The errors of the anyOf/oneOf branches the author meant: those whose required keys are present.

    A param with `in: querry` fails both `{name, in, ...}` (a bad `in`) and `{use}` (no `use`); the
    misspelt value is what the author must hear about, not a key of the other form.
    """
    context = list(context)
    branches: dict[Any, list[Any]] = {}
    for e in context:
        branches.setdefault(e.relative_schema_path[0] if e.relative_schema_path else None, []).append(e)
    meant = [e for errs in branches.values()
             if not any(x.validator == "required" and not x.relative_path for x in errs) for e in errs]
    return meant or context


def _schema_message(error: Any) -> str:
    """What is wrong, with the allowed values and a did-you-mean where there is a closest one."""
    if error.validator == "enum" and isinstance(error.instance, str):
        allowed = [str(v) for v in error.validator_value]
        close = difflib.get_close_matches(error.instance, allowed, n=1, cutoff=0.5)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return f"{error.instance!r} is not allowed here{hint} (allowed: {', '.join(allowed)})"
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = sorted(error.schema.get("properties", {}))
        extra = sorted(k for k in error.instance if k not in allowed)
        names = []
        for key in extra:
            close = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.6)
            names.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        return f"unknown field{'s' if len(extra) > 1 else ''} {', '.join(names)} (allowed: {', '.join(allowed)})"
    if error.validator == "const":
        return f"{error.instance!r} is not allowed here: it must be {error.validator_value!r}"
    msg = error.message
    if len(msg) > 300:
        msg = msg[:300] + "..."
    return f"{msg} (rule: {error.validator})"


def _schema_problem(exc: Any, name: str) -> str:
    """A JSON Schema that is not valid, said as an author would fix it (a misspelt type gets a did-you-mean)."""
    error = exc
    if isinstance(error.instance, str) and list(error.relative_path)[-1:] == ["type"]:
        close = difflib.get_close_matches(error.instance, _JSON_TYPES, n=1, cutoff=0.5)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return f"{name} has an invalid JSON Schema: type {error.instance!r} is not a JSON type{hint} " \
               f"(allowed: {', '.join(_JSON_TYPES)})"
    return f"{name} has an invalid JSON Schema: {error.message[:300]}"


def _foreign_keyword(node: Any) -> tuple[list[Any], str] | None:
    """The first keyword that could make validation reach outside the manifest or run away, and why.

    References must be '#/schemas/NAME' (a remote one would be fetched while validating); `$id`
    would change what they resolve against; a pattern must compile as a linear-time regex.
    """
    stack: list[tuple[Any, list[Any]]] = [(node, [])]
    while stack:
        n, path = stack.pop()
        if isinstance(n, list):
            stack.extend((v, path + [i]) for i, v in reversed(list(enumerate(n))))
            continue
        if not isinstance(n, dict):
            continue
        for key, value in n.items():
            if isinstance(value, str):
                if key in _REF_KEYWORDS and not value.startswith(_REF_PREFIX):
                    return path, (f"{key} {_short(value)} does not point inside the manifest: only "
                                  f"'{_REF_PREFIX}NAME' is allowed (nothing is fetched)")
                if key == "$id":
                    return path, "$id is not allowed in a manifest schema: it changes what references resolve against"
                if key == "$schema" and not re.match(r"https?://json-schema\.org/", value):
                    return path, f"$schema {_short(value)} is not a json-schema.org dialect"
                if key == "pattern":
                    problem = _pattern_problem(value)
                    if problem:
                        return path, f"pattern {_short(value)} {problem}"
            elif key == "patternProperties" and isinstance(value, dict):
                for pattern in value:
                    problem = _pattern_problem(pattern)
                    if problem:
                        return path + [key], f"patternProperties key {_short(pattern)} {problem}"
        stack.extend((v, path + [k]) for k, v in reversed(list(n.items())))
    return None


def _pattern_problem(pattern: str) -> str | None:
    from .params import pattern_matcher

    try:
        pattern_matcher(pattern)
    except ValueError as exc:
        return f"is not a regular expression the validator can compile ({str(exc).splitlines()[0][:120]})"
    return None


def _short(value: str) -> str:
    return repr(value if len(value) <= 80 else value[:77] + "...")


def _in_place_cycle(schemas: Mapping[str, Any]) -> list[str] | None:
    """Named schemas that reach themselves without moving into a property or item, as a path, or None."""
    edges: dict[str, list[str]] = {}
    for name, schema in schemas.items():
        found: list[str] = []
        stack = [schema]
        while stack:
            n = stack.pop()
            if not isinstance(n, dict):
                continue
            for key in _REF_KEYWORDS:
                ref = n.get(key)
                if isinstance(ref, str) and ref.startswith(_REF_PREFIX) and ref[len(_REF_PREFIX):] in schemas:
                    found.append(ref[len(_REF_PREFIX):])
            stack.extend(n[k] for k in _IN_PLACE_ONE if k in n)
            for k in _IN_PLACE_MANY:
                if isinstance(n.get(k), list):
                    stack.extend(n[k])
            if isinstance(n.get("dependentSchemas"), dict):
                stack.extend(n["dependentSchemas"].values())
        edges[name] = found
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for start in schemas:
        if start in state:
            continue
        path, iters = [start], [iter(edges[start])]
        state[start] = 1
        while path:
            nxt = next(iters[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                iters.pop()
            elif state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            elif nxt not in state:
                state[nxt] = 1
                path.append(nxt)
                iters.append(iter(edges[nxt]))
    return None


def _check_rules(merged: dict[str, Any], places: _Places,
                 problems: list[ManifestError] | None = None) -> list[ManifestError]:
    """The rules a schema cannot say; each problem is added to `problems` as soon as it is found."""
    import jsonschema

    problems = [] if problems is None else problems

    def fail(rule: str, path: Sequence[Any]) -> None:
        problems.append(places.problem(rule, path))

    if merged.get("manifest_version") != VERSION:
        fail(f"manifest_version must be {VERSION}", ["manifest_version"])
    defs = merged.get("definitions", {})
    shared = defs.get("parameters", {})
    paginations = defs.get("paginations", {})
    streams = defs.get("streams", {})
    schemas = merged.get("schemas", {})
    connector = merged["connector"]
    credentials = connector["credentials"]
    check = jsonschema.Draft202012Validator.check_schema

    def check_refs(node: Any, path: list[Any]) -> None:
        found = _foreign_keyword(node)
        if found is not None:
            fail(found[1], path + found[0])
        for name in schema_refs(node):
            if name not in schemas:
                close = difflib.get_close_matches(name, list(schemas), n=1)
                hint = f"; did you mean '#/schemas/{close[0]}'?" if close else ""
                fail(f"schema reference '#/schemas/{name}' does not resolve{hint}", path)

    def check_schema(schema: Any, label: str, path: list[Any]) -> None:
        try:
            check(schema)
        except jsonschema.exceptions.SchemaError as exc:
            fail(_schema_problem(exc, label), path + list(exc.path))
        check_refs(schema, path)

    default = connector.get("default_credential")
    if default is not None and default != "none" and default not in credentials:
        fail(f"default_credential {default!r} is not declared in connector.credentials"
             + _hint(default, credentials), ["connector", "default_credential"])
    for name, schema in schemas.items():
        check_schema(schema, f"schema {name!r}", ["schemas", name])
    cycle = _in_place_cycle(schemas)
    if cycle:
        who = f"schema {cycle[0]} refers to itself" if len(cycle) == 2 else \
            f"schemas {' -> '.join(cycle)} refer to each other"
        fail(f"{who} on the same value (through $ref, allOf, anyOf, oneOf, not, if/then/else): validating "
             f"would never end; a recursive schema must recurse through properties or items", ["schemas", cycle[0]])
    for kind, schema in (connector.get("webhooks") or {}).get("events", {}).items():
        check_schema(schema, f"webhook event {kind!r}", ["connector", "webhooks", "events", kind])
    for name, p in shared.items():
        if isinstance(p, dict) and "schema" in p:
            check_refs(p["schema"], ["definitions", "parameters", name, "schema"])
    names: dict[str, int] = {}
    for i, spec in enumerate(merged["actions"]):
        at = ["actions", i]
        names[spec["name"]] = i
        cred = spec.get("credential", default or (next(iter(credentials)) if len(credentials) == 1 else "none"))
        for one in cred if isinstance(cred, list) else [cred]:
            if one != "none" and one not in credentials:
                fail(f"credential {one!r} is not declared in connector.credentials" + _hint(one, credentials),
                     at + ["credential"])
        resolved: list[dict[str, Any]] = []
        for j, p in enumerate(spec.setdefault("params", [])):
            if "use" in p:
                if p["use"] not in shared:
                    fail(f"parameter reference {p['use']!r} is not in definitions.parameters" + _hint(p["use"], shared),
                         at + ["params", j, "use"])
                    continue
                p = {**shared[p["use"]], **{k: v for k, v in p.items() if k != "use"}}
                spec["params"][j] = p
            resolved.append(p)
            if "schema" in p:
                check_schema(p["schema"], f"parameter {p['name']!r}", at + ["params", j, "schema"])
        body = components.lookup("body", spec.get("body", {"type": "none"})["type"])
        seen: set[str] = set()
        wires: set[tuple[str, str]] = set()
        for j, p in enumerate(resolved):
            if p["name"] in seen:
                fail(f"duplicate parameter name {p['name']!r}", at + ["params", j])
            seen.add(p["name"])
            key = (p["in"], p.get("wire", p["name"]))
            if key in wires:
                fail(f"two parameters send {key[1]!r} in the {key[0]}", at + ["params", j])
            wires.add(key)
            if p["in"] == "body" and not body.sends:
                fail(f"parameter {p['name']!r} is in the body but the action sends no body (add `body: json`, "
                     f"or another body type)", at + ["params", j])
            if "file" in p and not _carries_files(spec.get("body", {})):
                fail(f"file parameter {p['name']!r} needs a body that carries files (multipart, raw, or a choice "
                     f"with one)", at + ["params", j])
            if p["in"] == "query" and p.get("style", "form") not in ("form", "deep_object", "comma", "pipe", "space"):
                fail(f"query parameter {p['name']!r}: style {p['style']!r} is for headers (query styles: form, "
                     f"deep_object, comma, pipe, space)", at + ["params", j, "style"])
            if p["in"] == "header" and p.get("style", "simple") not in ("simple", "json"):
                fail(f"header parameter {p['name']!r}: style {p['style']!r} is for queries (header styles: "
                     f"simple, json)", at + ["params", j, "style"])
        if spec.get("body", {}).get("type") == "raw" and spec["body"]["param"] not in seen:
            fail(f"the raw body's param {spec['body']['param']!r} is not a param of the action"
                 + _hint(spec["body"]["param"], seen), at + ["body", "param"])
        placeholders = [m.group(1) for m in _PLACEHOLDER.finditer(spec["path"]) if m.group(1) is not None]
        path_params = {p.get("wire", p["name"]) for p in resolved if p["in"] == "path"}
        for ph in placeholders:
            if ph not in path_params:
                fail(f"path placeholder {{{ph}}} has no path parameter" + _hint(ph, path_params), at + ["path"])
        for j, p in enumerate(resolved):
            if p["in"] == "path":
                if p.get("wire", p["name"]) not in placeholders:
                    fail(f"path parameter {p['name']!r} has no {{placeholder}} in the path", at + ["params", j])
                if not p.get("required"):
                    fail(f"path parameter {p['name']!r} must be required", at + ["params", j])
        if "schema" in spec["response"]:
            check_refs(spec["response"]["schema"], at + ["response", "schema"])
        if "pagination" in spec:
            pagination = spec["pagination"]
            if isinstance(pagination, str):
                if pagination not in paginations:
                    fail(f"pagination {pagination!r} is not in definitions.paginations" + _hint(pagination, paginations),
                         at + ["pagination"])
                    pagination = None
                else:
                    pagination = paginations[pagination]
            if pagination is not None:
                pager = components.lookup("paginator", pagination["type"])
                for param in pager.used_params(pagination):
                    if param not in seen:
                        fail(f"the paginator sends the param {param!r}, which the action does not declare"
                             + _hint(param, seen), at + ["pagination"])
        if "stream" in spec:
            st = spec["stream"]
            if st["use"] not in streams:
                fail(f"stream {st['use']!r} is not in definitions.streams" + _hint(st["use"], streams),
                     at + ["stream", "use"])
            if "when" in st:
                sp = next((p for p in resolved if p["name"] == st["when"]), None)
                if sp is None or sp["in"] not in ("body", "query"):
                    fail(f"stream switch {st['when']!r} must be a body or query parameter of the action",
                         at + ["stream", "when"])
    for i, comp in enumerate(merged.get("composites", ())):
        for j, p in enumerate(comp.get("params", ())):
            if "schema" in p:
                check_schema(p["schema"], f"parameter {p['name']!r}", ["composites", i, "params", j, "schema"])
    _check_composites(merged, names, fail)
    check_platform(merged, fail, _hint)
    return problems


def _carries_files(body: Mapping[str, Any]) -> bool:
    if body.get("type") == "choice":
        return any(_carries_files(option.get("body", {})) for option in body.get("options", ()))
    found = components.lookup("body", body.get("type", "none"))
    return bool(found and found.carries_files)


def _hint(name: Any, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(str(name), [str(c) for c in choices], n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _check_composites(merged: dict[str, Any], names: Mapping[str, int], fail: Callable[..., None]) -> None:
    """A composite names actions that exist, and its steps call them."""
    actions = {a["name"]: a for a in merged["actions"]}
    for i, comp in enumerate(merged.get("composites", ())):
        at = ["composites", i]
        if comp["name"] in names:
            fail(f"composite {comp['name']!r} has the name of an action", at + ["name"])
        if "params_from" in comp and comp["params_from"] not in actions:
            fail(f"params_from: no action {comp['params_from']!r}" + _hint(comp["params_from"], actions),
                 at + ["params_from"])
        output = comp.get("output")
        output = output.get("action") if isinstance(output, Mapping) else output
        if output is not None and output not in actions:
            fail(f"output: no action {output!r}" + _hint(output, actions), at + ["output"])
        for key in ("steps", "on_failure"):
            stack = [(step, at + [key, j]) for j, step in enumerate(comp.get(key, ()))]
            while stack:
                step, path = stack.pop()
                if "action" in step and step["action"] not in actions:
                    fail(f"no action {step['action']!r}" + _hint(step["action"], actions), path + ["action"])
                if "do" in step:
                    stack.append((step["do"], path + ["do"]))
