"""Many calls of one action as Batch API jobs: `BatchJob`.

It sends the calls through the batch interface `connector.batch` describes:
request lines are built by the action's own validator and builder (the bytes
`run` would send), split within the declared limits, written to disk and
uploaded from there. Answers are downloaded to disk and read back one batch
at a time through an index of line offsets, so memory does not grow with the
job. Its `handle` is plain JSON: saved, it lets another process pick the
results up where they stand; downloaded answer files wait in the job's folder
until their batch is delivered, so a resumed job on the same machine
downloads nothing twice.
"""
from __future__ import annotations

import array
import copy
import json
import os
import secrets
import shutil
import tempfile
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Mapping

from .composite import FileSlice
from .errors import APIResponseError, BatchRequestError, Error, Problem, ValidationError, status_error_class
from .transport import error_message

if TYPE_CHECKING:
    from .client import Engine
    from .manifest import Action
    from .request import Context

__all__ = ["BatchJob"]

_SHOWN_BAD_INPUTS = 20
_HANDLE_FORMAT = 1


def _dig(node: Any, path: str | None) -> Any:
    """`"response.body"` -> node["response"]["body"], or None where the path leads nowhere."""
    if not path:
        return None
    for key in path.split("."):
        node = node.get(key) if isinstance(node, Mapping) else None
    return node


def _draw(mapping: Mapping[str, str], scope: Mapping[str, Any]) -> dict[str, Any]:
    return {param: _dig(scope, ref) for param, ref in mapping.items()}


def _config(engine: "Engine") -> Mapping[str, Any]:
    cfg = engine.manifest.connector.get("batch")
    if not cfg:
        raise Error(f"the {engine.manifest.connector['name']} manifest declares no batch interface (connector.batch)")
    return cfg


