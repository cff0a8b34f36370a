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

Handles come from files, so nothing in one is trusted as is. The job's folder
holds a marker with a random token that the handle repeats: only a real,
unlinked folder of this user's, named as the engine names them and marked
with the handle's token, is ever written to or removed (any other raises
`BatchHandleError` first; a folder that no longer exists is replaced by a new
one). An answer file is reused only under the random name, size and SHA-256
the job recorded when it finished downloading it. Each answer line stands
alone: one that cannot be read is its input's typed error, or, if not even
its custom id can be read, leaves that input without an answer.
"""
from __future__ import annotations

import array
import copy
import hashlib
import hmac
import json
import os
import re
import secrets
import shutil
import stat
import tempfile
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Mapping

from .composite import FileSlice
from .errors import (APIResponseError, BatchHandleError, BatchRequestError, Error, Problem, ValidationError,
                     status_error_class)

if TYPE_CHECKING:
    from .client import Engine
    from .manifest import Action
    from .request import Context

__all__ = ["BatchJob"]

_SHOWN_BAD_INPUTS = 20
_HANDLE_FORMAT = 1
_FOLDER_PREFIX = "engine-batch-"
_MARKER = ".engine-batch-job"
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_READ = 1 << 20


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


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _new_folder() -> tuple[str, str]:
    """A fresh private folder, marked as this engine's with a random token; returns (path, token)."""
    path = os.path.realpath(tempfile.mkdtemp(prefix=_FOLDER_PREFIX))
    token = secrets.token_hex(16)
    fd = os.open(os.path.join(path, _MARKER), os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(token)
    return path, token


def _owned_folder(path: Any, token: Any) -> str | None:
    """`path` if it is the folder marked with `token`; None if nothing is there; else `BatchHandleError`.

    Checked before every use: a handle may name `..`, a user's folder or a
    symlink, and the engine must never write into or remove any of those.
    """
    if path is None:
        return None
    if not isinstance(path, str):
        raise BatchHandleError(f"the handle's dir is a {type(path).__name__}, not a path")
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None  # resumed on another machine, or removed: never used, a new folder is made
    except (OSError, ValueError) as exc:
        raise BatchHandleError(f"the handle's dir {path[:200]!r} cannot be checked: {type(exc).__name__}") from None
    if (not os.path.isabs(path) or os.path.normpath(path) != path
            or not os.path.basename(path).startswith(_FOLDER_PREFIX)):
        raise BatchHandleError(f"the handle's dir {path[:200]!r} is not a folder a batch job makes "
                               f"(an absolute, normalized path named {_FOLDER_PREFIX}...): it was left untouched")
    mine = (stat.S_ISDIR(info.st_mode) and os.path.realpath(path) == path
            and (not hasattr(os, "getuid") or info.st_uid == os.getuid()))
    if mine:
        try:
            fd = os.open(os.path.join(path, _MARKER), os.O_RDONLY | _NOFOLLOW)
        except OSError:
            mine = False
        else:
            with os.fdopen(fd, "rb") as fh:
                marker = fh.read(256) if stat.S_ISREG(os.fstat(fh.fileno()).st_mode) else b""
            mine = isinstance(token, str) and hmac.compare_digest(marker, token.encode("utf-8", "replace"))
    if not mine:
        raise BatchHandleError(f"the handle's dir {path[:200]!r} is not this job's folder (not a real folder of "
                               f"this user's holding the job's marker and token): it was left untouched")
    return path


class _Recorder:
    """Where a download is written: counts and hashes the bytes, so the job can later know its own file."""

    def __init__(self, fh: Any) -> None:
        self._fh, self.size, self._sha = fh, 0, hashlib.sha256()

    def write(self, data: bytes) -> int:
        self._fh.write(data)
        self._sha.update(data)
        self.size += len(data)
        return len(data)

    def hexdigest(self) -> str:
        return self._sha.hexdigest()


def _intact(folder: str, key: str, record: Mapping[str, Any]) -> str | None:
    """The path of a recorded download if the file there is still what was downloaded, else None."""
    name = record.get("name")
    if not isinstance(name, str) or not re.fullmatch(re.escape(key) + r"-[0-9a-f]{16}\.jsonl", name):
        return None
    path = os.path.join(folder, name)
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW)
    except OSError:
        return None
    sha = hashlib.sha256()
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fh.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_size != record.get("size"):
            return None
        for chunk in iter(lambda: fh.read(_READ), b""):
            sha.update(chunk)
    return path if hmac.compare_digest(sha.hexdigest(), str(record.get("sha256"))) else None


