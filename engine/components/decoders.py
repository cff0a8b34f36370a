"""Decoders: how a 2xx answer becomes the caller's value.

An action's `response` block names one by `type`: `json` (a dict or list),
`text` (a str in the answer's charset), `binary` (bytes, or streamed to a file
with `output=`), or `none` (no body). `text_when` turns a JSON action's answer
into text when the caller asked for a text format.
"""
from __future__ import annotations

from typing import Any, ClassVar, Mapping

from . import Component, builtin

__all__ = ["Decoder", "JsonDecoder", "TextDecoder", "BinaryDecoder", "NoneDecoder"]

_COMMON = {
    "schema": {"description": "The answer's JSON Schema (what `output_schema()` gives a mapping UI)."},
    "text_when": {"type": "object", "additionalProperties": {"type": "array"},
                  "description": "Param name -> values: when the caller sends one of them, the answer is "
                                 "text whatever this decoder says (a transcript asked for as `srt`)."},
}


class Decoder(Component):
    """Base of the decoder family: `kind` is what `engine.response.decode` produces."""

    family: ClassVar[str] = "decoder"
    schema: ClassVar[dict[str, Any]] = {"properties": _COMMON}
    binary: ClassVar[bool] = False

    def __init__(self, spec: Mapping[str, Any], where: Any = None) -> None:
        super().__init__(spec, where)
        self.text_when: dict[str, list[Any]] = dict(spec.get("text_when", {}))


@builtin
class JsonDecoder(Decoder):
    """JSON, decoded once on arrival; fields the schema does not list are kept. Anything else is an error."""

    type = "json"
    example = {"type": "json", "schema": {"$ref": "#/schemas/User"}}


@builtin
class TextDecoder(Decoder):
    """Text in the answer's declared charset (UTF-8 when none)."""

    type = "text"
    example = {"type": "text"}


@builtin
class BinaryDecoder(Decoder):
    """Bytes as they came; `run(..., output=PATH)` streams them to a file instead of memory."""

    type = "binary"
    example = {"type": "binary"}
    binary = True


@builtin
class NoneDecoder(Decoder):
    """No body is expected; the caller gets None."""

    type = "none"
    example = {"type": "none"}