class BatchJob:
    """Calls of one action sent as batches; iterate `results()` for `(input_index, answer_or_error)`.

    `handle` is a JSON-serializable snapshot (batch ids, the custom-id prefix,
    how far results were delivered); `Engine.batch_results(handle)` resumes
    from it in any process, waiting for what is unfinished and downloading
    only the batches whose results were not all delivered.
    """

    def __init__(self, engine: "Engine", handle: Mapping[str, Any], *, poll_interval: float | None = None,
                 poll_timeout: float | None = None, timeout: Any = None, max_retries: int | None = None) -> None:
        self.engine = engine
        self._cfg = _config(engine)
        self._handle = copy.deepcopy(dict(handle))
        self._poll = {k: v for k, v in (("poll_interval", poll_interval), ("poll_timeout", poll_timeout))
                      if v is not None}
        self._call = {"timeout": timeout, "max_retries": max_retries}

    # -- creating -------------------------------------------------------------
    @classmethod
    def submit(cls, engine: "Engine", name: str, params_iterable: Iterable[Mapping[str, Any]], *,
               completion_window: str = "24h", max_requests: int | None = None, max_bytes: int | None = None,
               custom_id_prefix: str | None = None, poll_interval: float | None = None,
               poll_timeout: float | None = None, timeout: Any = None,
               max_retries: int | None = None) -> "BatchJob":
        """Validate every input, then upload and create as many batches as the limits need.

        Any invalid input raises `ValidationError` (problems name the input
        index) before anything is uploaded. If an upload or create fails, the
        batches already created are cancelled and the error raised.
        `max_requests` / `max_bytes` may only lower the declared limits.
        """
        cfg = _config(engine)
        action = engine.action(name)
        url = cfg["actions"].get(name)
        if url is None:
            raise Error(f"{name} cannot be sent as a batch; the batch interface takes "
                        f"{', '.join(sorted(cfg['actions']))}")
        if action.body != "json":
            raise Error(f"{name} sends a {action.body} body; a batch line carries JSON bodies only")
        limit_n = min(max_requests or cfg["max_requests"], cfg["max_requests"])
        limit_b = min(max_bytes or cfg["max_bytes"], cfg["max_bytes"])
        prefix = custom_id_prefix or secrets.token_hex(6)
        job_scope = {"url": url, "completion_window": completion_window}
        _check_create(engine, cfg, job_scope)
        engine._context(engine.action(cfg["upload"]))  # a missing key shows now, not after reading every input
        ctx = engine._context(action, redact=True)  # lines carry no headers: no key goes to disk
        job = cls(engine, {}, poll_interval=poll_interval, poll_timeout=poll_timeout, timeout=timeout,
                  max_retries=max_retries)
        with tempfile.TemporaryDirectory(prefix="engine-batch-") as tmp:
            path = os.path.join(tmp, "requests.jsonl")
            parts, total = job._write(path, action, ctx, params_iterable, prefix, url, limit_n, limit_b)
            batches = job._create(path, parts, prefix, job_scope)
        job._handle = {"format": _HANDLE_FORMAT, "action": name, "custom_id_prefix": prefix, "total": total,
                       "batches": batches, "next": 0, "failed": 0,
                       "dir": tempfile.mkdtemp(prefix=f"engine-batch-{prefix}-")}
        return job

    def _write(self, path: str, action: "Action", ctx: "Context", params_iterable: Iterable[Mapping[str, Any]],
               prefix: str, url: str, limit_n: int, limit_b: int) -> tuple[list[tuple[int, int, int, int]], int]:
        """Write the request lines; return parts (offset, length, first index, count) and the input count."""
        parts: list[tuple[int, int, int, int]] = []
        problems: list[Problem] = []
        bad = total = 0
        offset = size = count = first = 0
        with open(path, "wb") as out:
            for index, params in enumerate(params_iterable):
                total = index + 1
                try:
                    line = self._line(action, ctx, params, f"{prefix}-{index}", url, limit_b)
                except ValidationError as exc:
                    bad += 1
                    if bad <= _SHOWN_BAD_INPUTS:
                        problems += [Problem(p.param, p.rule, f"input {index}: {p.message}") for p in exc.problems]
                    continue
                if bad:
                    continue  # nothing will be sent: only look for more problems
                if count and (count == limit_n or size + len(line) > limit_b):
                    parts.append((offset, size, first, count))
                    offset, size, count = offset + size, 0, 0
                if count == 0:
                    first = index
                out.write(line)
                size += len(line)
                count += 1
        if bad:
            if bad > _SHOWN_BAD_INPUTS:
                problems.append(Problem(None, "inputs", f"and {bad - _SHOWN_BAD_INPUTS} more invalid inputs"))
            raise ValidationError(action.name, problems)
        if count:
            parts.append((offset, size, first, count))
        return parts, total

    def _line(self, action: "Action", ctx: "Context", params: Any, custom_id: str, url: str,
              limit_b: int) -> bytes:
        """One request line, its body the exact bytes `run` would send."""
        if not isinstance(params, Mapping):
            raise ValidationError(action.name, [Problem(None, "type",
                                                        f"params must be a mapping, not {type(params).__name__}")])
        action.validator.validate(params)
        if action.stream_param is not None and params.get(action.stream_param) is True:
            raise ValidationError(action.name, [Problem(action.stream_param, "batch",
                                                        "a batched request cannot stream its answer")])
        request = action.builder.build(params, ctx)
        fields = self._cfg["line"]
        head = json.dumps({self._cfg["custom_id_field"]: custom_id, fields["method"]: request.method,
                           fields["url"]: url}, ensure_ascii=False, separators=(",", ":"))
        line = (head[:-1] + "," + json.dumps(fields["body"]) + ":").encode("utf-8") + request.body + b"}\n"
        if len(line) > limit_b:
            raise ValidationError(action.name, [Problem(None, "max_bytes", f"the request line is {len(line)} "
                                                        f"bytes, more than the {limit_b} a batch file may hold")])
        return line

    def _create(self, path: str, parts: list[tuple[int, int, int, int]], prefix: str,
                job_scope: Mapping[str, Any]) -> list[dict[str, Any]]:
        cfg, eng = self._cfg, self.engine
        batches: list[dict[str, Any]] = []
        try:
            for n, (offset, length, first, count) in enumerate(parts):
                filename = f"{prefix}-{n}.jsonl"
                with FileSlice(path, offset, length, filename) as part:
                    uploaded = eng.run(cfg["upload"], {**cfg.get("upload_params", {}),
                                                       cfg["upload_file_param"]: (filename, part)}, **self._call)
                created = eng.run(cfg["create"], _draw(cfg["create_params"], {"file": uploaded, "job": job_scope}),
                                  **self._call)
                batches.append({"id": created[cfg.get("id_field", "id")], "first": first, "count": count})
        except BaseException:
            for batch in batches:
                self._cancel(batch["id"])
            raise
        return batches

    def _cancel(self, batch_id: str) -> None:
        """Best effort: the failure that led here is what the caller must see."""
        if "cancel" not in self._cfg:
            return
        try:
            self.engine.run(self._cfg["cancel"], {self._cfg["batch_param"]: batch_id}, **self._call)
        except Error:
            pass  # a batch left running expires by its window; the original failure is raised

    # -- resuming and reading -------------------------------------------------
    @classmethod
    def resume(cls, engine: "Engine", handle: Mapping[str, Any], *, poll_interval: float | None = None,
               poll_timeout: float | None = None, timeout: Any = None,
               max_retries: int | None = None) -> "BatchJob":
        """A job from a saved `handle`; nothing is sent until `results()` is read."""
        keys = ("format", "action", "custom_id_prefix", "total", "batches", "next", "failed", "dir")
        if not isinstance(handle, Mapping) or any(k not in handle for k in keys):
            raise Error("not a batch handle: it needs " + ", ".join(keys))
        if handle["format"] != _HANDLE_FORMAT:
            raise Error(f"batch handle format {handle['format']!r} is not {_HANDLE_FORMAT}")
        engine.action(handle["action"])
        return cls(engine, handle, poll_interval=poll_interval, poll_timeout=poll_timeout, timeout=timeout,
                   max_retries=max_retries)

    @property
    def handle(self) -> dict[str, Any]:
        """A JSON-serializable snapshot to save; resuming from it repeats nothing already delivered."""
        return copy.deepcopy(self._handle)

    @property
    def done(self) -> int:
        """Inputs whose result was delivered (in this process or before the handle was saved)."""
        return int(self._handle.get("next", 0))

    @property
    def failed(self) -> int:
        return int(self._handle.get("failed", 0))

    @property
    def pending(self) -> int:
        """Batches with results not yet delivered."""
        return sum(1 for b in self._handle.get("batches", ()) if b["first"] + b["count"] > self.done)

    def __repr__(self) -> str:
        return (f"<BatchJob {self._handle.get('action')} {self.done}/{self._handle.get('total')} done, "
                f"{self.failed} failed, {self.pending} batches pending>")

    def results(self) -> Iterator[tuple[int, Any]]:
        """Wait for each batch in turn and yield `(input_index, answer_or_error)` in input order."""
        for n, batch in enumerate(self._handle["batches"]):
            if batch["first"] + batch["count"] > self.done:
                yield from self._deliver(n, batch)
        shutil.rmtree(self._handle["dir"], ignore_errors=True)

    def _deliver(self, n: int, entry: Mapping[str, Any]) -> Iterator[tuple[int, Any]]:
        cfg, eng = self._cfg, self.engine
        finished = eng.run(cfg["wait"], {cfg["batch_param"]: entry["id"], **self._poll}, **self._call)
        first, count = entry["first"], entry["count"]
        os.makedirs(self._handle["dir"], mode=0o700, exist_ok=True)
        paths = []
        for field in cfg["result_files"]:
            file_id = finished.get(field) if isinstance(finished, Mapping) else None
            if file_id:
                paths.append(os.path.join(self._handle["dir"], f"{n}-{field}.jsonl"))
                if not os.path.exists(paths[-1]):  # complete if there: downloads land under a temporary name
                    eng.run(cfg["download"], {cfg["download_param"]: file_id}, output=paths[-1], **self._call)
        which, offsets = self._index(paths, first, count)
        files = [open(p, "rb") for p in paths]
        try:
            for index in range(max(first, self.done), first + count):
                k = index - first
                if which[k]:
                    fh = files[which[k] - 1]
                    fh.seek(offsets[k])
                    result = self._answer(json.loads(fh.readline()), finished)
                else:
                    result = self._missing(entry["id"], finished)
                self._handle["next"] = index + 1
                if isinstance(result, Error):
                    self._handle["failed"] += 1
                yield index, result
        finally:
            for fh in files:
                fh.close()
        for path in paths:
            os.unlink(path)

    def _index(self, paths: list[str], first: int, count: int) -> tuple[bytearray, array.array]:
        """Where each input's answer line is: file number (1-based, 0 for none) and byte offset."""
        which = bytearray(count)
        offsets = array.array("q", bytes(8 * count))
        lead = self._handle["custom_id_prefix"] + "-"
        field = self._cfg["custom_id_field"]
        for n, path in enumerate(paths, 1):
            with open(path, "rb") as fh:
                pos = 0
                for number, line in enumerate(fh, 1):
                    if line.strip():
                        try:
                            custom_id = json.loads(line).get(field)
                        except (ValueError, AttributeError):
                            raise APIResponseError(f"line {number} of a downloaded answer file is not a JSON "
                                                   f"object", action=self._handle["action"]) from None
                        if isinstance(custom_id, str) and custom_id.startswith(lead) and custom_id[len(lead):].isdigit():
                            k = int(custom_id[len(lead):]) - first
                            if 0 <= k < count and not which[k]:
                                which[k], offsets[k] = n, pos
                    pos += len(line)
        return which, offsets

    def _answer(self, line: Mapping[str, Any], finished: Any) -> Any:
        """The body of a 2xx answer line, or the typed error the same answer to `run` would raise."""
        spec, name = self._cfg["answer"], self._handle["action"]
        error = _dig(line, spec["error"])
        if isinstance(error, Mapping):
            return BatchRequestError(str(error.get("message") or "the batch could not carry out this request"),
                                     action=name, body={"error": dict(error)},
                                     batch_status=_dig(finished, self._status_field()))
        status, body = _dig(line, spec["status"]), _dig(line, spec["body"])
        if not isinstance(status, int):
            return APIResponseError("an answer line has neither a status nor an error", action=name)
        if 200 <= status < 300:
            return body
        message = error_message(body, self.engine.transport.message_path, f"status {status}")
        return status_error_class(status)(message, status_code=status, action=name, body=body,
                                          request_id=_dig(line, spec.get("request_id")))

    def _missing(self, batch_id: str, finished: Any) -> BatchRequestError:
        status = _dig(finished, self._status_field())
        errors = _dig(finished, self._cfg.get("batch_errors"))
        first = errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], Mapping) else None
        why = f": {first.get('message')}" if first and first.get("message") else ""
        return BatchRequestError(f"batch {batch_id} ended {status!r} with no answer for this input{why}",
                                 action=self._handle["action"], body={"error": dict(first)} if first else None,
                                 batch_status=status)

    def _status_field(self) -> str:
        return self.engine.action(self._cfg["wait"]).spec.get("status_field", "status")


def _check_create(engine: "Engine", cfg: Mapping[str, Any], job_scope: Mapping[str, Any]) -> None:
    """Validate the create call's own params (e.g. the completion window) before anything is uploaded."""
    later = {param for param, ref in cfg["create_params"].items() if not ref.startswith("job.")}
    params = {k: v for k, v in _draw(cfg["create_params"], {"job": job_scope}).items() if k not in later}
    try:
        engine.action(cfg["create"]).validator.validate(params)
    except ValidationError as exc:
        problems = [p for p in exc.problems if p.param not in later]
        if problems:
            raise ValidationError(exc.action, problems) from None
