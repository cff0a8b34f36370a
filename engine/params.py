"""Validation of the caller's params against one action, before anything is sent.

Each action's validator is built once (on first use) and reused. Valid params
(the common case) are checked by `jsonschema_rs`, compiled Rust, in well under
a microsecond; only when that says no does the pure-Python `jsonschema` walk
the params to explain every problem at once, naming the parameter and the rule.
"""
from __future__ import annotations

import difflib
import json
import math
import os
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping

try:
    import jsonschema_rs
except ImportError:  # pragma: no cover - the pure-Python validator does everything, slower
    jsonschema_rs = None

from .errors import ManifestError, Problem, ValidationError
from .request import header_value_problem

if TYPE_CHECKING:
    from .manifest import Action

__all__ = ["ParamValidator", "pattern_matcher", "offline_validator"]

_MAX_SHOWN = 80
_SUBSCHEMAS = ("items", "prefixItems", "additionalProperties", "anyOf", "oneOf", "allOf", "not", "if", "then", "else")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _MAX_SHOWN else text[:_MAX_SHOWN - 3] + "..."


def _where(name: str, path: Any) -> str:
    out = name
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _no_fetch(uri: str) -> Any:
    """Schemas are judged offline: a reference the manifest does not hold is an error, never a download."""
    raise LookupError(f"{uri} is not in the manifest, and nothing is fetched")


@lru_cache(maxsize=512)
def pattern_matcher(pattern: str) -> Callable[[str], bool]:
    """Whether a string matches `pattern` (JSON Schema search semantics), in linear time.

    The compiled validator's regex engine does not backtrack without bound, as Python's `re` does
    on `^(a+)+$`; both validation and the wording of errors use this one. Raises ValueError for
    a pattern it cannot compile.
    """
    if jsonschema_rs is None:  # pragma: no cover - without it the Python validator judges alone
        import re

        return re.compile(pattern).search  # type: ignore[return-value]
    try:
        return jsonschema_rs.validator_for({"pattern": pattern}, retriever=_no_fetch).is_valid
    except (ValueError, jsonschema_rs.ReferencingError) as exc:
        raise ValueError(str(exc)) from None


def _explainer_class(base: Any, root: Any) -> Any:
    """`base` with every keyword that runs a regex judged by `pattern_matcher`, and no retrieval.

    The explainer runs only on params the fast validator refused, which may be exactly the string
    that makes a backtracking regex take for ever; so no regex is ever run by Python's `re`.
    """
    import jsonschema
    from jsonschema import _keywords

    def pattern(validator: Any, patrn: str, instance: Any, schema: Any) -> Iterator[Any]:
        if validator.is_type(instance, "string") and not pattern_matcher(patrn)(instance):
            yield jsonschema.ValidationError(f"{_short(instance)} does not match {patrn!r}")

    def matched(schema: Any, key: str) -> bool:
        return any(pattern_matcher(p)(key) for p in schema.get("patternProperties", {}))

    def pattern_properties(validator: Any, value: Any, instance: Any, schema: Any) -> Iterator[Any]:
        if not validator.is_type(instance, "object"):
            return
        for patrn, subschema in value.items():
            for k, v in instance.items():
                if pattern_matcher(patrn)(k):
                    yield from validator.descend(v, subschema, path=k, schema_path=patrn)

    def additional_properties(validator: Any, value: Any, instance: Any, schema: Any) -> Iterator[Any]:
        if "patternProperties" not in schema or not validator.is_type(instance, "object"):
            yield from _keywords.additionalProperties(validator, value, instance, schema)
            return
        props = schema.get("properties", {})
        extras = [k for k in instance if k not in props and not matched(schema, k)]
        if validator.is_type(value, "object"):
            for extra in extras:
                yield from validator.descend(instance[extra], value, path=extra)
        elif not value and extras:
            names = ", ".join(repr(k) for k in sorted(extras, key=str))
            yield jsonschema.ValidationError(f"{names} {'does' if len(extras) == 1 else 'do'} not match any of "
                                             f"the allowed key patterns")

    # What `#/...` references inside a node lead to: the self-contained `$defs`, or the manifest's `schemas`.
    targets = {k: root[k] for k in ("$defs", "schemas") if k in root} if isinstance(root, dict) else {}

    def unevaluated_properties(validator: Any, value: Any, instance: Any, schema: Any) -> Iterator[Any]:
        # Which keys count as evaluated depends on patternProperties anywhere below: the compiled
        # validator judges this one keyword, on this value, and its own message is used.
        if jsonschema_rs is None:  # pragma: no cover
            yield from _keywords.unevaluatedProperties(validator, value, instance, schema)
            return
        try:
            node = jsonschema_rs.validator_for({**schema, **targets}, retriever=_no_fetch,
                                               validate_formats=False)
            errors = list(node.iter_errors(instance))
        except (ValueError, TypeError, jsonschema_rs.ReferencingError):
            return  # the schema or value is one the compiled validator cannot judge: no word from it
        for e in errors:
            if type(e.kind).__name__ == "UnevaluatedProperties" and not list(e.instance_path):
                yield jsonschema.ValidationError(e.message)

    keywords: dict[str, Any] = {"pattern": pattern, "patternProperties": pattern_properties,
                                "additionalProperties": additional_properties}
    if "patternProperties" in json.dumps(root, default=str):
        keywords["unevaluatedProperties"] = unevaluated_properties
    return jsonschema.validators.extend(base, keywords)


