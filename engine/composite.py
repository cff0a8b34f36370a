"""Composite actions: several calls run as one, declared as steps in the manifest.

A composite names its inputs (an action's params, `params_from`, and its own
`params`), then runs its `steps` in order (the step types are components:
`engine.components.steps`), each reading the earlier ones' results through
templates. `timeout` is a deadline for the whole run, every request included;
`on_failure` steps clean up after a failure (a cancelled upload, say) and
never hide it.
"""
from __future__ import annotations

import io
import os
import time
from typing import TYPE_CHECKING, Any, Mapping

from .components import Where, build
from .components.steps import Run, seconds
from .errors import APIError, ValidationError

if TYPE_CHECKING:
    from .client import Engine

__all__ = ["Composite", "FileSlice", "run_composite"]


class Composite:
    """A declared composite action; quacks like an Action where the catalogue needs it."""

    composite = True

    def __init__(self, spec: Mapping[str, Any], manifest: Any, where: Where | None = None) -> None:
        from .manifest import Param
        from .templates import compile as compile_template, compile_tree

        self.spec = spec
        self.manifest = manifest
        self.name: str = spec["name"]
        self.group: str = spec.get("group", "default")
        self.summary: str = spec.get("summary", "")
        self.description: str | None = spec.get("description")
        self.steps = [build("step", step, where) for step in spec["steps"]]
        self.on_failure = [build("step", step, where) for step in spec.get("on_failure", ())]
        self.result = compile_template(spec["result"], file=getattr(where, "file", None),
                                       line=getattr(where, "line", None),
                                       names=("params", "steps")) if "result" in spec else None
        self.timeout = compile_tree(spec["timeout"], file=getattr(where, "file", None),
                                    line=getattr(where, "line", None),
                                    names=("params",)) if "timeout" in spec else None
        base = manifest.actions.get(spec["params_from"]) if "params_from" in spec else None
        calls = [name for step in self.steps for name in step.actions()]
        # The catalogue shows the first call the composite makes: its method, path and credential.
        first = manifest.actions.get(calls[0]) if calls else None
        self.method = first.method if first else "POST"
        self.path = first.path if first else ""
        self.credential = first.credential if first else "none"
        self.credentials = first.credentials if first else ["none"]
        self.calls = calls
        self.body = "none"
        self.response_kind = "json"
        self.response_schema = self._answer_schema(spec, manifest, calls)
        self.stream_param = None
        self.streamed_always = False
        self.pagination_name = None
        self.pagination = None
        self.paginator = None
        self.replaces: str | None = None
        exclude = set(spec.get("exclude_params", ()))
        params = [p for p in base.params if p.name not in exclude] if base else []
        params += [Param({**p, "in": "option"}) for p in spec.get("params", ())]  # the composite's own options
        self.params = params
        self.by_name = {p.name: p for p in params}

    @staticmethod
    def _answer_schema(spec: Mapping[str, Any], manifest: Any, calls: list[str]) -> Any:
        """What the composite returns: its `output` action's answer (or one field of it), else its last call's."""
        output = spec.get("output", calls[-1] if calls else None)
        if isinstance(output, str):
            output = {"action": output}
        action = manifest.actions.get((output or {}).get("action", ""))
        schema = action.response_schema if action else None
        field = (output or {}).get("field")
        if not field or not isinstance(schema, Mapping):
            return schema
        ref = schema.get("$ref", "")
        named = manifest.schemas.get(ref.rsplit("/", 1)[-1]) if ref else schema
        return (named or {}).get("properties", {}).get(field, schema)

    def __repr__(self) -> str:
        return f"<Composite {self.name}>"

    def input_schema(self) -> dict[str, Any]:
        from .manifest import Action

        return Action.input_schema(self)  # type: ignore[arg-type]

    def output_schema(self) -> dict[str, Any]:
        return self.manifest.self_contained(self.response_schema or {})

    def sample_output(self) -> Any:
        """A sample answer for mapping UIs: its output action's, synthesized as the sandbox would."""
        from .platform import sample_output

        return sample_output(self)

    def _self_contained(self, schema: Any) -> dict[str, Any]:
        return self.manifest.self_contained(schema)

    def validate(self, params: Mapping[str, Any]) -> None:
        from .params import ParamValidator

        validator = self.__dict__.get("_validator")
        if validator is None:
            validator = self.__dict__["_validator"] = ParamValidator(self)  # type: ignore[arg-type]
        # A path may come as pathlib.Path; the schema speaks of its text.
        validator.validate({k: os.fspath(v) if isinstance(v, os.PathLike) else v for k, v in params.items()})


def _limit(comp: Composite, params: Mapping[str, Any]) -> float | None:
    return None if comp.timeout is None else seconds(comp.timeout.render({"params": params}), comp.name, "timeout")


def run_composite(engine: "Engine", comp: Composite, params: Mapping[str, Any], *, timeout: Any = None,
                  max_retries: int | None = None, sleep: Any = None, clock: Any = None) -> Any:
    """Run the steps in order; on a failure run `on_failure`, then raise the failure."""
    for step in comp.steps:
        step.check(comp.name, params)
    run = Run(engine, comp.name, params, timeout=timeout, max_retries=max_retries, clock=clock or time.monotonic,
              sleep=sleep or engine.transport.sleep, limit=_limit(comp, params))
    try:
        for step in comp.steps:
            context = run.context()
            if step.condition is not None and not step.condition.render(context):
                continue
            result = step.run(run, context)
            run.last = result
            if step.name:
                run.steps[step.name] = result
    except BaseException:
        for step in comp.on_failure:
            try:
                context = run.context()
                if step.condition is None or step.condition.render(context):
                    step.run(run, context)
            except (APIError, ValidationError):
                pass  # the original failure is what the caller needs to see
        raise
    return comp.result.render(run.context()) if comp.result is not None else run.last


class FileSlice(io.RawIOBase):
    """A window onto part of a file, opened on its own handle so parts can go out in parallel."""

    def __init__(self, path: str | os.PathLike, offset: int, length: int, name: str) -> None:
        super().__init__()
        self._fh = open(path, "rb")
        self._start, self._length, self._pos = offset, length, 0
        self.name = name
        self._fh.seek(offset)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, pos: int, whence: int = 0) -> int:
        base = {0: 0, 1: self._pos, 2: self._length}[whence]
        self._pos = max(0, min(self._length, base + pos))
        self._fh.seek(self._start + self._pos)
        return self._pos

    def read(self, size: int = -1) -> bytes:
        left = self._length - self._pos
        n = left if size is None or size < 0 else min(size, left)
        data = self._fh.read(n) if n > 0 else b""
        self._pos += len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def close(self) -> None:
        self._fh.close()
        super().close()
