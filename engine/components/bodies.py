"""Request bodies: how the body params go on the wire.

An action's `body` is a block such as `{type: json}`, or just the type's name
(`body: json`). The encoder gets the body fields given (by wire name, in
declaration order) and the file parts, and returns the body and its content
type. `template` (json and form) shapes the whole body from the call's params,
for APIs that nest the caller's fields (`{"user": {...}}`).
"""
from __future__ import annotations

import abc

import json
from typing import Any, ClassVar, Mapping, Sequence
from urllib.parse import quote

from . import Component, builtin

__all__ = ["Body", "JsonBody", "FormBody", "MultipartBody", "RawBody", "ChoiceBody", "NoBody",
           "scalar", "TEMPLATE_NAMES"]

TEMPLATE_NAMES = ("params", "body", "config")
Fields = Sequence[tuple[str, Any]]


def scalar(value: Any) -> str:
    """A value as form text: booleans as the JSON words, objects as JSON."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return str(value)


def _flatten(key: str, value: Any, arrays: str, objects: str) -> list[tuple[str, Any]]:
    """Nested data as form pairs, iteratively: `a[b][c]=`, `a[0][b]=`, `a[]=`, or `a=&a=`."""
    out: list[tuple[str, Any]] = []
    stack: list[tuple[str, Any]] = [(key, value)]
    while stack:
        k, v = stack.pop()
        if isinstance(v, Mapping) and objects == "brackets":
            stack.extend(reversed([(f"{k}[{sub}]", item) for sub, item in v.items()]))
        elif isinstance(v, (list, tuple)) and arrays != "json":
            if arrays == "indexed":
                stack.extend(reversed([(f"{k}[{i}]", item) for i, item in enumerate(v)]))
            else:
                name = f"{k}[]" if arrays == "brackets" else k
                nested = objects == "brackets" and any(isinstance(i, (Mapping, list, tuple)) for i in v)
                if nested and arrays == "brackets":
                    # `a[][b]=` cannot say which element a field belongs to: index those.
                    stack.extend(reversed([(f"{k}[{i}]", item) for i, item in enumerate(v)]))
                else:
                    out.extend((name, item) for item in v)
        else:
            out.append((k, v))
    return out


_ARRAYS = {"enum": ["repeat", "brackets", "indexed", "json"],
           "description": "Lists as `a=1&a=2` (repeat), `a[]=1&a[]=2` (brackets), `a[0]=1&a[1]=2` (indexed) "
                          "or one JSON text (json)."}
_OBJECTS = {"enum": ["brackets", "json"],
            "description": "Objects as `a[b][c]=v` (brackets) or one JSON text (json)."}
_TEMPLATE = {"description": "The whole body's shape: any JSON value whose strings may be templates over "
                            "`params` (the call's params), `body` (the body fields given, by wire name) and "
                            "`config` (the connector's settings). A single-expression template keeps its "
                            "type, so `\"{{ body }}\"` nests every body field as an object."}


class Body(Component):
    """Base of the body family."""

    family: ClassVar[str] = "body"
    carries_files: ClassVar[bool] = False
    sends: ClassVar[bool] = True

    def __init__(self, spec: Mapping[str, Any], where: Any = None) -> None:
        super().__init__(spec, where)
        self.template = None
        if "template" in spec:
            from ..templates import compile_tree

            self.template = compile_tree(spec["template"], file=getattr(where, "file", None),
                                         line=getattr(where, "line", None),
                                         names=TEMPLATE_NAMES)

    def choose(self, params: Mapping[str, Any], files: bool) -> "Body":
        """The encoder for this call (a choice of content types picks here)."""
        return self

    def shaped(self, fields: Fields, scope: Mapping[str, Any]) -> Any:
        """The fields as the body's value: the template's shape, or one object."""
        if self.template is None:
            return dict(fields)
        return self.template.render({**scope, "body": dict(fields)})

    @abc.abstractmethod
    def encode(self, fields: Fields, files: Sequence[tuple[str, Any]], scope: Mapping[str, Any]) -> tuple[Any, str]:
        """Each type says how."""


@builtin
class NoBody(Body):
    """The action sends no body."""

    type = "none"
    schema: dict[str, Any] = {"properties": {}}
    example = {"type": "none"}
    sends = False

    def encode(self, fields: Fields, files: Sequence[tuple[str, Any]], scope: Mapping[str, Any]) -> tuple[Any, str]:
        return b"", ""  # never sent: the builder leaves the body out when `sends` is false


@builtin
class JsonBody(Body):
    """A JSON object of the body params (or the `template`'s shape), UTF-8, compact."""

    type = "json"
    schema = {"properties": {"template": _TEMPLATE,
                             "content_type": {"type": "string", "default": "application/json"}}}
    example = {"type": "json", "template": {"user": "{{ body }}"}}

    def encode(self, fields: Fields, files: Sequence[tuple[str, Any]], scope: Mapping[str, Any]) -> tuple[Any, str]:
        body = json.dumps(self.shaped(fields, scope), separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        return body, self.spec.get("content_type", "application/json")


@builtin
class FormBody(Body):
    """`application/x-www-form-urlencoded`, nested objects and lists written as the API declares."""

    type = "form"
    schema = {"properties": {"arrays": {**_ARRAYS, "default": "brackets"},
                             "objects": {**_OBJECTS, "default": "brackets"},
                             "template": _TEMPLATE}}
    example = {"type": "form", "arrays": "indexed", "objects": "brackets"}

    def encode(self, fields: Fields, files: Sequence[tuple[str, Any]], scope: Mapping[str, Any]) -> tuple[Any, str]:
        arrays, objects = self.spec.get("arrays", "brackets"), self.spec.get("objects", "brackets")
        shaped = self.shaped(fields, scope)
        if not isinstance(shaped, Mapping):
            raise TypeError("a form body's template must give an object")
        pairs = []
        for name, value in shaped.items():
            for k, v in _flatten(name, value, arrays, objects):
                pairs.append(f"{quote(k, safe='[]')}={quote(scalar(v), safe='')}")
        return "&".join(pairs).encode("ascii"), "application/x-www-form-urlencoded"


@builtin
class MultipartBody(Body):
    """`multipart/form-data`, streamed from disk and re-readable for retries; the only body that carries files.

    A null field is left out (a form has no null, and an empty field would read as "").
    """

    type = "multipart"
    schema = {"properties": {"arrays": {**_ARRAYS, "default": "repeat"},
                             "objects": {**_OBJECTS, "default": "json"}}}
    example = {"type": "multipart"}
    carries_files = True

    def encode(self, fields: Fields, files: Sequence[tuple[str, Any]], scope: Mapping[str, Any]) -> tuple[Any, str]:
        from ..multipart import MultipartBody as Stream

        arrays, objects = self.spec.get("arrays", "repeat"), self.spec.get("objects", "json")
        text: list[tuple[str, str]] = []
        for name, value in fields:
            if value is None:
                continue
            for k, v in _flatten(name, value, arrays, objects):
                text.append((k, scalar(v)))
        body = Stream(text, list(files))
        return body, body.content_type


@builtin
class RawBody(Body):
    """One param is the whole body, sent with a declared content type.

    The param is text or bytes, or a file param (bytes, a binary file object, a
    path), which is streamed from its source and re-read for a retry.
    """

    type = "raw"
    schema = {"properties": {"param": {"type": "string", "description": "The body param whose value is the body."},
                             "content_type": {"type": "string", "description": "The Content-Type sent; may be "
                                              "a template over `params` and `config`."}},
              "required": ["param", "content_type"]}
    example = {"type": "raw", "param": "sdp", "content_type": "application/sdp"}

    def __init__(self, spec: Mapping[str, Any], where: Any = None) -> None:
        super().__init__(spec, where)
        from ..templates import compile as compile_template

        self.content_type = compile_template(spec["content_type"], file=getattr(where, "file", None),
                                             line=getattr(where, "line", None),
                                             names=TEMPLATE_NAMES)

    carries_files = True

    def encode(self, fields: Fields, files: Sequence[tuple[str, Any]], scope: Mapping[str, Any]) -> tuple[Any, str]:
        if files:  # a file param: streamed from its source, re-readable for retries
            return _Stream(files[0][1]), str(self.content_type.render(scope))
        value = scope["params"].get(self.spec["param"])
        if isinstance(value, str):
            value = value.encode("utf-8")
        elif value is None:
            value = b""
        elif not isinstance(value, (bytes, bytearray)):  # a file object or a path: streamed like a file param
            from ..multipart import file_part

            value = _Stream(file_part(value))
        return value, str(self.content_type.render(scope))


@builtin
class ChoiceBody(Body):
    """Several content types for one action: the first option whose `when` holds encodes the call.

    `when: files` holds when a file param is given; a template over `params` holds
    when it renders true; an option without `when` always holds (put it last).
    """

    type = "choice"
    schema = {"properties": {"options": {
        "type": "array", "minItems": 2,
        "items": {"type": "object", "additionalProperties": False, "required": ["body"],
                  "properties": {"when": {"type": "string", "description": "`files`, or a template over `params`."},
                                 "body": {"$ref": "#/$defs/component_body"}}}}},
        "required": ["options"]}
    example = {"type": "choice", "options": [{"when": "files", "body": {"type": "multipart"}},
                                             {"body": {"type": "json"}}]}

    def __init__(self, spec: Mapping[str, Any], where: Any = None) -> None:
        super().__init__(spec, where)
        from . import build

        self.options: list[tuple[Any, Body]] = []
        for option in spec["options"]:
            when = option.get("when")
            if when not in (None, "files"):
                from ..templates import compile as compile_template

                when = compile_template(when, file=getattr(where, "file", None),
                                        line=getattr(where, "line", None), names=("params",))
            self.options.append((when, build("body", _block(option["body"]), where)))
        self.carries_files = any(b.carries_files for _, b in self.options)  # type: ignore[misc]

    def encode(self, fields: Fields, files: Sequence[tuple[str, Any]], scope: Mapping[str, Any]) -> tuple[Any, str]:
        return self.choose(scope.get("params", {}), bool(files)).encode(fields, files, scope)

    def choose(self, params: Mapping[str, Any], files: bool) -> Body:
        for when, body in self.options:
            if when is None or (when == "files" and files) or \
                    (when not in (None, "files") and when.render({"params": params})):
                return body.choose(params, files)
        return self.options[-1][1]


class _Stream:
    """One file part as a whole body: its length known up front, its bytes read while it is sent."""

    __slots__ = ("part",)

    def __init__(self, part: Any) -> None:
        self.part = part

    def __len__(self) -> int:
        return int(self.part.size)

    def __iter__(self) -> Any:
        return iter(self.part.chunks())

    def __repr__(self) -> str:
        return f"<raw body {self.part!r}>"


def _block(spec: Any) -> Mapping[str, Any]:
    """`body: json` is short for `body: {type: json}`."""
    return {"type": spec} if isinstance(spec, str) else spec
