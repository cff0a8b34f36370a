"""Composite steps: one step of a composite action, wired to the others with templates.

A composite runs its `steps` in order; each step's result is kept under its
`name` in `steps`, which later templates read (`{{ steps.run.id }}`). A step
with `if` runs only when that template is true. Templates see `params` (the
composite's params), `steps`, and, where a step says so, `response`, `item` and
`index`.
"""
from __future__ import annotations

import abc

import math
import os
import stat
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path as FsPath
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Mapping

from ..errors import APIError, APITimeoutError, PollTimeoutError, Problem, ValidationError
from . import Component, build, builtin
from .paths import PATH_SCHEMA, Path

if TYPE_CHECKING:
    from ..client import Engine

__all__ = ["Step", "Run", "CallStep", "PollStep", "ForEachStep", "SplitFileStep", "FilePart", "TEMPLATE_NAMES"]

TEMPLATE_NAMES = ("params", "steps", "response", "item", "index")
_TEMPLATE_NUMBER = {"anyOf": [{"type": "number", "exclusiveMinimum": 0}, {"type": "string", "pattern": r"\{\{"}]}


class Run:
    """One run of a composite: the caller's options, the deadline, and what the steps gave so far."""

    def __init__(self, engine: "Engine", name: str, params: Mapping[str, Any], *, timeout: Any,
                 max_retries: int | None, clock: Callable[[], float], sleep: Callable[[float], None],
                 limit: float | None = None) -> None:
        self.engine, self.name, self.params = engine, name, params
        self.timeout, self.max_retries = timeout, max_retries
        self.clock, self.sleep = clock, sleep
        self.started = clock()
        self.limit = limit
        self.deadline: float | None = None if limit is None else self.started + limit
        self.steps: dict[str, Any] = {}
        self.last: Any = None
        self.last_headers: Mapping[str, str] = {}
        self.polls = 0
        self.status: Any = None

    def context(self, **more: Any) -> dict[str, Any]:
        return {"params": self.params, "steps": self.steps, **more}

    def call(self, action: str, arguments: Mapping[str, Any]) -> Any:
        """One call, cut short by the run's deadline (its retries too): `PollTimeoutError` when it is."""
        from ..transport import deadline

        if self.deadline is None:
            return self.engine.run(action, arguments, timeout=self.timeout, max_retries=self.max_retries, raw=True)
        try:
            with deadline(self.deadline - self.clock()):
                return self.engine.run(action, arguments, timeout=self.timeout, max_retries=self.max_retries,
                                       raw=True)
        except APITimeoutError as exc:
            if exc.phase != "deadline":
                raise
            raise PollTimeoutError(
                f"no answer from {action} before the deadline: {self.clock() - self.started:.1f}s, {self.polls} "
                f"polls, status {self.status!r} (timeout={self.limit:g}s)", action=self.name,
                attempts=exc.attempts, body=self.last) from None


class Step(Component):
    """Base of the step family: `run(run, context)` -> the step's result."""

    family: ClassVar[str] = "step"

    def __init__(self, spec: Mapping[str, Any], where: Any = None) -> None:
        from ..templates import compile as compile_template

        super().__init__(spec, where)
        self.name: str | None = spec.get("name")
        self.condition = compile_template(spec["if"], file=getattr(where, "file", None),
                                          line=getattr(where, "line", None),
                                          names=TEMPLATE_NAMES) if "if" in spec else None

    def actions(self) -> list[str]:
        """Actions this step calls: checked to exist at load."""
        return []

    def check(self, name: str, params: Mapping[str, Any]) -> None:
        """What the step can judge from the composite's params alone, before any step runs: nothing by default."""

    @abc.abstractmethod
    def run(self, run: Run, context: Mapping[str, Any]) -> Any:
        """Each type says how."""


