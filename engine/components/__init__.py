"""Components: every behaviour that differs between APIs, named by a family and a `type`.

A manifest block such as `{type: header, header: Authorization, prefix: "Bearer "}` is
read by the component registered under (family "auth", type "header"). A component is
a class with:

- `family` and `type`: where it is registered;
- `schema`: the JSON Schema fragment of its manifest block (the `type` key is added here);
- `example`: a block that uses it, shown in the generated reference;
- a constructor `(spec, where)` that compiles the block once, at load (`where` tells a
  template where it stands, for file:line errors).

What each family's objects must do is written on the family's base class in its own
module. The manifest schema is composed from the registered fragments, so a component
registered from outside the package (`engine.register(cls)`, or an entry point in the
group `openai_connector.components`) is accepted at load and checked like a built-in one.
"""
from __future__ import annotations

import abc
import copy
import hashlib
import importlib
import json
import threading
from typing import Any, ClassVar, Iterable

__all__ = ["FAMILIES", "Component", "register", "lookup", "registry", "family_schema", "fingerprint", "Where",
           "ENTRY_POINT_GROUP"]

ENTRY_POINT_GROUP = "openai_connector.components"

# family -> (what it decides, the built-in module that registers its types)
FAMILIES: dict[str, tuple[str, str]] = {
    "auth": ("how a credential is put on a request", "auth"),
    "paginator": ("how a list is walked page after page, and when the walk ends", "paging"),
    "body": ("how the body params are encoded on the wire", "bodies"),
    "decoder": ("how a 2xx answer becomes the caller's value", "decoders"),
    "stream": ("how a streamed answer is cut into events, and how it ends", "streams"),
    "errors": ("how an error answer's message, type, code and param are read", "error_map"),
    "wait": ("how a wait-time header is read (seconds, milliseconds, dates, durations)", "waits"),
    "step": ("one step of a composite action", "steps"),
    "webhook": ("how an incoming webhook's signature is checked, and which events it may carry", "webhooks"),
}

_registry: dict[str, dict[str, type]] = {family: {} for family in FAMILIES}
_lock = threading.RLock()
_builtins = False
_entry_points = False
_schemas: dict[str, dict[str, Any]] = {}


class Component(abc.ABC):
    """What every component shares: where it is registered, its fragment, an example, and its block."""

    family: ClassVar[str]
    type: ClassVar[str]
    schema: ClassVar[dict[str, Any]]
    example: ClassVar[dict[str, Any]]

    def __init__(self, spec: Any, where: Any = None) -> None:
        self.spec = spec


class Where:
    """Where a block stands in the author's file: templates compiled in it report this place."""

    __slots__ = ("file", "line", "path")

    def __init__(self, file: str | None = None, line: int | None = None, path: str = "") -> None:
        self.file, self.line, self.path = file, line, path

    def __repr__(self) -> str:
        return f"{self.file or '<manifest>'}:{self.line or '?'} ({self.path})"


def _check(component: type) -> tuple[str, str]:
    family = getattr(component, "family", None)
    kind = getattr(component, "type", None)
    if family not in FAMILIES:
        raise TypeError(f"{component.__name__}.family must be one of {', '.join(FAMILIES)}, not {family!r}")
    if not isinstance(kind, str) or not kind or not kind.replace("_", "").isalnum():
        raise TypeError(f"{component.__name__}.type must be a word such as 'header', not {kind!r}")
    schema = getattr(component, "schema", None)
    if not isinstance(schema, dict):
        raise TypeError(f"{component.__name__}.schema must be a JSON Schema object")
    return family, kind


def register(component: type, *, replace: bool = False) -> type:
    """Add a component to its family (usable as a class decorator).

    A type already registered is refused unless `replace=True`: two modules
    claiming one name would make a manifest mean different things on
    different machines.
    """
    family, kind = _check(component)
    if not getattr(component, "_builtin", False):
        import jsonschema

        jsonschema.Draft202012Validator.check_schema(_fragment(component))
        _load_builtins()
    with _lock:
        if kind in _registry[family] and _registry[family][kind] is not component and not replace:
            raise ValueError(f"a {family} component of type {kind!r} is already registered "
                             f"({_registry[family][kind].__module__}); pass replace=True to override it")
        _registry[family][kind] = component
        _schemas.clear()
        _fingerprint.clear()
    return component


