"""Error mapping: where an error answer keeps its message, type, code and param.

Declared once as `connector.errors` (an action may declare its own). Each field
is a path into the decoded error body, or a template over `response` (`body`,
`headers`, `status`). What is found becomes the `message`, `type`, `code` and
`param` of the `engine.APIStatusError`, and is what retry rules match codes on.
"""
from __future__ import annotations

import abc

from typing import Any, ClassVar, Mapping

from ..errors import TemplateError
from . import Component, builtin
from .values import VALUE_SCHEMA, Value

__all__ = ["ErrorMap", "JsonErrorMap", "FIELDS"]

FIELDS = ("message", "type", "code", "param")
TEMPLATE_NAMES = ("response",)


class ErrorMap(Component):
    """Base of the errors family: `read(body, headers, status)` gives the four fields (None where absent)."""

    family: ClassVar[str] = "errors"
    failed_status: int = 400

    def failed(self, body: Any, headers: Mapping[str, str], status: int) -> bool:
        """Whether a decoded 2xx answer is an error all the same (never, unless a type says so)."""
        return False

    @abc.abstractmethod
    def read(self, body: Any, headers: Mapping[str, str], status: int) -> dict[str, Any]:
        """Each type says how."""


@builtin
class JsonErrorMap(ErrorMap):
    """Fields read from a JSON error body by path or template; a text body becomes the message."""

    type = "json"
    schema = {
        "properties": {
            "message": {**VALUE_SCHEMA, "description": "The human message (a path or template)."},
            "error_type": {**VALUE_SCHEMA, "description": "The error's type or class, as `.type`."},
            "code": {**VALUE_SCHEMA, "description": "The machine code, as `.code`; retry rules match it."},
            "param": {**VALUE_SCHEMA, "description": "The offending parameter, as `.param`."},
            "failed_when": {"type": "string", "pattern": r"\{\{",
                            "description": "A template over `response`: a 2xx answer for which it is true is an "
                                           "error too (APIs that answer `200 {\"ok\": false}`, GraphQL `errors`)."},
            "failed_status": {"type": "integer", "minimum": 400, "maximum": 599, "default": 400,
                              "description": "The status such an answer is reported with (it picks the error class)."},
        },
        "required": ["message"],
    }
    example = {"type": "json", "message": "errors[0].detail", "code": "errors[0].code"}

    def __init__(self, spec: Mapping[str, Any], where: Any = None) -> None:
        self.spec = spec
        keys = {"message": "message", "type": "error_type", "code": "code", "param": "param"}
        self.fields = {field: Value(spec[key], base=("response", "body"), names=TEMPLATE_NAMES, where=where)
                       for field, key in keys.items() if spec.get(key)}
        self.failed_when = None
        if "failed_when" in spec:
            from ..templates import compile as compile_template

            self.failed_when = compile_template(spec["failed_when"], file=getattr(where, "file", None),
                                                line=getattr(where, "line", None), names=TEMPLATE_NAMES)
        self.failed_status = int(spec.get("failed_status", 400))

    def failed(self, body: Any, headers: Mapping[str, str], status: int) -> bool:
        """Whether a decoded 2xx answer is an error all the same, as `failed_when` declares."""
        if self.failed_when is None:
            return False
        try:
            return bool(self.failed_when.render({"response": {"body": body, "headers": headers, "status": status}}))
        except TemplateError:  # an answer of another shape: not the error it describes
            return False

    def read(self, body: Any, headers: Mapping[str, str], status: int) -> dict[str, Any]:
        context = {"response": {"body": body, "headers": headers, "status": status}}
        out: dict[str, Any] = {}
        for field in FIELDS:
            try:
                value = self.fields[field].get(context) if field in self.fields else None
            except TemplateError:  # an error body of another shape: the field stays unset, the error keeps its status
                value = None
            out[field] = value if isinstance(value, (str, int, float)) and not isinstance(value, bool) else None
        if out["message"] is None and isinstance(body, str) and body:
            out["message"] = body
        return out