_COMMON = {
    "name": {"type": "string", "pattern": r"^[A-Za-z_][A-Za-z0-9_]*$",
             "description": "Later templates read this step's result as `steps.NAME`."},
    "if": {"type": "string", "description": "A template; the step runs only when it is true."},
}
_PARAMS = {"description": "The called action's params: an object whose strings may be templates, or one "
                          "template that gives the whole object. Left out: every composite param the "
                          "action accepts."}


def seconds(value: Any, action: str, what: str) -> float:
    """A rendered interval or timeout as a positive number of seconds, or the ValidationError that says not."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number) or number <= 0:
        raise ValidationError(action, [Problem(None, what, f"the {what} must be a positive number of seconds, "
                                                           f"got {value!r}")])
    return number


def _tree(spec: Any, where: Any) -> Any:
    from ..templates import compile_tree

    return compile_tree(spec, file=getattr(where, "file", None),
                        line=getattr(where, "line", None), names=TEMPLATE_NAMES)


@builtin
class CallStep(Step):
    """Call one action; the step's result is its decoded answer."""

    type = "call"
    schema = {"properties": {**_COMMON, "action": {"type": "string"}, "params": _PARAMS,
                             "with": {"type": "object", "description": "With `params` left out: values (or "
                                      "templates) set over the composite params passed on (`background: true`)."}},
              "required": ["action"], "not": {"required": ["params", "with"]}}
    example = {"type": "call", "name": "run", "action": "threads.runs.create"}

    def __init__(self, spec: Mapping[str, Any], where: Any = None) -> None:
        super().__init__(spec, where)
        self.action: str = spec["action"]
        self.params = _tree(spec["params"], where) if "params" in spec else None
        self.with_ = _tree(spec["with"], where) if "with" in spec else None

    def actions(self) -> list[str]:
        return [self.action]

    def arguments(self, run: Run, context: Mapping[str, Any]) -> dict[str, Any]:
        if self.params is not None:
            given = self.params.render(context)
            if not isinstance(given, Mapping):
                raise ValidationError(run.name, [Problem(None, "step", f"step {self.name or self.action!r}: "
                                                         f"params must be an object")])
            accepted = run.engine.action(self.action).by_name
            # None: an optional input not given. Text for a file param is a path (a composite's `format: path`).
            return {k: FsPath(v) if isinstance(v, str) and k in accepted and accepted[k].file is not None else v
                    for k, v in given.items() if v is not None}
        accepted = run.engine.action(self.action).by_name
        passed = {k: v for k, v in run.params.items() if k in accepted}
        return {**passed, **self.with_.render(context)} if self.with_ is not None else passed

    def run(self, run: Run, context: Mapping[str, Any]) -> Any:
        arguments = self.arguments(run, context)
        opened = [(k, v.open()) for k, v in arguments.items() if isinstance(v, FilePart)]
        try:
            arguments.update(opened)
            answer = run.call(self.action, arguments)
        finally:
            for _, (_, handle, _) in opened:
                handle.close()
        run.last_headers = answer.headers
        return answer.data