def _offline_registry() -> Any:
    from referencing import Registry

    return Registry(retrieve=_no_fetch)  # type: ignore[call-arg]


def offline_validator(schema: Any) -> Any:
    """A pure-Python Draft 2020-12 validator for `schema` that fetches nothing and runs no regex in `re`."""
    import jsonschema

    return _explainer_class(jsonschema.Draft202012Validator, schema)(schema, format_checker=None,
                                                                      registry=_offline_registry())


class ParamValidator:
    """Checks a flat params mapping against an action's descriptor."""

    def __init__(self, action: "Action") -> None:
        self.action = action.name
        self.names = [p.name for p in action.params]
        self.required = [p.name for p in action.params if p.required]
        self.files = {p.name: p for p in action.params if p.file is not None}
        self.path_params = [p.name for p in action.params if p.location == "path"]
        self.headers = [p.name for p in action.params if p.location == "header"]
        props = {p.name: p.schema for p in action.params if p.file is None}
        self._schema = action.manifest.self_contained({"type": "object", "properties": props})
        self._props = props
        # Only these can hold a number, so only these are looked at for a 2.0 or a NaN (see validate).
        self._number_slots = [n for n in props if _mentions_number(self._schema["properties"][n], self._schema)]
        self._fast = None
        if jsonschema_rs is not None:
            try:
                self._fast = jsonschema_rs.validator_for(self._schema, validate_formats=False, retriever=_no_fetch)
            except (ValueError, jsonschema_rs.ValidationError, jsonschema_rs.ReferencingError):
                pass  # a schema the fast validator cannot compile: the Python one judges alone

    @cached_property
    def _explainer(self) -> Any:
        return offline_validator(self._schema)

    @cached_property
    def _strict_numbers(self) -> Any:
        """The explainer, with numbers as JSON has them.

        JSON Schema calls 2.0 an integer, and NaN passes every bound (no comparison
        with it is true); the API refuses 2.0 where it takes an integer, and JSON has
        no NaN or Infinity to send.
        """
        import jsonschema

        def integer(checker: Any, value: Any) -> bool:
            return isinstance(value, int) and not isinstance(value, bool)

        def number(checker: Any, value: Any) -> bool:
            return integer(checker, value) or (isinstance(value, float) and math.isfinite(value))

        base = _explainer_class(jsonschema.Draft202012Validator, self._schema)
        types = base.TYPE_CHECKER.redefine_many({"integer": integer, "number": number})
        return jsonschema.validators.extend(base, type_checker=types)(self._schema, format_checker=None,
                                                                     registry=_offline_registry())

    def _ok(self, checked: Mapping[str, Any]) -> bool:
        if self._fast is None:
            return False
        try:
            return bool(self._fast.is_valid(checked))
        except (ValueError, TypeError):  # a value JSON has no type for: let the explainer say so
            return False

    def validate(self, params: Mapping[str, Any]) -> None:
        """Raise `ValidationError` listing every problem; return None when all is well."""
        if not isinstance(params, Mapping):
            raise ValidationError(self.action, [Problem(None, "type", f"params must be a mapping, not {type(params).__name__}")])
        problems: list[Problem] = []
        known = self.names
        for key in params:
            if key not in self._props and key not in self.files:
                close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                problems.append(Problem(str(key), "unknown", f"unknown parameter{hint}"
                                        + ("" if hint else f" (accepted: {', '.join(known) or 'none'})")))
        for name in self.required:
            if name not in params:
                problems.append(Problem(name, "required", "is required"))
        for name in self.path_params:
            value = params.get(name)
            if name in params and isinstance(value, str) and value == "":
                problems.append(Problem(name, "minLength", "must not be empty (it is part of the URL path)"))
        for name in self.headers:
            value = params.get(name)
            msg = header_value_problem(value) if isinstance(value, str) else None
            if msg:
                problems.append(Problem(name, "header", msg))
        for name, param in self.files.items():
            if name in params:
                msg = _file_problem(params[name])
                if msg:
                    problems.append(Problem(name, "file", msg))
        checked = {k: v for k, v in params.items() if k in self._props}
        # JSON Schema takes 2.0 for an integer and NaN for any number, yet `"n": 2.0` goes out with
        # its decimal point (the API answers "expected an integer, but got a decimal number") and a
        # NaN cannot go out at all. Such floats are rare: only then does the strict judge look.
        odd = any(_odd_float(checked[n]) for n in self._number_slots if n in checked)
        if checked and (odd or not self._ok(checked)):
            from referencing.exceptions import Unresolvable

            try:
                for err in (self._strict_numbers if odd else self._explainer).iter_errors(checked):
                    problems.extend(_problems(err, self._schema))
            except Unresolvable as exc:  # only a Manifest built without load() can hold one
                raise ManifestError(f"a schema reference cannot be resolved offline: {exc}",
                                    action=self.action) from None
        if problems:
            problems.sort(key=lambda p: (p.param or "", p.rule))
            raise ValidationError(self.action, problems)


