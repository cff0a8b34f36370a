"""Stream framing: how a streamed answer is cut into events, and how it ends.

Declared under `definitions.streams` and named by an action's `stream: {use: NAME,
when: PARAM}` (the body param that turns streaming on). A stream ends normally at
its `done` sentinel, right after one of its `terminal_events`, or, where
`ends_on_close` says so, when the server closes the connection; any other end is
an `APIConnectionError`, never a quietly short answer.
"""
from __future__ import annotations

import abc

from typing import Any, ClassVar, Iterable, Iterator, Mapping

from . import Component, builtin
from .paths import PATH_SCHEMA, Path

__all__ = ["Framing", "SseFraming", "JsonLinesFraming"]

_COMMON = {
    "done": {"type": "string", "description": "A data payload that ends the stream (`[DONE]`); not handed out."},
    "terminal_events": {"type": "array", "items": {"type": "string"},
                        "description": "Event names after which the stream is complete: the connection "
                                       "closing after one of these is a normal end."},
    "error_events": {"type": "array", "items": {"type": "string"},
                     "description": "Event names that carry an in-band error: raised as `engine.APIError`."},
    "error_field": {**PATH_SCHEMA, "description": "A field whose presence in an event's data makes it an "
                                                  "in-band error, whatever its name (`error`)."},
    "event_field": {**PATH_SCHEMA, "description": "Where an event names itself in its data, for streams "
                                                  "that send no `event:` line (`type`)."},
    "data": {"enum": ["json", "text"], "default": "json",
             "description": "What each payload is: JSON (one that is not is an `APIResponseError`) or text."},
    "ends_on_close": {"type": "boolean", "default": False,
                      "description": "The server's closing the connection is a normal end."},
    "resume": {
        "type": "object", "additionalProperties": False, "required": ["action", "params", "sequence"],
        "description": "How a stream that breaks after events were handed out goes on: another streamed call "
                       "(a retrieve that replays from a position), whose events up to the last one handed out "
                       "are skipped, so none is lost or repeated. Without it, such a break raises.",
        "properties": {
            "action": {"type": "string", "description": "The streamed action that goes on."},
            "params": {"description": "Its params: templates over `params` (the call's), `first` and `last` "
                                      "(the first and last events handed out: `event`, `data`)."},
            "when": {"type": "string", "pattern": r"\{\{", "description": "A template over the same names: "
                     "resume only when it is true (a response the server keeps)."},
            "sequence": {**PATH_SCHEMA, "description": "The field of each event's data that orders it."},
            "max_resumes": {"type": "integer", "minimum": 1, "default": 3},
        },
    },
}
_RESUME_NAMES = ("params", "first", "last")


class _Resume:
    """A declared way to go on after a break: compiled once, rendered with the first and last events."""

    def __init__(self, spec: Mapping[str, Any], where: Any) -> None:
        from ..templates import compile as compile_template, compile_tree

        file = getattr(where, "file", None)
        self.action: str = spec["action"]
        self.params = compile_tree(spec["params"], file=file, names=_RESUME_NAMES)
        self.when = compile_template(spec["when"], file=file, names=_RESUME_NAMES) if "when" in spec else None
        self.sequence = Path(spec["sequence"])
        self.max_resumes = int(spec.get("max_resumes", 3))


class Framing(Component):
    """Base of the stream family: cuts byte chunks into (event name, raw text, id, retry) tuples."""

    family: ClassVar[str] = "stream"

    def __init__(self, spec: Mapping[str, Any], where: Any = None) -> None:
        super().__init__(spec, where)
        self.done: str | None = spec.get("done")
        self.terminal_events = frozenset(spec.get("terminal_events", ()))
        self.error_events = frozenset(spec.get("error_events", ()))
        self.error_field = Path(spec["error_field"]) if spec.get("error_field") else None
        self.event_field = Path(spec["event_field"]) if spec.get("event_field") else None
        self.json = spec.get("data", "json") == "json"
        self.ends_on_close = bool(spec.get("ends_on_close", False))
        self.resume = _Resume(spec["resume"], where) if "resume" in spec else None

    @abc.abstractmethod
    def frame(self, chunks: Iterable[bytes], max_bytes: int | None = None) -> Iterator[Any]:
        """Each event as an `engine.streaming.ServerSentEvent`; past `max_bytes` an `APIResponseError`."""


@builtin
class SseFraming(Framing):
    """Server-sent events, parsed as the WHATWG spec says (CR/LF/CRLF, comments, multi-line data, BOM)."""

    type = "sse"
    schema = {"properties": dict(_COMMON)}
    example = {"type": "sse", "done": "[DONE]", "error_events": ["error"]}

    def frame(self, chunks: Iterable[bytes], max_bytes: int | None = None) -> Iterator[Any]:
        from ..streaming import iter_sse

        return iter_sse(chunks, max_event_bytes=max_bytes)


@builtin
class JsonLinesFraming(Framing):
    """JSON Lines (NDJSON): one JSON value a line; blank lines are skipped."""

    type = "jsonl"
    schema = {"properties": dict(_COMMON)}
    example = {"type": "jsonl", "event_field": "type", "ends_on_close": True}

    def frame(self, chunks: Iterable[bytes], max_bytes: int | None = None) -> Iterator[Any]:
        from ..streaming import ServerSentEvent

        pending: list[bytes] = []
        size = 0
        for chunk in chunks:
            start = 0
            while True:
                end = chunk.find(b"\n", start)
                if end < 0:
                    if start < len(chunk):
                        pending.append(chunk[start:])
                        size += len(chunk) - start
                        if max_bytes is not None and size > max_bytes:
                            from ..errors import APIResponseError

                            raise APIResponseError(f"a line of the stream is larger than the {max_bytes}-byte "
                                                   f"limit (max_response_bytes)")
                    break
                pending.append(chunk[start:end])
                line = b"".join(pending).strip()
                pending, size = [], 0
                start = end + 1
                if line:
                    yield ServerSentEvent(None, line.decode("utf-8", "replace"))
        line = b"".join(pending).strip()
        if line:
            yield ServerSentEvent(None, line.decode("utf-8", "replace"))
