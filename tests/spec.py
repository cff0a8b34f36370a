"""The OpenAPI description's response examples, so request tests serve what the reference shows.

The examples are documentation text, not always valid JSON: some carry trailing commas, `...`
lines standing for items left out, unquoted keys or a missing comma between members. `example()`
mends these slips by rule, the same way for every operation, and refuses what it cannot mend.
"""
from __future__ import annotations

import copy
import functools
import json
import re
from pathlib import Path
from typing import Any


ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "openapi" / "openai-2025-01-21.yaml.xz"

_METHODS = ("get", "put", "post", "delete", "patch")
# `{ ... }` or a line opening with `...`: stands for items left out
_PLACEHOLDER = re.compile(r"\{\s*\.{3,}\s*\}[ \t]*,?|^[ \t]*\.{3,}.*$", re.M)
_BARE_KEY = re.compile(r"^([ \t]*)([A-Za-z_][\w.\-]*)([ \t]*):", re.M)  # key: at a line's start, unquoted
_NO_COMMA = re.compile(r'([\]}"\w])([ \t]*\n\s*["{\[])')               # a value, then a new member on the next line
_TRAILING_COMMA = re.compile(r",(\s*[}\]])")


@functools.lru_cache(maxsize=1)
def description() -> dict[str, Any]:
    """The whole description (the vendored copy), parsed once per run."""
    from engine.openapi import load_spec

    return load_spec(str(SPEC))


@functools.lru_cache(maxsize=1)
def _operations() -> dict[str, dict[str, Any]]:
    """Each operation under its operationId and under "METHOD /path"."""
    found: dict[str, dict[str, Any]] = {}
    for path, item in description()["paths"].items():
        for method in _METHODS:
            if method in item:
                op = item[method]
                found[op["operationId"]] = found[f"{method.upper()} {path}"] = op
    return found


def mend(text: str) -> Any:
    """Parse an example as JSON, mending the description's known slips only if it is not valid as is."""
    try:
        return json.loads(text)
    except ValueError:
        pass  # not valid as printed: mend the known slips below
    text = _PLACEHOLDER.sub("", text)
    text = _BARE_KEY.sub(r'\1"\2"\3:', text)
    text = _NO_COMMA.sub(r"\1,\2", text)
    text = _TRAILING_COMMA.sub(r"\1", text)
    return json.loads(text)


@functools.lru_cache(maxsize=None)
def _example(operation: str, title: str | None) -> Any:
    examples = _operations()[operation].get("x-oaiMeta", {}).get("examples")
    if not examples:
        raise LookupError(f"{operation} has no response example")
    if isinstance(examples, dict):
        examples = [examples]
    if title is not None:
        examples = [e for e in examples if e.get("title") == title]
        if not examples:
            raise LookupError(f"{operation} has no example titled {title!r}")
    response = examples[0]["response"]
    return mend(response["content"] if isinstance(response, dict) else response)


def example(operation: str, title: str | None = None) -> Any:
    """The response example of `operation` (an operationId, or "METHOD /path" as the description writes
    the path), parsed: the first one, or the one called `title`. A fresh copy each time."""
    return copy.deepcopy(_example(operation, title))


class Example:
    """An operation's response example, named in a test case and looked up only when the test runs.

    Several titles merge those examples into one answer, as a server does when a call asks for each
    thing they show (a transcription with both word and segment timestamps, say).
    """

    def __init__(self, operation: str, *titles: str) -> None:
        self.operation = operation
        self.titles = titles

    def load(self) -> Any:
        if not self.titles:
            return example(self.operation)
        merged: dict[str, Any] = {}
        for title in self.titles:
            merged.update(example(self.operation, title))
        return merged

    def __repr__(self) -> str:
        return f"Example({', '.join(map(repr, (self.operation, *self.titles)))})"
