"""Composite actions: jobs of several calls, declared in the manifest, run by generic runners.

`poll`: call an action, then retrieve until a status is terminal (the
terminal set, the poll action and how its params are drawn from the first
answer are all declared), honouring the server's poll-after hint, with an
interval and a deadline the caller can set.

`chunked_upload`: create an upload, send a file in parts (optionally several
at once), complete it with the part ids in order; cancel it if any step fails.

A runner is one function in `RUNNERS`; a new kind of composite is one more.
Params for the calls are drawn from references such as `params.thread_id`
or `result.id`: plain data, no templates to evaluate.
"""
from __future__ import annotations

import io
import math
import os
import stat
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

from .errors import APIError, APITimeoutError, PollTimeoutError, Problem, ValidationError
from .transport import deadline

if TYPE_CHECKING:
    from .client import Engine

__all__ = ["Composite", "RUNNERS", "FileSlice", "resolve"]


def resolve(ref: Any, scope: Mapping[str, Any]) -> Any:
    """`"result.thread_id"` -> scope["result"]["thread_id"]; non-strings are literals."""
    if not isinstance(ref, str):
        return ref
    node: Any = scope
    for part in ref.split("."):
        if not isinstance(node, Mapping) or part not in node:
            raise KeyError(ref)
        node = node[part]
    return node


def _map(mapping: Mapping[str, Any], scope: Mapping[str, Any]) -> dict[str, Any]:
    out = {}
    for key, ref in mapping.items():
        try:
            out[key] = resolve(ref, scope)
        except KeyError:
            continue  # an optional input the caller did not give
    return out


class Composite:
    """A declared composite action; quacks like an Action where the catalogue needs it."""

    composite = True

    def __init__(self, spec: Mapping[str, Any], manifest: Any) -> None:
        from .manifest import Param

        self.spec = spec
        self.manifest = manifest
        self.name: str = spec["name"]
        self.kind: str = spec["type"]
        self.group: str = spec.get("group", "default")
        self.summary: str = spec.get("summary", "")
        self.description: str | None = spec.get("description")
        base = manifest.actions[spec["call"]] if "call" in spec else None
        # The catalogue shows the first call the composite makes: its method, path and credential.
        first = base or manifest.actions.get(spec.get("create", ""))
        self.method = first.method if first else "POST"
        self.path = first.path if first else ""
        self.credential = first.credential if first else "none"
        self.body = "none"
        self.response_kind = "json"
        self.response_schema = self._answer_schema(spec, manifest)
        self.stream_param = None
        self.pagination_name = None
        self.pagination = None
        exclude = set(spec.get("exclude_params", ()))
        params = [p for p in base.params if p.name not in exclude] if base else []
        params += [Param({**p, "in": p.get("in", "body")}) for p in spec.get("params", ())]
        self.params = params
        self.by_name = {p.name: p for p in params}

    @staticmethod
    def _answer_schema(spec: Mapping[str, Any], manifest: Any) -> Any:
        """What the composite returns: the polled action's answer, or a field of the last call's."""
        if "poll" in spec:
            return manifest.actions[spec["poll"]].response_schema
        last = manifest.actions.get(spec.get("complete", ""))
        schema = last.response_schema if last else None
        field = spec.get("result_field")
        if not field or not isinstance(schema, Mapping):
            return schema
        ref = schema.get("$ref", "")
        named = manifest.schemas.get(ref.rsplit("/", 1)[-1]) if ref else schema
        return (named or {}).get("properties", {}).get(field, schema)

    def __repr__(self) -> str:
        return f"<Composite {self.name} ({self.kind})>"

    def input_schema(self) -> dict[str, Any]:
        from .manifest import Action

        return Action.input_schema(self)  # type: ignore[arg-type]

    def output_schema(self) -> dict[str, Any]:
        return self.manifest.self_contained(self.response_schema or {})

    def _self_contained(self, schema: Any) -> dict[str, Any]:
        return self.manifest.self_contained(schema)

    def validate(self, params: Mapping[str, Any]) -> None:
        from .params import ParamValidator

        validator = self.__dict__.get("_validator")
        if validator is None:
            validator = self.__dict__["_validator"] = ParamValidator(self)  # type: ignore[arg-type]
        # A path may come as pathlib.Path; the schema speaks of its text.
        validator.validate({k: os.fspath(v) if isinstance(v, os.PathLike) else v for k, v in params.items()})


def _status(result: Any, field: str) -> Any:
    return result.get(field) if isinstance(result, Mapping) else None


def _hint_seconds(raw: Any) -> float | None:
    """The server's poll-after hint in seconds, or None unless it is a wait: "nan", "inf" and
    negatives parse as floats, and sleep() refuses them (as RetryPolicy.server_delay does)."""
    try:
        ms = float(raw)
    except (TypeError, ValueError):
        return None
    return ms / 1000.0 if math.isfinite(ms) and ms >= 0 else None


