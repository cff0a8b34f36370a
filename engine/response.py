"""Decoding the server's answer, once, on arrival.

The content type the server sends decides the decoding (JSON, text, bytes);
the action's declared kind decides what the caller gets. Fields the
description did not list are kept: the API grows, and this engine never
rejects an answer for saying more than it was told to expect.
"""
from __future__ import annotations

import contextlib
import json
import os
import stat
from typing import IO, Any, Mapping

import requests

from .errors import APIConnectionError, APIResponseError, OutputError
from .files import temporary_beside

__all__ = ["decode", "Result", "write_to"]

_CHUNK = 1 << 16


class Result:
    """The decoded answer with what came with it (`run(..., raw=True)`)."""

    __slots__ = ("data", "status_code", "headers", "request_id", "elapsed", "attempts", "waits", "url", "_prefix")

    def __init__(self, data: Any, response: requests.Response, request_id_header: str,
                 elapsed: float, attempts: int, waits: list[float], rate_limit_prefix: str | None = None) -> None:
        self.data = data
        self.status_code = response.status_code
        self.headers: Mapping[str, str] = response.headers
        self.url: str = response.url or ""
        self.request_id = response.headers.get(request_id_header)
        self.elapsed = elapsed
        self.attempts = attempts
        self.waits = waits
        self._prefix = (rate_limit_prefix or "").lower()

    @property
    def rate_limits(self) -> dict[str, str]:
        """The rate-limit headers (the manifest's `rate_limits.header_prefix`), as the server sent them."""
        if not self._prefix:
            return {}
        return {k.lower(): v for k, v in self.headers.items() if k.lower().startswith(self._prefix)}

    def __repr__(self) -> str:
        return (f"<Result status={self.status_code} request_id={self.request_id} "
                f"attempts={self.attempts} elapsed={self.elapsed:.3f}s>")


def write_to(response: requests.Response, output: str | os.PathLike | IO[bytes], *, action: str,
             attempts: int = 1, request_id: str | None = None) -> int:
    """Stream a binary answer to a path or file object in chunks; return the byte count."""
    try:
        if isinstance(output, (str, os.PathLike)):
            return _to_path(response, os.fspath(output), action, attempts, request_id)
        return _copy(response, output, action, attempts, request_id)
    finally:
        response.close()


def _to_path(response: requests.Response, name: str, action: str, attempts: int, request_id: str | None) -> int:
    """Write a path's new content.

    A regular file (or a new path) is written under a name of its own beside it
    and renamed over it at the end: a cut download never leaves a file that looks
    complete, and two downloads to one path never mix. Anything else (a FIFO, a
    device) is written into, as curl does, since renaming over it would replace it.
    Through a symlink, the link stays and the file it names is written.
    """
    target = os.path.realpath(name)
    try:
        mode: int | None = os.stat(target).st_mode
    except FileNotFoundError:
        mode = None
    except OSError as exc:
        raise OutputError(f"cannot write to {name}: {exc.strerror}") from None
    if mode is not None and stat.S_ISDIR(mode):
        raise OutputError(f"cannot write to {name}: it is a folder")
    if mode is not None and not stat.S_ISREG(mode):
        try:
            with open(target, "wb") as fh:
                return _copy(response, fh, action, attempts, request_id)
        except OSError as exc:
            raise OutputError(f"cannot write to {name}: {exc.strerror or exc}") from None
    try:
        fd, tmp = temporary_beside(target)
    except OSError as exc:
        raise OutputError(f"cannot write to {name}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            written = _copy(response, fh, action, attempts, request_id)
        os.replace(tmp, target)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)  # ours: created exclusively, under a name nobody else picks
        if isinstance(exc, OSError):
            raise OutputError(f"cannot write to {name}: {exc.strerror or exc}") from None
        raise
    return written


def _copy(response: requests.Response, fh: IO[bytes], action: str, attempts: int, request_id: str | None) -> int:
    written = 0
    try:
        for chunk in response.iter_content(_CHUNK):
            fh.write(chunk)
            written += len(chunk)
    except (requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError,
            requests.exceptions.ContentDecodingError, requests.exceptions.Timeout) as exc:
        raise APIConnectionError(f"connection dropped while downloading after {written} bytes: "
                                 f"{type(exc).__name__}", action=action, attempts=attempts,
                                 request_id=request_id) from None
    return written


def _media_type(response: requests.Response) -> str:
    return response.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def _text(content: bytes, charset: str | None) -> str:
    try:
        return content.decode(charset or "utf-8", "replace")
    except LookupError:  # a charset Python does not know: UTF-8, the web's default, with replacements
        return content.decode("utf-8", "replace")


def decode(response: requests.Response, kind: str, *, action: str, request_id: str | None = None,
           attempts: int = 1) -> Any:
    """The caller's value for a 2xx answer of the declared kind."""
    if kind == "binary":
        return response.content
    content = response.content
    media = _media_type(response)
    if kind == "none" or (not content and response.status_code == 204):
        return None
    if kind == "text":  # asked for text (a transcript as srt, say): the body is the answer, whatever its type
        return _text(content, response.encoding)
    if media.endswith("json") or media.endswith("+json") or (not media and kind == "json"):
        try:
            return json.loads(content)
        except (ValueError, RecursionError) as exc:  # also bytes that are not UTF-8, and too deep nesting
            why = f"{exc.msg} at byte {exc.pos}" if isinstance(exc, json.JSONDecodeError) else type(exc).__name__
        # Raised outside the handler: the parser's exception would ride along as
        # __context__, holding the whole body (`.doc`), which may echo a key.
        raise APIResponseError(f"the answer is not valid JSON ({why})",
                               action=action, request_id=request_id, attempts=attempts)
    if kind == "json":
        # Declared JSON but something else came (e.g. an HTML error page from a proxy).
        raise APIResponseError(f"expected JSON, got content type {media or 'none'!r}",
                               action=action, request_id=request_id, attempts=attempts)
    return content