@builtin
class PollStep(CallStep):
    """Call an action until `until` holds, waiting between calls, within a deadline.

    `until` is first asked of the previous step's result (a job created already
    finished needs no poll). The wait is the server's hint (`hint`, a wait-time
    block read from the last answer's headers) when it gives one, else
    `interval`. `timeout` counts from the composite's start and bounds every
    wait and every request: `engine.PollTimeoutError` when it passes.
    """

    type = "poll"
    schema = {"properties": {
        **CallStep.schema["properties"],
        "until": {"type": "string", "pattern": r"\{\{", "description": "A template over `response` (the "
                  "latest answer), `params` and `steps`; polling ends when it is true."},
        "status": {**PATH_SCHEMA, "description": "The field that says how the job stands, for messages."},
        "interval": {**_TEMPLATE_NUMBER, "description": "Seconds between calls when the server gives no hint."},
        "timeout": {**_TEMPLATE_NUMBER, "description": "Seconds from the composite's start before giving up "
                                                       "(the composite's own `timeout` bounds it too)."},
        "hint": {"$ref": "#/$defs/component_wait", "description": "A header with the server's wait hint."},
    }, "required": ["action", "until", "interval"]}
    example = {"type": "poll", "name": "done", "action": "batches.retrieve",
               "params": {"batch_id": "{{ steps.create.id }}"},
               "until": "{{ response.status in ['completed', 'failed'] }}", "status": "status",
               "interval": "{{ params.poll_interval | default(1) }}", "timeout": 600,
               "hint": {"type": "milliseconds", "header": "retry-after-ms"}}

    def __init__(self, spec: Mapping[str, Any], where: Any = None) -> None:
        super().__init__(spec, where)
        from ..templates import compile as compile_template

        self.until = compile_template(spec["until"], file=getattr(where, "file", None),
                                      line=getattr(where, "line", None), names=TEMPLATE_NAMES)
        self.status = Path(spec.get("status", "status"))
        self.interval = _tree(spec["interval"], where)
        self.timeout = _tree(spec["timeout"], where) if "timeout" in spec else None
        self.hint = build("wait", spec["hint"], where) if "hint" in spec else None

    def check(self, name: str, params: Mapping[str, Any]) -> None:
        """An interval or timeout that reads only the params is judged before the first call is sent."""
        from ..errors import TemplateError

        for what, tree in (("interval", self.interval), ("timeout", self.timeout)):
            if tree is None:
                continue
            try:
                value = tree.render({"params": params})
            except TemplateError:  # it reads earlier steps: judged when the step runs
                continue
            seconds(value, name, what)

    def run(self, run: Run, context: Mapping[str, Any]) -> Any:
        interval = seconds(self.interval.render(run.context()), run.name, "interval")
        if self.timeout is not None:
            limit = seconds(self.timeout.render(run.context()), run.name, "timeout")
            if run.deadline is None or run.started + limit < run.deadline:
                run.limit, run.deadline = limit, run.started + limit
        result, arguments = run.last, None
        run.polls = 0
        while not self.until.render({**run.context(), "response": result}):
            run.status = self.status.get(result)
            told = self.hint.seconds(run.last_headers, 0.0) if self.hint is not None else None
            wait = interval if told is None or told < 0 else told
            if run.deadline is not None and run.clock() + wait > run.deadline:
                raise PollTimeoutError(f"status still {run.status!r} after {run.clock() - run.started:.1f}s and "
                                       f"{run.polls} polls (timeout={run.limit:g}s)", action=run.name, body=result)
            run.sleep(wait)
            if arguments is None:  # the ids to poll with come from earlier steps and do not change
                arguments = self.arguments(run, context)
            answer = run.call(self.action, arguments)
            run.last_headers, result, run.last = answer.headers, answer.data, answer.data
            run.polls += 1
        return result


