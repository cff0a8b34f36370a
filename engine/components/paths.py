"""Paths into decoded answers: `data`, `meta.total`, `links.next.href`, `items[-1].id`, `$` (the root).

Compiled once at load into a tuple of steps, so reading one per page or per
event costs a few dictionary look-ups and no parsing.
"""
from __future__ import annotations

import re
from typing import Any, Mapping, Sequence

__all__ = ["Path", "MISSING", "PATH_SCHEMA"]

MISSING: Any = type("Missing", (), {"__repr__": lambda self: "MISSING", "__bool__": lambda self: False})()

_STEP = re.compile(r"([^.\[\]]+)|\[(-?\d+)\]")
PATH_SCHEMA: dict[str, Any] = {
    "type": "string",
    "pattern": r"^(\$|[^.\[\]]+(\[-?\d+\])*(\.[^.\[\]]+(\[-?\d+\])*)*)$",
    "description": "A path into the decoded JSON: keys joined by dots, `[n]` for a list index "
                   "(`[-1]` is the last item), `$` for the whole document.",
}


class Path:
    """A compiled path; `get` answers MISSING where the document has nothing there."""

    __slots__ = ("text", "steps")

    def __init__(self, text: str) -> None:
        self.text = text
        steps: list[str | int] = []
        if text not in ("$", ""):
            for key, index in _STEP.findall(text):
                steps.append(int(index) if index else key)
        self.steps: tuple[str | int, ...] = tuple(steps)

    def get(self, node: Any) -> Any:
        for step in self.steps:
            if isinstance(step, int):
                if not isinstance(node, Sequence) or isinstance(node, (str, bytes)):
                    return MISSING
                try:
                    node = node[step]
                except IndexError:
                    return MISSING
            else:
                if not isinstance(node, Mapping) or step not in node:
                    return MISSING
                node = node[step]
        return node

    def __repr__(self) -> str:
        return f"Path({self.text!r})"