def _problems(err: Any, root: Any) -> list[Problem]:
    path = list(err.absolute_path)
    if not path:
        return [Problem(None, err.validator, err.message)]
    name, rest = str(path[0]), path[1:]
    where = _where(name, rest)
    if err.validator in ("anyOf", "oneOf") and err.context:
        tag = _discriminator(err, root)
        if tag is not None:
            return [tag if tag.param else Problem(where, err.validator, tag.message)]
        # Name the closest branch's complaint instead of "not valid under any".
        best, narrowed = _closest(err)
        if best is not None and (narrowed or list(best.absolute_path) != path):
            return _problems(best, root)
        kinds = _kinds(err)
        if kinds:
            got = f"got {type(err.instance).__name__} {_short(err.instance)}"
            if isinstance(err.instance, float) and err.instance.is_integer() and "integer" in kinds:
                got = f"got {err.instance!r}: a whole number goes without a decimal point (send {int(err.instance)})"
            return [Problem(where, "type", f"must be of type {' or '.join(kinds)}, {got}")]
        message = f"{_short(err.instance)} matches none of the accepted forms"
        if best is not None:
            message += f" (closest: {_message(best)})"
        return [Problem(where, err.validator, message)]
    message = _message(err)
    if "propertyNames" in err.schema_path:
        message = f"key {_short(err.instance)} {message.split(', got')[0]}"
    return [Problem(where, err.validator, message)]