@builtin
class ForEachStep(Step):
    """Run one step for every item of a list, `concurrency` at a time; the result is their results in order.

    When one fails, the items not started yet are not run, and the failure is raised.
    """

    type = "for_each"
    schema = {"properties": {
        **_COMMON,
        "over": {"type": "string", "pattern": r"\{\{", "description": "A template that gives the list."},
        "concurrency": {"anyOf": [{"type": "integer", "minimum": 1}, {"type": "string", "pattern": r"\{\{"}],
                        "default": 1, "description": "Items run at once."},
        "do": {"$ref": "#/$defs/component_step", "description": "The step run for each `item` (at `index`)."},
    }, "required": ["over", "do"]}
    example = {"type": "for_each", "name": "parts", "over": "{{ steps.file.parts }}", "concurrency": 4,
               "do": {"type": "call", "action": "uploads.parts.create",
                      "params": {"upload_id": "{{ steps.upload.id }}", "data": "{{ item }}"}}}

    def __init__(self, spec: Mapping[str, Any], where: Any = None) -> None:
        super().__init__(spec, where)
        from ..templates import compile as compile_template

        self.over = compile_template(spec["over"], file=getattr(where, "file", None),
                                     line=getattr(where, "line", None), names=TEMPLATE_NAMES)
        self.concurrency = _tree(spec.get("concurrency", 1), where)
        self.do: Step = build("step", spec["do"], where)

    def actions(self) -> list[str]:
        return self.do.actions()

    def run(self, run: Run, context: Mapping[str, Any]) -> Any:
        items = self.over.render(context)
        if not isinstance(items, (list, tuple)):
            raise ValidationError(run.name, [Problem(None, "step", f"for_each: `over` gave "
                                                     f"{type(items).__name__}, not a list")])
        width = max(1, int(self.concurrency.render(context) or 1))
        stop = threading.Event()

        def one(index: int) -> Any:
            if stop.is_set():
                raise APIError("not started: an earlier item failed", action=run.name)
            return self.do.run(run, {**context, "item": items[index], "index": index})

        if width == 1 or len(items) < 2:
            return [one(i) for i in range(len(items))]
        with ThreadPoolExecutor(max_workers=min(width, len(items))) as pool:
            futures = [pool.submit(one, i) for i in range(len(items))]
            try:
                return [f.result() for f in futures]
            except BaseException:
                stop.set()
                for f in futures:
                    f.cancel()
                raise


class FilePart:
    """A window onto part of a file, opened only for the call that sends it (so parts can go in parallel)."""

    __slots__ = ("path", "offset", "length", "index", "name", "content_type")

    def __init__(self, path: FsPath, offset: int, length: int, index: int, content_type: str) -> None:
        self.path, self.offset, self.length, self.index = path, offset, length, index
        self.name = f"part-{index}"
        self.content_type = content_type

    def open(self) -> tuple[str, Any, str]:
        from ..composite import FileSlice

        return self.name, FileSlice(self.path, self.offset, self.length, self.path.name), self.content_type

    def __repr__(self) -> str:
        return f"<FilePart {self.index} of {self.path.name}: {self.length} bytes at {self.offset}>"


@builtin
class SplitFileStep(Step):
    """Cut a file param into parts of `part_size` bytes; nothing is read yet.

    The result has `parts` (for a `for_each`), `size` and `name`. A file that
    cannot be read is a ValidationError naming the param.
    """

    type = "split_file"
    schema = {"properties": {
        **_COMMON,
        "param": {"type": "string", "description": "The composite param that holds the path."},
        "part_size": {"anyOf": [{"type": "integer", "minimum": 1}, {"type": "string", "pattern": r"\{\{"}],
                      "description": "Bytes a part."},
        "content_type": {"type": "string", "default": "application/octet-stream",
                         "description": "The content type each part is sent with."},
    }, "required": ["param", "part_size"]}
    example = {"type": "split_file", "name": "file", "param": "file",
               "part_size": "{{ params.part_size | default(67108864) }}"}

    def __init__(self, spec: Mapping[str, Any], where: Any = None) -> None:
        super().__init__(spec, where)
        self.param = spec["param"]
        self.part_size = _tree(spec["part_size"], where)
        self.content_type = spec.get("content_type", "application/octet-stream")

    def run(self, run: Run, context: Mapping[str, Any]) -> Any:
        path = FsPath(os.fspath(run.params[self.param]))
        try:
            info = path.stat()
        except OSError as exc:
            raise ValidationError(run.name, [Problem(self.param, "file", f"cannot read {path}: {exc.strerror}")]) \
                from None
        if not stat.S_ISREG(info.st_mode):  # a pipe or a device: its size (0) says nothing of what it holds
            raise ValidationError(run.name, [Problem(self.param, "file", f"{path} is not a regular file: its size "
                                                     "decides the parts, so save it to a file first")])
        size = info.st_size
        part_size = int(self.part_size.render(context))
        count = max(1, -(-size // part_size))
        parts = [FilePart(path, i * part_size, min(part_size, size - i * part_size), i, self.content_type)
                 for i in range(count)]
        return {"parts": parts, "size": size, "name": path.name}