def run_poll(engine: "Engine", comp: Composite, params: Mapping[str, Any], *, timeout: Any = None,
             max_retries: int | None = None, sleep: Callable[[float], None] | None = None,
             clock: Callable[[], float] | None = None) -> Any:
    """Call, then poll until a terminal status; `poll_timeout` is a deadline for the whole of it.

    Every request (its retries included) is cut to the time left and no wait
    runs past the end: a server that stalls cannot hold the caller longer.
    """
    spec = comp.spec
    sleep = sleep or engine.transport.sleep
    clock = clock or time.monotonic
    own = {p["name"] for p in spec.get("params", ())}
    call_params = {k: v for k, v in params.items() if k not in own}
    interval = float(params.get("poll_interval", spec.get("interval", 1.0)))
    limit = float(params.get("poll_timeout", spec.get("timeout", 600.0)))
    field = spec.get("status_field", "status")
    terminal = set(spec["terminal"])
    hint = spec.get("poll_after_header")
    started = clock()
    polls, result = 0, None

    def call(name: str, args: Mapping[str, Any]) -> Any:
        try:
            with deadline(started + limit - clock()):
                return engine.run(name, args, timeout=timeout, max_retries=max_retries, raw=True)
        except APITimeoutError as exc:
            if exc.phase != "deadline":
                raise
            raise PollTimeoutError(
                f"no answer from {name} before the deadline: {clock() - started:.1f}s, {polls} polls, status "
                f"{_status(result, field)!r} (poll_timeout={limit:g}s)", action=comp.name, attempts=exc.attempts,
                body=result) from None

    answer = call(spec["call"], call_params)
    result = answer.data
    # The ids to poll with come from the first answer and do not change.
    poll_params = _map(spec["poll_params"], {"params": params, "result": result})
    while _status(result, field) not in terminal:
        told = _hint_seconds(answer.headers.get(hint)) if hint else None
        wait = interval if told is None else told
        if clock() - started + wait > limit:
            raise PollTimeoutError(
                f"status still {_status(result, field)!r} after {clock() - started:.1f}s and {polls} polls "
                f"(poll_timeout={limit:g}s)", action=comp.name, body=result)
        sleep(wait)
        answer = call(spec["poll"], poll_params)
        result = answer.data
        polls += 1
    return result


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


def run_chunked_upload(engine: "Engine", comp: Composite, params: Mapping[str, Any], *, timeout: Any = None,
                       max_retries: int | None = None) -> Any:
    spec = comp.spec
    path = Path(params["file"])
    try:
        info = path.stat()
    except OSError as exc:
        raise ValidationError(comp.name, [Problem("file", "file", f"cannot read {path}: {exc.strerror}")]) from None
    if not stat.S_ISREG(info.st_mode):  # a pipe or a device: its size (0) says nothing of what it holds
        raise ValidationError(comp.name, [Problem("file", "file", f"{path} is not a regular file: its size decides "
                                                  "the parts, so save it to a file first")])
    size = info.st_size
    part_size = int(params.get("part_size", spec["part_size"]))
    concurrency = max(1, int(params.get("concurrency", 1)))
    scope = {"params": {**params, "filename": params.get("filename", path.name)},
             "file": {"size": size, "name": path.name}}
    created = engine.run(spec["create"], _map(spec["create_params"], scope), timeout=timeout,
                         max_retries=max_retries)
    upload_id = created[spec.get("id_field", "id")]
    cancel = threading.Event()

    def send(index: int) -> str:
        if cancel.is_set():
            raise APIError("upload cancelled after another part failed", action=comp.name)
        offset = index * part_size
        part = FileSlice(path, offset, min(part_size, size - offset), path.name)
        try:
            answer = engine.run(spec["add_part"], {spec["upload_param"]: upload_id,
                                                   spec["part_param"]: (f"part-{index}", part,
                                                                        "application/octet-stream")},
                                timeout=timeout, max_retries=max_retries)
        finally:
            part.close()
        return answer[spec.get("id_field", "id")]

    count = max(1, -(-size // part_size))
    try:
        if concurrency == 1:
            part_ids = [send(i) for i in range(count)]
        else:
            with ThreadPoolExecutor(max_workers=concurrency) as pool:
                futures = [pool.submit(send, i) for i in range(count)]
                try:
                    part_ids = [f.result() for f in futures]
                except BaseException:
                    cancel.set()
                    for f in futures:
                        f.cancel()
                    raise
        done = engine.run(spec["complete"], {spec["upload_param"]: upload_id, "part_ids": part_ids,
                                             **_map(spec.get("complete_params", {}), scope)},
                          timeout=timeout, max_retries=max_retries)
    except BaseException:
        try:
            engine.run(spec["cancel"], {spec["upload_param"]: upload_id}, timeout=timeout, max_retries=max_retries)
        except APIError:
            pass  # the original failure is what the caller needs to see
        raise
    field = spec.get("result_field")
    return done.get(field, done) if field and isinstance(done, Mapping) else done


RUNNERS: dict[str, Callable[..., Any]] = {"poll": run_poll, "chunked_upload": run_chunked_upload}