def _mentions_number(schema: Any, root: Any, seen: set[str] | None = None) -> bool:
    """Whether a number may sit anywhere in what `schema` accepts (following `$ref`s once each)."""
    seen = set() if seen is None else seen
    if isinstance(schema, list):
        return any(_mentions_number(s, root, seen) for s in schema)
    if not isinstance(schema, dict):
        return False
    ref = schema.get("$ref")
    if isinstance(ref, str):
        if ref in seen:
            return False
        seen.add(ref)
        if _mentions_number(_deref(schema, root), root, seen):
            return True
    kinds = schema.get("type")
    kinds = kinds if isinstance(kinds, list) else [kinds]
    if "integer" in kinds or "number" in kinds or "type" not in schema and "$ref" not in schema \
            and not set(schema) & {"properties", "items", "enum", "const", *_SUBSCHEMAS}:
        return True  # a number, or anything at all
    for key in ("properties", "patternProperties"):
        if any(_mentions_number(v, root, seen) for v in schema.get(key, {}).values()):
            return True
    return any(_mentions_number(schema[k], root, seen) for k in _SUBSCHEMAS if k in schema)


def _odd_float(value: Any) -> bool:
    """A float JSON Schema accepts where JSON or the API would not: 2.0, NaN, Infinity."""
    kind = type(value)
    if kind is float:
        return value.is_integer() or not math.isfinite(value)
    if kind is dict:
        return any(_odd_float(v) for v in value.values())
    if kind is list:
        return any(_odd_float(v) for v in value)
    return False


def _closest(err: Any) -> tuple[Any, bool]:
    """The complaint of the branch the value fits best, and whether the value's shape ruled others out.

    A branch is out as high up the value as its first type mismatch: for 51 against
    `"auto"` or an integer up to 50 the answer is the integer branch's "<= 50", not
    "must be of type string"; for a list of parts, the parts branch, not a list of strings.
    """
    import jsonschema

    branches: dict[Any, list[Any]] = {}
    for e in err.context:
        branches.setdefault(e.relative_schema_path[0] if e.relative_schema_path else None, []).append(e)

    def fit(errors: list[Any]) -> float:
        return min((len(e.relative_path) for e in errors if e.validator == "type"), default=math.inf)

    best_fit = max(fit(errors) for errors in branches.values())
    kept = [e for errors in branches.values() if fit(errors) == best_fit for e in errors]
    return jsonschema.exceptions.best_match(kept), len(kept) < len(err.context)


def _kinds(err: Any) -> list[str]:
    """The JSON types a union takes, when the value has none of them (else empty)."""
    kinds: dict[str, None] = {}
    for index in sorted({e.relative_schema_path[0] for e in err.context if e.relative_schema_path}):
        mismatch = [e for e in err.context if e.relative_schema_path and e.relative_schema_path[0] == index
                    and e.validator == "type" and not e.relative_path]
        if not mismatch:
            return []
        wanted = mismatch[0].validator_value
        kinds.update(dict.fromkeys(wanted if isinstance(wanted, list) else [wanted]))
    return list(kinds)


def _discriminator(err: Any, root: Any) -> Problem | None:
    """For a union told apart by one constant field (`type`), judge the branch the value names.

    Reports "type must be one of ..." when the value names no branch, and the
    named branch's own problems when it names one, instead of a guess.
    """
    branches = err.validator_value
    inst = err.instance
    if not isinstance(inst, dict) or not isinstance(branches, list):
        return None
    # A branch of another JSON type (`"auto"` beside objects) is not one an object can name.
    resolved = [(i, b) for i, b in enumerate(_deref(b, root) for b in branches) if _may_be_object(b)]
    keys = None
    for _, b in resolved:
        props = b.get("properties", {}) if isinstance(b, dict) else {}
        consts = {k for k, v in props.items() if isinstance(v, dict)
                  and ("const" in v or (isinstance(v.get("enum"), list) and len(v["enum"]) == 1))}
        keys = consts if keys is None else keys & consts
    if not keys:
        return None
    key = sorted(keys)[0]
    values = []
    for _, b in resolved:
        v = b["properties"][key]
        values.append(v["const"] if "const" in v else v["enum"][0])
    path = list(err.absolute_path)
    where = _where(str(path[0]), path[1:]) + f".{key}"
    if inst.get(key) not in values:
        return Problem(where, "enum", f"must be one of {', '.join(repr(v) for v in values)}, got {_short(inst.get(key))}")
    index = resolved[values.index(inst.get(key))][0]
    mine = [e for e in err.context if e.relative_schema_path and e.relative_schema_path[0] == index]
    if mine:
        found = _problems(mine[0], root)
        return found[0] if found else None
    return None