def builtin(component: type) -> type:
    """Register one of the package's own components (checked by the test suite, not at import)."""
    component._builtin = True  # type: ignore[attr-defined]
    family, kind = component.family, component.type  # type: ignore[attr-defined]
    _registry[family][kind] = component
    return component


def _load_builtins() -> None:
    global _builtins
    if _builtins:
        return
    with _lock:
        if not _builtins:
            for _, module in FAMILIES.values():
                importlib.import_module(f"{__name__}.{module}")
            _builtins = True


def _load_entry_points() -> None:
    """Components other packages declare; read only when a manifest names a type not yet known."""
    global _entry_points
    if _entry_points:
        return
    with _lock:
        if _entry_points:
            return
        _entry_points = True
        from importlib.metadata import entry_points

        for ep in entry_points(group=ENTRY_POINT_GROUP):
            loaded = ep.load()
            for component in loaded if isinstance(loaded, (list, tuple)) else [loaded]:
                if component not in _registry.get(getattr(component, "family", ""), {}).values():
                    register(component)


def registry(family: str) -> dict[str, type]:
    """The registered components of one family, by type."""
    _load_builtins()
    return _registry[family]


def lookup(family: str, kind: str) -> type | None:
    """The component class for a type, looking at installed entry points once if needed."""
    found = registry(family).get(kind)
    if found is None and not _entry_points:
        _load_entry_points()
        found = _registry[family].get(kind)
    return found


def _fragment(component: type) -> dict[str, Any]:
    """The component's schema with its `type` made part of it (closed: unknown keys are mistakes)."""
    schema = copy.deepcopy(component.schema)  # type: ignore[attr-defined]
    props = schema.setdefault("properties", {})
    props["type"] = {"const": component.type, "description": f"`{component.type}`"}  # type: ignore[attr-defined]
    schema.setdefault("type", "object")
    schema.setdefault("additionalProperties", False)
    schema["required"] = ["type", *[r for r in schema.get("required", []) if r != "type"]]
    schema.setdefault("title", component.__name__)
    if component.__doc__:
        schema.setdefault("description", component.__doc__.strip().split("\n\n")[0].replace("\n", " "))
    return schema


def family_schema(family: str) -> dict[str, Any]:
    """One family's blocks as one JSON Schema: the `type` picks the fragment that applies.

    Written with if/then rather than oneOf, so a mistake inside a block is
    reported against that block's own fragment, not as "matches none of 6".
    """
    cached = _schemas.get(family)
    if cached is not None:
        return cached
    kinds = registry(family)
    schema: dict[str, Any] = {
        "type": "object",
        "required": ["type"],
        "properties": {"type": {"enum": sorted(kinds)}},
        "allOf": [{"if": {"properties": {"type": {"const": kind}}, "required": ["type"]},
                   "then": _fragment(component)} for kind, component in sorted(kinds.items())],
    }
    _schemas[family] = schema
    return schema


_fingerprint: list[str] = []  # [hash, registrations it was computed at]


def fingerprint() -> str:
    """A hash of every registered type and its schema: part of the manifest cache key.

    Built-in types are hashed by their module's source (read once per process: a
    warm start must stay fast); types registered from outside, by their schema.
    """
    _load_builtins()
    count = sum(len(kinds) for kinds in _registry.values())
    if _fingerprint and _fingerprint[1] == str(count):
        return _fingerprint[0]
    h = hashlib.sha256()
    sources: set[str] = set()
    for family in FAMILIES:
        for kind, component in sorted(_registry[family].items()):
            h.update(f"{family}/{kind}/{component.__module__}.{component.__qualname__}".encode())
            if getattr(component, "_builtin", False):
                sources.add(importlib.import_module(component.__module__).__file__ or "")
            else:
                h.update(json.dumps(component.schema, sort_keys=True).encode())  # type: ignore[attr-defined]
    for path in sorted(sources):
        with open(path, "rb") as fh:
            h.update(fh.read())
    _fingerprint[:] = [h.hexdigest(), str(count)]
    return _fingerprint[0]


def build(family: str, spec: Any, where: Where | None = None) -> Any:
    """The compiled component for a validated block."""
    component = lookup(family, spec["type"])
    if component is None:  # validation refuses unknown types first; this guards direct use
        raise KeyError(f"no {family} component of type {spec['type']!r}")
    return component(spec, where or Where())


def names(family: str) -> Iterable[str]:
    return sorted(registry(family))
