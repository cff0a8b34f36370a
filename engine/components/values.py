"""A manifest value that is either a path into a document or a Jinja template over a context.

`next: meta.next_cursor` reads a path; `next: "{{ response.body.meta.next_cursor or none }}"`
renders a template. Both are compiled once, at load.
"""
from __future__ import annotations

from typing import Any, Collection, Mapping

from .paths import MISSING, PATH_SCHEMA, Path

__all__ = ["Value", "VALUE_SCHEMA", "is_template"]

VALUE_SCHEMA: dict[str, Any] = {
    "type": "string",
    "description": PATH_SCHEMA["description"] + " Or a Jinja template (`{{ ... }}`) over the context "
                                                "this field documents; a single expression keeps its type.",
}


def is_template(text: Any) -> bool:
    return isinstance(text, str) and ("{{" in text or "{%" in text)


class Value:
    """Read a value from a context: a path under `base`, or a template over the whole context."""

    __slots__ = ("text", "_path", "_base", "_template")

    def __init__(self, text: str, *, base: tuple[str, ...], names: Collection[str], where: Any = None) -> None:
        self.text = text
        self._base = base
        self._template = None
        self._path = None
        if is_template(text):
            from ..templates import compile as compile_template

            self._template = compile_template(text, file=getattr(where, "file", None),
                                              line=getattr(where, "line", None), names=names)
        else:
            self._path = Path(text)

    def get(self, context: Mapping[str, Any]) -> Any:
        """The value, or MISSING when a path finds nothing (a template's None stays None)."""
        if self._template is not None:
            return self._template.render(context)
        node: Any = context
        for key in self._base:
            node = node.get(key, MISSING) if isinstance(node, Mapping) else MISSING
        return self._path.get(node) if node is not MISSING else MISSING  # type: ignore[union-attr]

    def __repr__(self) -> str:
        return f"Value({self.text!r})"