def _custom_id(line: bytes, field: str, lead: str) -> tuple[Any, bool]:
    """A line's custom id and whether the line is a readable JSON object.

    From a line that is not, the id is recovered from the raw text when it
    appears there once (a single distinct `"field": "lead<n>"`), so the
    input it answers can get its own error instead of none.
    """
    try:
        obj = json.loads(line)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser goes
        obj = None
    if isinstance(obj, Mapping):
        return obj.get(field), True
    found = set(re.findall(rb'"' + re.escape(field.encode()) + rb'"\s*:\s*"(' + re.escape(lead.encode()) + rb'\d+)"',
                           line))
    return (found.pop().decode("ascii") if len(found) == 1 else None), False


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
        folder, token = _new_folder()
        job._handle = {"format": _HANDLE_FORMAT, "action": name, "custom_id_prefix": prefix, "total": total,
                       "batches": batches, "next": 0, "failed": 0, "dir": folder, "token": token, "files": {}}
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
        """A job from a saved `handle`; nothing is sent until `results()` is read.

        A malformed handle, or one naming a folder that is not this job's,
        raises `BatchHandleError` here, before anything is sent or removed.
        """
        return cls(engine, _checked_handle(engine, handle), poll_interval=poll_interval,
                   poll_timeout=poll_timeout, timeout=timeout, max_retries=max_retries)

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
        folder = _owned_folder(self._handle.get("dir"), self._handle.get("token"))
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)

    def _folder(self) -> str:
        """The job's own folder, checked again now; a new one if the handle's no longer exists."""
        folder = _owned_folder(self._handle.get("dir"), self._handle.get("token"))
        if folder is None:
            folder, token = _new_folder()
            self._handle.update(dir=folder, token=token, files={})
        return folder

    def _download(self, folder: str, key: str, file_id: str) -> str:
        """The answer file `key`: the job's own recorded download if intact, else downloaded now."""
        files = self._handle.setdefault("files", {})
        if key in files:
            path = _intact(folder, key, files[key])
            if path is not None:
                return path
            del files[key]
        name = f"{key}-{secrets.token_hex(8)}.jsonl"
        path = os.path.join(folder, name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o600)
        try:
            with os.fdopen(fd, "wb") as fh:
                sink = _Recorder(fh)
                self.engine.run(self._cfg["download"], {self._cfg["download_param"]: file_id}, output=sink,
                                **self._call)
        except BaseException:
            os.unlink(path)  # a cut download is never taken for a finished one
            raise
        files[key] = {"name": name, "size": sink.size, "sha256": sink.hexdigest()}
        return path

    def _deliver(self, n: int, entry: Mapping[str, Any]) -> Iterator[tuple[int, Any]]:
        cfg, eng = self._cfg, self.engine
        finished = eng.run(cfg["wait"], {cfg["batch_param"]: entry["id"], **self._poll}, **self._call)
        first, count = entry["first"], entry["count"]
        folder = self._folder()
        keys, paths = [], []
        for field in cfg["result_files"]:
            file_id = finished.get(field) if isinstance(finished, Mapping) else None
            if file_id:
                keys.append(f"{n}-{field}")
                paths.append(self._download(folder, keys[-1], file_id))
        which, offsets, lost = self._index(paths, first, count)
        files = [open(p, "rb") for p in paths]
        try:
            for index in range(max(first, self.done), first + count):
                k = index - first
                if which[k]:
                    fh = files[which[k] - 1]
                    fh.seek(offsets[k])
                    result = self._read(fh.readline(), entry["id"], finished)
                else:
                    result = self._missing(entry["id"], finished, lost)
                self._handle["next"] = index + 1
                if isinstance(result, Error):
                    self._handle["failed"] += 1
                yield index, result
        finally:
            for fh in files:
                fh.close()
        for key, path in zip(keys, paths):
            os.unlink(path)
            self._handle["files"].pop(key, None)

    def _index(self, paths: list[str], first: int, count: int) -> tuple[bytearray, array.array, int]:
        """Where each input's answer line is: file number (1-based, 0 for none) and byte offset.

        A readable line wins over an unreadable one naming the same input.
        Also returns how many lines could not be read nor tied to an input.
        """
        which, unreadable = bytearray(count), bytearray(count)
        offsets = array.array("q", bytes(8 * count))
        lead = self._handle["custom_id_prefix"] + "-"
        field = self._cfg["custom_id_field"]
        lost = 0
        for n, path in enumerate(paths, 1):
            with open(path, "rb") as fh:
                pos = 0
                for line in fh:
                    if line.strip():
                        custom_id, readable = _custom_id(line, field, lead)
                        if isinstance(custom_id, str) and custom_id.startswith(lead) and custom_id[len(lead):].isdigit():
                            k = int(custom_id[len(lead):]) - first
                            if 0 <= k < count and (not which[k] or (unreadable[k] and readable)):
                                which[k], offsets[k], unreadable[k] = n, pos, not readable
                        elif not readable:
                            lost += 1
                    pos += len(line)
        return which, offsets, lost

    def _read(self, raw: bytes, batch_id: str, finished: Any) -> Any:
        """One input's answer line, or the typed error saying why it cannot be read."""
        try:
            line = json.loads(raw)
        except RecursionError:
            line = "nested deeper than the parser goes"
        except ValueError as exc:
            line = str(exc)[:200]
        if isinstance(line, Mapping):
            return self._answer(line, finished)
        why = line if isinstance(line, str) else f"a JSON {type(line).__name__}, not an object"
        return APIResponseError(f"the answer line for this input in batch {batch_id}'s answer file cannot be "
                                f"read: {why}", action=self._handle["action"])

    def _answer(self, line: Mapping[str, Any], finished: Any) -> Any:
        """The body of a 2xx answer line, or the typed error the same answer to `run` would raise."""
        spec, name = self._cfg["answer"], self._handle["action"]
        error = _dig(line, spec["error"])
        if isinstance(error, Mapping):
            return BatchRequestError(str(error.get("message") or "the batch could not carry out this request"),
                                     action=name, body={"error": dict(error)}, code=error.get("code"),
                                     batch_status=_dig(finished, self._status_field()))
        status, body = _dig(line, spec["status"]), _dig(line, spec["body"])
        if not isinstance(status, int):
            return APIResponseError("an answer line has neither a status nor an error", action=name)
        if 200 <= status < 300:
            return body
        error = self.engine.transport.errors.read(body, {}, status)
        return status_error_class(status)(str(error["message"] or f"status {status}"), status_code=status,
                                          action=name, body=body, request_id=_dig(line, spec.get("request_id")),
                                          type=error["type"], code=error["code"], param=error["param"])

    def _missing(self, batch_id: str, finished: Any, lost: int = 0) -> BatchRequestError:
        status = _dig(finished, self._status_field())
        errors = _dig(finished, self._cfg.get("batch_errors"))
        first = errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], Mapping) else None
        why = f": {first.get('message')}" if first and first.get("message") else ""
        if lost:
            why += f" ({lost} line{'s' if lost != 1 else ''} of its answer files could not be read)"
        return BatchRequestError(f"batch {batch_id} ended {status!r} with no answer for this input{why}",
                                 action=self._handle["action"], body={"error": dict(first)} if first else None,
                                 code=first.get("code") if first else None, batch_status=status)

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


