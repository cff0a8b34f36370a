"""The manifest: loading, validation at load, and the Action objects built from it.

A manifest is checked once, when it is loaded: first against
`schemas/manifest.schema.json`, then for what a schema cannot say (path
placeholders match path parameters, names are unique, references resolve, a
paginated action has the parameters its style needs). Every failure is a
`ManifestError` naming the file, the line, the action and the rule.
"""
from __future__ import annotations

import copy
import difflib
import hashlib
import json
import os
import re
from functools import cached_property
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from ._version import __version__ as _ENGINE_VERSION
from .errors import ManifestError, UnknownActionError

__all__ = ["Manifest", "Action", "Param", "load", "BUNDLED", "SCHEMA_PATH"]

# engine/_data holds links to the top-level connector.yaml and schemas/, so a
# checkout and an installed wheel find them at the same place.
_DATA = Path(__file__).resolve().parent / "_data"
BUNDLED = (_DATA / "connector.yaml").resolve()
SCHEMA_PATH = (_DATA / "schemas" / "manifest.schema.json").resolve()
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_REF_PREFIX = "#/schemas/"
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
    """Where each mapping and sequence of a loaded document started (by object id)."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.by_id: dict[int, int] = {}

    def line_of(self, root: Any, path: Iterable[Any]) -> int | None:
        node, line = root, self.by_id.get(id(root))
        for key in path:
            try:
                node = node[key]
            except (KeyError, IndexError, TypeError):
                break
            line = self.by_id.get(id(node), line)
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
            return mapping

        def construct_sequence(self, node: Any, deep: bool = False) -> list:
            seq = super().construct_sequence(node, deep=True)
            lines.by_id[id(seq)] = node.start_mark.line + 1
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


def _schema_validator() -> Any:
    import jsonschema

    with open(SCHEMA_PATH, "rb") as fh:
        schema = json.load(fh)
    return jsonschema.Draft202012Validator(schema)


class Param:
    """One input of an action: where it goes on the wire and what it accepts."""

    __slots__ = ("name", "wire", "location", "required", "schema", "style", "file", "description",
                 "deprecated")

    def __init__(self, spec: Mapping[str, Any]) -> None:
        self.name: str = spec["name"]
        self.wire: str = spec.get("wire", self.name)
        self.location: str = spec["in"]
        self.required: bool = bool(spec.get("required", False))
        self.schema: Any = spec.get("schema", {}) if "file" not in spec else None
        self.style: str = spec.get("style", "form")
        f = spec.get("file")
        self.file: dict[str, str] | None = ({} if f is True else dict(f)) if f is not None else None
        self.description: str | None = spec.get("description")
        self.deprecated: bool = bool(spec.get("deprecated", False))

    def __repr__(self) -> str:
        return f"Param({self.name!r}, in={self.location!r}, required={self.required})"


class Action:
    """One API operation as the manifest declares it."""

    def __init__(self, spec: Mapping[str, Any], manifest: "Manifest") -> None:
        self.spec = spec
        self.manifest = manifest
        self.name: str = spec["name"]
        self.group: str = spec.get("group", "default")
        self.summary: str = spec.get("summary", "")
        self.description: str | None = spec.get("description")
        self.method: str = spec["method"]
        self.path: str = spec["path"]
        self.credential: str = spec.get("credential", manifest.connector.get("default_credential", "none"))
        self.headers: dict[str, str] = dict(spec.get("headers", {}))
        self.body: str = spec.get("body", "none")
        self.params: list[Param] = [Param(p) for p in spec["params"]]
        self.by_name: dict[str, Param] = {p.name: p for p in self.params}
        self.response_kind: str = spec["response"]["kind"]
        self.response_schema: Any = spec["response"].get("schema")
        self.text_when: dict[str, list[Any]] = dict(spec["response"].get("text_when", {}))
        stream = spec.get("stream")
        self.stream_param: str | None = stream["when"] if stream else None
        self.stream_style: dict[str, Any] | None = (manifest.definitions["streams"][stream["use"]]
                                                    if stream else None)
        self.pagination_name: str | None = spec.get("pagination")
        self.pagination: dict[str, Any] | None = (manifest.definitions["paginations"][self.pagination_name]
                                                  if self.pagination_name else None)
        self.retry: dict[str, Any] = {**manifest.connector.get("retry", {}), **spec.get("retry", {})}
        self.deprecated: bool = bool(spec.get("deprecated", False))
        self.composite = False

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
            props[p.name] = s
            if p.required:
                required.append(p.name)
        schema: dict[str, Any] = {"type": "object", "title": self.name, "properties": props,
                                  "additionalProperties": False}
        if self.summary:
            schema["description"] = self.summary
        if required:
            schema["required"] = required
        return self._self_contained(schema)

    def output_schema(self) -> dict[str, Any]:
        """A self-contained JSON Schema of what `run` returns (decoded JSON), for mapping fields."""
        if self.response_kind == "binary":
            return {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "string",
                    "contentEncoding": "binary", "title": self.name}
        return self._self_contained(copy.deepcopy(self.response_schema) if self.response_schema else {})

    @cached_property
    def validator(self) -> Any:
        from .params import ParamValidator

        return ParamValidator(self)

    @cached_property
    def builder(self) -> Any:
        from .request import RequestBuilder

        return RequestBuilder(self)


class Manifest:
    """A validated manifest: connector settings, shared definitions, actions by name."""

    def __init__(self, data: dict[str, Any], files: Sequence[str] = (),
                 bundled: Mapping[str, Any] | None = None) -> None:
        self.data = data
        self.files = list(files)
        # What the bundled layer itself declared (its base_url and environment variable names), or
        # None when it is not one of the layers: the Engine trusts only this (see Engine's trust model).
        self.bundled: Mapping[str, Any] | None = bundled
        self.connector: dict[str, Any] = data["connector"]
        defs = data.get("definitions", {})
        self.definitions: dict[str, Any] = {"parameters": defs.get("parameters", {}),
                                            "paginations": defs.get("paginations", {}),
                                            "streams": defs.get("streams", {})}
        self.schemas: dict[str, Any] = data.get("schemas", {})
        self.actions: dict[str, Action] = {}
        for spec in data["actions"]:
            self.actions[spec["name"]] = Action(spec, self)
        from .composite import Composite

        self.composites: dict[str, Composite] = {c["name"]: Composite(c, self) for c in data.get("composites", ())}

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
        pending = list(_refs(schema))
        while pending:
            name = pending.pop()
            if name in needed:
                continue
            needed[name] = self.schemas[name]
            pending.extend(_refs(needed[name]) - set(needed))
        out = _rewrite_refs(schema if isinstance(schema, dict) else {})
        out = {"$schema": "https://json-schema.org/draft/2020-12/schema", **out}
        if needed:
            out["$defs"] = {k: _rewrite_refs(needed[k]) for k in sorted(needed)}
        return out


def _refs(node: Any) -> set[str]:
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


def _rewrite_refs(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: ("#/$defs/" + v[len(_REF_PREFIX):] if k == "$ref" and isinstance(v, str)
                    and v.startswith(_REF_PREFIX) else _rewrite_refs(v)) for k, v in node.items()}
    if isinstance(node, list):
        return [_rewrite_refs(v) for v in node]
    return node


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """Layer a user manifest over another: actions replace or add by name, the rest merges."""
    out = dict(base)
    for key, value in extra.items():
        if key == "actions":
            by_name = {a.get("name"): a for a in out.get("actions", [])}
            for a in value or []:
                by_name[a.get("name")] = a
            out["actions"] = list(by_name.values())
        elif key == "composites":
            by_name = {c.get("name"): c for c in out.get("composites", [])}
            for c in value or []:
                by_name[c.get("name")] = c
            out["composites"] = list(by_name.values())
        elif isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(dict(out[key]), value)
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
    """Where validated manifests are cached; None when caching is off.

    `OPENAI_CONNECTOR_CACHE` names the folder, or `off` to disable; the
    default is the user's cache folder.
    """
    setting = os.environ.get("OPENAI_CONNECTOR_CACHE")
    if setting is not None:
        return None if setting.strip().lower() in ("", "0", "off", "false", "no") else Path(setting)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "openai-connector"


_CACHE_FORMAT = b"manifest-cache-2"


def _cache_read(path: Path, key: str) -> dict[str, Any] | None:
    """The cached document (`data`, `bundled`), or None when absent, for another key, or damaged in any way."""
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
            or not isinstance(doc.get("bundled"), (dict, type(None))):
        return None
    return doc


def _cache_write(path: Path, key: str, data: dict[str, Any], bundled: Mapping[str, Any] | None) -> None:
    try:
        payload = json.dumps({"key": key, "data": data, "bundled": bundled}, separators=(",", ":")).encode()
    except (TypeError, ValueError):
        return  # a value JSON cannot hold (a YAML timestamp, say): not cached, still valid
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload)
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only home is no reason to fail a load


def load(sources: str | os.PathLike | Mapping[str, Any] | Sequence[Any] | None = None) -> Manifest:
    """Load, layer and validate one or more manifests (default: the bundled one).

    A manifest that validated once is cached by the hash of its bytes (and of
    the schema and engine version), so a warm start parses JSON and validates
    nothing twice; any change to any input, or a damaged cache file, means a
    full load.
    """
    if sources is None:
        sources = [BUNDLED]
    elif isinstance(sources, (str, os.PathLike, Mapping)):
        sources = [sources]
    files = [str(s) for s in sources if not isinstance(s, Mapping)]
    raws = {f: _bytes(f) for f in files}
    folder = cache_dir() if len(files) == len(sources) else None
    key = path = None
    if folder is not None:
        h = hashlib.sha256(_CACHE_FORMAT + _ENGINE_VERSION.encode())
        h.update(_bytes(str(SCHEMA_PATH)))
        for f in files:
            h.update(b"B" if _is_bundled(f) else b"F")
            h.update(hashlib.sha256(raws[f]).digest())
        key = h.hexdigest()
        path = folder / f"{key}.json"
        cached = _cache_read(path, key)
        if cached is not None:
            return Manifest(cached["data"], files, cached["bundled"])
    merged: dict[str, Any] = {}
    origins: list[tuple[dict[str, Any], _Lines]] = []
    bundled: dict[str, Any] | None = None
    for src in sources:
        data, lines = _read(src, raws.get(str(src)) if not isinstance(src, Mapping) else None)
        origins.append((data, lines))
        if not isinstance(src, Mapping) and _is_bundled(src):
            bundled = _declared(data)
        merged = _merge(merged, data) if merged else data
    _validate(merged, origins)
    if path is not None and key is not None:
        _cache_write(path, key, merged, bundled)
    return Manifest(merged, [lines.file for _, lines in origins], bundled)


def _is_bundled(source: str | os.PathLike) -> bool:
    return Path(source).resolve() == BUNDLED


def _declared(layer: Mapping[str, Any]) -> dict[str, Any]:
    """What the bundled layer declares that the Engine trusts: its base URL and environment variables."""
    connector = layer.get("connector")
    connector = connector if isinstance(connector, Mapping) else {}
    names = {connector.get("base_url_env")}
    for kind in ("credentials", "settings"):
        section = connector.get(kind)
        for spec in (section.values() if isinstance(section, Mapping) else ()):
            names.add(spec.get("env") if isinstance(spec, Mapping) else None)
    return {"base_url": connector.get("base_url"), "env": sorted(n for n in names if isinstance(n, str))}


def _locate(origins: Sequence[tuple[dict[str, Any], _Lines]], merged: dict[str, Any],
            path: Sequence[Any]) -> tuple[str | None, int | None, str | None]:
    """File, line and action name for a path into the merged document."""
    action = None
    target: Any = merged
    for key in path[:2]:
        try:
            target = target[key]
        except (KeyError, IndexError, TypeError):
            break
    if len(path) >= 2 and path[0] in ("actions", "composites") and isinstance(target, dict):
        action = target.get("name")
    # Find the document that holds the node (by identity), to name its file and line.
    for data, lines in reversed(origins):
        node: Any = merged
        found = True
        for key in path:
            try:
                node = node[key]
            except (KeyError, IndexError, TypeError):
                found = False
                break
        if path and path[0] in ("actions", "composites") and len(path) >= 2 and isinstance(target, dict):
            if id(target) in lines.by_id:
                rest = list(path[2:])
                return lines.file, lines.line_of(target, rest), action
            continue
        if found or not path:
            return lines.file, lines.line_of(data, path), action
    data, lines = origins[-1]
    return lines.file, None, action


def _validate(merged: dict[str, Any], origins: Sequence[tuple[dict[str, Any], _Lines]]) -> None:
    import jsonschema

    def fail(rule: str, path: Sequence[Any]) -> None:
        file, line, action = _locate(origins, merged, path)
        raise ManifestError(rule, file=file, line=line, action=action,
                            where="/".join(str(p) for p in path) or None)

    validator = _schema_validator()
    error = jsonschema.exceptions.best_match(validator.iter_errors(merged))
    if error is not None:
        fail(_schema_message(error), list(error.absolute_path))

    defs = merged.get("definitions", {})
    shared = defs.get("parameters", {})
    paginations = defs.get("paginations", {})
    streams = defs.get("streams", {})
    schemas = merged.get("schemas", {})
    credentials = merged["connector"]["credentials"]
    check = jsonschema.Draft202012Validator.check_schema

    def check_refs(node: Any, path: list[Any]) -> None:
        found = _foreign_keyword(node)
        if found is not None:
            fail(found[1], path + found[0])
        for name in _refs(node):
            if name not in schemas:
                fail(f"schema reference '#/schemas/{name}' does not resolve", path)

    for name, schema in schemas.items():
        check_refs(schema, ["schemas", name])
        try:
            check(schema)
        except jsonschema.exceptions.SchemaError as exc:
            fail(f"schema {name!r} is not a valid JSON Schema: {exc.message}", ["schemas", name])
    cycle = _in_place_cycle(schemas)
    if cycle:
        who = f"schema {cycle[0]} refers to itself" if len(cycle) == 2 else \
            f"schemas {' -> '.join(cycle)} refer to each other"
        fail(f"{who} on the same value (through $ref, allOf, anyOf, oneOf, not, if/then/else): validating "
             f"would never end; a recursive schema must recurse through properties or items", ["schemas", cycle[0]])
    for name, p in shared.items():
        if isinstance(p, dict) and "schema" in p:
            check_refs(p["schema"], ["definitions", "parameters", name, "schema"])
    names: dict[str, int] = {}
    for i, spec in enumerate(merged["actions"]):
        at = ["actions", i]
        if spec["name"] in names:
            fail(f"duplicate action name {spec['name']!r} (also action #{names[spec['name']]})", at + ["name"])
        names[spec["name"]] = i
        cred = spec.get("credential", merged["connector"].get("default_credential"))
        if cred not in (None, "none") and cred not in credentials:
            fail(f"credential {cred!r} is not declared in connector.credentials", at + ["credential"])
        resolved: list[dict[str, Any]] = []
        for j, p in enumerate(spec["params"]):
            if "use" in p:
                if p["use"] not in shared:
                    close = difflib.get_close_matches(p["use"], list(shared), n=1)
                    hint = f"; did you mean {close[0]!r}?" if close else ""
                    fail(f"parameter reference {p['use']!r} is not in definitions.parameters{hint}",
                         at + ["params", j, "use"])
                p = {**shared[p["use"]], **{k: v for k, v in p.items() if k != "use"}}
                spec["params"][j] = p
            resolved.append(p)
            if "schema" in p:
                try:
                    check(p["schema"])
                except jsonschema.exceptions.SchemaError as exc:
                    fail(f"parameter {p['name']!r} has an invalid JSON Schema: {exc.message}",
                         at + ["params", j, "schema"])
                check_refs(p["schema"], at + ["params", j, "schema"])
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
            if p["in"] == "body" and spec.get("body", "none") == "none":
                fail(f"parameter {p['name']!r} is in the body but the action's body is 'none'", at + ["params", j])
            if "file" in p and spec.get("body") != "multipart":
                fail(f"file parameter {p['name']!r} needs body 'multipart'", at + ["params", j])
        placeholders = _PLACEHOLDER.findall(spec["path"])
        path_params = {p.get("wire", p["name"]) for p in resolved if p["in"] == "path"}
        for ph in placeholders:
            if ph not in path_params:
                fail(f"path placeholder {{{ph}}} has no path parameter", at + ["path"])
        for p in resolved:
            if p["in"] == "path":
                if p.get("wire", p["name"]) not in placeholders:
                    fail(f"path parameter {p['name']!r} has no {{placeholder}} in the path", at + ["params"])
                if not p.get("required"):
                    fail(f"path parameter {p['name']!r} must be required", at + ["params"])
        if "schema" in spec["response"]:
            check_refs(spec["response"]["schema"], at + ["response", "schema"])
        if "pagination" in spec:
            style = paginations.get(spec["pagination"])
            if style is None:
                fail(f"pagination {spec['pagination']!r} is not in definitions.paginations", at + ["pagination"])
            need = [style[k] for k in ("cursor_param", "token_param") if k in style]
            query = {p.get("wire", p["name"]) for p in resolved if p["in"] == "query"}
            for wire in need:
                if wire not in query:
                    fail(f"pagination {spec['pagination']!r} needs a query parameter {wire!r}", at + ["pagination"])
        if "stream" in spec:
            st = spec["stream"]
            if st["use"] not in streams:
                fail(f"stream style {st['use']!r} is not in definitions.streams", at + ["stream", "use"])
            sp = next((p for p in resolved if p["name"] == st["when"]), None)
            if sp is None or sp["in"] != "body":
                fail(f"stream parameter {st['when']!r} must be a body parameter of the action", at + ["stream", "when"])

    for i, comp in enumerate(merged.get("composites", ())):
        for j, p in enumerate(comp.get("params", ())):
            if "schema" in p:
                check_refs(p["schema"], ["composites", i, "params", j, "schema"])

    _validate_composites(merged, names, fail)


def _validate_composites(merged: dict[str, Any], names: Mapping[str, int], fail: Callable[..., None]) -> None:
    """A composite names actions that exist and draws their params from known places."""
    from .composite import RUNNERS

    actions = {a["name"]: a for a in merged["actions"]}
    for i, comp in enumerate(merged.get("composites", ())):
        at = ["composites", i]
        if comp["name"] in names:
            fail(f"composite {comp['name']!r} has the name of an action", at + ["name"])
        if comp["type"] not in RUNNERS:
            fail(f"no runner for composite type {comp['type']!r}", at + ["type"])
        for key in ("call", "poll", "create", "add_part", "complete", "cancel"):
            if key in comp and comp[key] not in actions:
                close = difflib.get_close_matches(comp[key], list(actions), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                fail(f"{key}: no action {comp[key]!r}{hint}", at + [key])
        for key, target in (("poll_params", "poll"), ("create_params", "create")):
            if key in comp:
                accepted = {p["name"] for p in actions[comp[target]]["params"]}
                for param, ref in comp[key].items():
                    if param not in accepted:
                        fail(f"{key}: {comp[target]!r} has no parameter {param!r}", at + [key, param])
                    if isinstance(ref, str) and ref.split(".", 1)[0] not in ("params", "result", "file"):
                        fail(f"{key}.{param}: a reference starts with params., result. or file., got {ref!r}",
                             at + [key, param])


def _schema_message(error: Any) -> str:
    msg = error.message
    if len(msg) > 300:
        msg = msg[:300] + "..."
    return f"{msg} (rule: {error.validator})"