def _may_be_object(schema: Any) -> bool:
    kind = schema.get("type") if isinstance(schema, dict) else None
    return isinstance(schema, dict) and (kind is None or "object" in (kind if isinstance(kind, list) else [kind]))


def _deref(schema: Any, root: Any) -> Any:
    """The schema a chain of `$ref`s ends at; a chain that comes back on itself ends where it loops."""
    seen: set[str] = set()
    while isinstance(schema, dict) and "$ref" in schema and isinstance(root, dict):
        ref = schema["$ref"]
        if not isinstance(ref, str) or not ref.startswith("#/") or ref in seen:
            break
        seen.add(ref)
        node = root
        for part in ref[2:].split("/"):
            node = node.get(part, {}) if isinstance(node, dict) else {}
        schema = node
    return schema


def _count(n: Any, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _message(err: Any) -> str:
    v, inst = err.validator, err.instance
    sv = err.validator_value
    if v == "type":
        types = sv if isinstance(sv, list) else [sv]
        if isinstance(inst, float) and not math.isfinite(inst):
            return f"must be a finite number, got {inst!r} (JSON has no NaN or Infinity)"
        if isinstance(inst, float) and inst.is_integer() and "integer" in types:
            return f"must be a whole number written without a decimal point, got {inst!r} (send {int(inst)})"
        return f"must be of type {' or '.join(types)}, got {type(inst).__name__} {_short(inst)}"
    if v == "enum":
        return f"must be one of {', '.join(repr(x) for x in sv)}, got {_short(inst)}"
    if v == "const":
        return f"must be {sv!r}, got {_short(inst)}"
    if v in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        word = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}[v]
        return f"must be {word} {sv}, got {_short(inst)}"
    if v in ("maxLength", "minLength"):
        return f"must have {'at most' if v == 'maxLength' else 'at least'} {_count(sv, 'character')}, got {len(inst)}"
    if v in ("maxItems", "minItems"):
        return f"must have {'at most' if v == 'maxItems' else 'at least'} {_count(sv, 'item')}, got {len(inst)}"
    if v in ("maxProperties", "minProperties"):
        return f"must have {'at most' if v == 'maxProperties' else 'at least'} {_count(sv, 'key')}, got {len(inst)}"
    if v == "required":
        return err.message.replace(" is a required property", " is required")
    if v == "additionalProperties":
        return err.message
    if v == "propertyNames":
        return f"has a key that breaks the key rules: {err.message}"
    return err.message if len(err.message) < 300 else err.message[:297] + "..."


def _file_problem(value: Any) -> str | None:
    """Why `value` cannot be uploaded as a file, or None when it can (a list: each one)."""
    if isinstance(value, list):
        if not value:
            return "an empty list holds no file"
        for i, item in enumerate(value):
            msg = _file_problem(item)
            if msg:
                return f"item {i}: {msg}"
        return None
    if isinstance(value, tuple):
        if not 2 <= len(value) <= 3 or not isinstance(value[0], str):
            return "a file tuple is (filename, content) or (filename, content, content_type)"
        if len(value) == 3 and not isinstance(value[2], str):
            return "the content type in a file tuple must be a string"
        value = value[1]
    if isinstance(value, (bytes, bytearray, memoryview, os.PathLike)):
        return None
    if isinstance(value, str):
        return "a str is ambiguous: pass pathlib.Path(...) for a file on disk or bytes for content"
    read = getattr(value, "read", None)
    if callable(read):
        mode = getattr(value, "mode", "b")
        if isinstance(mode, str) and "b" not in mode:
            return "a text-mode file cannot be uploaded: open it with 'rb'"
        return None
    return f"must be bytes, a binary file object, a pathlib.Path or a (filename, content[, type]) tuple, not {type(value).__name__}"
