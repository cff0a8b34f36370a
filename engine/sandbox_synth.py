"""Schema work for the offline sandbox: resolving, validating, and synthesizing values a schema accepts.

Kept apart from the adapter because it knows schemas only, never routes or
state: given the component schemas and the sandbox's declared values, it
makes the smallest object a schema accepts, echoing what the request gave.
"""
from __future__ import annotations

import copy
import json
import random
import time
from typing import Any, Mapping

__all__ = ["Synth"]

# What fixes a number, so it is not free to be synthesized.
_PINNED = {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "enum", "const", "default", "examples"}


class Synth:
    """Schemas in the manifest's `#/schemas/X` form, and the `connector.sandbox` data that steers synthesis."""

    def __init__(self, schemas: Mapping[str, Any], cfg: Mapping[str, Any]) -> None:
        self.schemas, self.cfg = schemas, cfg
        self._validators: dict[int, tuple[Any, Any]] = {}

    def resolve(self, schema: Any) -> dict[str, Any]:
        while isinstance(schema, Mapping) and isinstance(schema.get("$ref"), str):
            schema = self.schemas[schema["$ref"].rsplit("/", 1)[-1]]
        return schema if isinstance(schema, dict) else {}

    def props(self, schema: Any) -> tuple[dict[str, Any], list[str] | None]:
        s = self.resolve(schema)
        props, required = dict(s.get("properties", {})), s.get("required")
        for part in s.get("allOf", ()):
            more, req = self.props(part)
            props.update(more)
            required = None if required is None and req is None else (required or []) + (req or [])
        return props, required

    def prop(self, schema: Any, name: str) -> dict[str, Any]:
        return self.resolve(self.props(schema)[0].get(name))

    def type_of(self, schema: Any) -> str | None:
        """The `object` field's fixed value; for an object with an id but no such field, its component name."""
        if not schema:
            return None
        obj = self.prop(schema, "object")
        for key in ("const", "enum", "examples"):
            value = obj.get(key)
            value = value[0] if isinstance(value, list) and value else value
            if isinstance(value, str):
                return value
        ref = schema.get("$ref") if isinstance(schema, Mapping) else None
        return ref.rsplit("/", 1)[-1] if ref and not obj and "id" in self.props(schema)[0] else None

    def errors(self, schema: Any, value: Any) -> list[Any]:
        cached = self._validators.get(id(schema))
        if cached is None:
            from .params import offline_validator

            # `#/schemas/X` resolves inside the same document: the component schemas ride along.
            root = {**schema, "schemas": self.schemas} if isinstance(schema, Mapping) else schema
            # The schema is kept with its validator, so its id is never reused by another object.
            # Offline, and with patterns matched in linear time: a body may be built to backtrack.
            cached = self._validators[id(schema)] = (schema, offline_validator(root))
        return list(cached[1].iter_errors(value))

    def valid(self, schema: Any, value: Any) -> bool:
        return not self.errors(schema, value)

    def value(self, schema: Any, name: str | None, body: Mapping[str, Any], depth: int = 0,
               want: bool = False, given: Mapping[str, Any] | None = None, place: int = 0) -> Any:
        """A value the schema accepts: given or declared values where they fit, else const/enum/default/examples.

        Optional-by-null fields stay null unless `want`; objects get their
        required fields; arrays get their minimum, or what `sizes` declares.
        `place` is the position of the enclosing array item, so siblings differ.
        """
        s = self.resolve(schema)
        given = given or {}
        for values in (given, self.cfg.get("values", {})):
            if name in values and self.valid(schema, values[name]):
                return copy.deepcopy(values[name])
        if "const" in s:
            return s["const"]
        alts = s.get("anyOf") or s.get("oneOf")
        if alts:
            real = [a for a in alts if self.resolve(a).get("type") != "null"]
            if (len(real) < len(alts) and not want) or not real:
                return None
            prefer = self.cfg.get("prefer", ())
            real.sort(key=lambda a: str(a.get("$ref", "")).rsplit("/", 1)[-1] not in prefer)
            made = None
            for alt in real:  # the first alternative whose smallest value it accepts (an example may not fit)
                value = self.value(alt, name, body, depth, want, given, place)
                if self.valid(alt, value):
                    return value
                made = value if made is None else made
            return made
        if s.get("allOf"):
            parts = [self.value(p, name, body, depth, want, given, place) for p in s["allOf"]]
            if not any(isinstance(part, dict) for part in parts):  # a wrapped scalar (`allOf: [X]`)
                return next((part for part in parts if part is not None), None)
            return {k: v for part in parts if isinstance(part, dict) for k, v in part.items()}
        if "enum" in s:
            return next((v for v in s["enum"] if v is not None), None)
        types = s.get("type") if isinstance(s.get("type"), list) else [s.get("type")]
        if "null" in types and not want and s.get("default") is None:
            return None
        for key in ("default", "examples"):  # where the schema accepts it (a description's example may not fit)
            if s.get(key) is not None:
                value = copy.deepcopy(s[key][0] if key == "examples" and isinstance(s[key], list) else s[key])
                if self.valid(schema, value):
                    return value
        kind = next((t for t in types if t not in (None, "null")), "object" if "properties" in s else None)
        if kind in ("integer", "number"):
            if name in self.cfg.get("timestamps", ()):
                return int(time.time())
            low = s.get("minimum", s.get("exclusiveMinimum", 0))
            return int(low) + (1 if "exclusiveMinimum" in s else 0) if kind == "integer" else float(low)
        if kind == "string":
            return "x" * int(s.get("minLength", 0))
        if kind == "boolean":
            return False
        if kind == "array":
            count = self._size(name, body, int(s.get("minItems", 0))) if depth < 8 else 0
            item = self.resolve(s.get("items", {}))
            if item.get("type") == "number" and not _PINNED & set(item):
                # A vector of free numbers: the same for the same request, different for each
                # input and never all zeros, so similarity math on sandbox answers works.
                seed = json.dumps([name, place, body], sort_keys=True, default=str)
                rng = random.Random(seed)
                return [rng.uniform(-1.0, 1.0) for _ in range(count)]
            items = [self.value(item, None, body, depth + 1, given=given, place=i) for i in range(count)]
            index = self.cfg.get("item_index")
            if index in self.props(s.get("items", {}))[0]:
                for i, item in enumerate(items):
                    item[index] = i
            return items
        if kind == "object" and depth < 10:
            props, required = self.props(s)
            wanted = required if required is not None else [
                k for k, p in props.items()
                if {"examples", "default", "enum", "const"} & set(self.resolve(p)) or k in self.cfg.get("values", {})]
            return {k: self.value(props[k], k, body, depth + 1, given=given, place=place) for k in wanted if k in props}
        return {} if kind == "object" else None

    def _size(self, name: str | None, body: Mapping[str, Any], minimum: int) -> int:
        """Declared arrays are as long as the request says (a count, or a list's length), else one."""
        sizes = self.cfg.get("sizes", {})
        if name not in sizes:
            return minimum
        for field in sizes[name]:
            value = body.get(field)
            if isinstance(value, int) and not isinstance(value, bool):
                return max(value, minimum)
            if value is not None:
                return max(len(value) if isinstance(value, list) else 1, minimum)
        return max(1, minimum)