def _checked_handle(engine: "Engine", handle: Any) -> dict[str, Any]:
    """A clean copy of a saved handle, or `BatchHandleError` saying what is wrong with it."""
    keys = ("format", "action", "custom_id_prefix", "total", "batches", "next", "failed")
    if not isinstance(handle, Mapping) or any(k not in handle for k in keys):
        raise BatchHandleError("not a batch handle: it needs " + ", ".join(keys))
    if handle["format"] != _HANDLE_FORMAT:
        raise BatchHandleError(f"the batch handle's format is not {_HANDLE_FORMAT}")
    if not isinstance(handle["action"], str) or not isinstance(handle["custom_id_prefix"], str):
        raise BatchHandleError("the handle's action and custom_id_prefix must be text")
    engine.action(handle["action"])
    batches, total, most = handle["batches"], handle["total"], _config(engine)["max_requests"]
    if not (_count(total) and _count(handle["next"]) and _count(handle["failed"])
            and isinstance(batches, list)
            and all(isinstance(b, Mapping) and isinstance(b.get("id"), str) and _count(b.get("first"))
                    and _count(b.get("count")) and b["count"] <= most and b["first"] + b["count"] <= total
                    for b in batches)):
        # The bounds matter: an input's answer is looked up in a table as long as its batch.
        raise BatchHandleError(f"the handle's total, next and failed must be counts, and its batches a list of "
                               f"{{id, first, count}}, each of at most {most} inputs within the total")
    files = handle.get("files", {})
    if not isinstance(files, Mapping) or not all(isinstance(k, str) and isinstance(v, Mapping)
                                                 for k, v in files.items()):
        raise BatchHandleError("the handle's files must map names to download records")
    _owned_folder(handle.get("dir"), handle.get("token"))
    return {**{k: handle[k] for k in keys}, "batches": [{k: b[k] for k in ("id", "first", "count")} for b in batches],
            "dir": handle.get("dir"), "token": handle.get("token"),
            "files": {k: {f: v.get(f) for f in ("name", "size", "sha256")} for k, v in files.items()}}
