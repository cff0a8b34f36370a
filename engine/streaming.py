"""Server-sent events: a decoder that follows the WHATWG parsing rules, and a stream over a response.

The decoder works on byte chunks as they arrive: lines may end in CRLF, LF
or CR (a CR at the end of one chunk and an LF at the start of the next are
one line end), a leading BOM is dropped, comments are skipped, multi-line
`data:` is joined with newlines, and a block with no data is not an event.

`EventStream` hands each event to the caller as soon as its blank line
arrives, ends at the declared sentinel (`[DONE]`), raises on error events,
and never ends quietly when the connection drops early. A drop before the
first event is retried through `reopen` (the transport's policy decides);
after it, never: the caller already has part of the answer.
"""
from __future__ import annotations

import http.client
import json
import socket
from typing import Any, Callable, Iterable, Iterator

import requests
import urllib3

from .components.paths import MISSING
from .errors import APIConnectionError, APIError, APIResponseError, APITimeoutError
from .transport import WATCHDOG, PastDeadline, cutter, guarded

__all__ = ["ServerSentEvent", "iter_sse", "EventStream"]

_BOM = b"\xef\xbb\xbf"
_READ = 65536
_DROPS = (requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError,
          requests.exceptions.Timeout, urllib3.exceptions.HTTPError, http.client.HTTPException,
          socket.error, ValueError)


class ServerSentEvent:
    """One dispatched event; `data` is decoded JSON when the data is JSON, else the text."""

    __slots__ = ("event", "data", "raw", "id", "retry", "is_json")

    def __init__(self, event: str | None, raw: str, id: str | None = None, retry: int | None = None) -> None:
        self.event = event
        self.raw = raw
        self.id = id
        self.retry = retry
        self.is_json = True
        try:
            self.data: Any = json.loads(raw)
        except (ValueError, RecursionError):  # not JSON, or nested deeper than the parser goes
            self.data = raw
            self.is_json = False

    def __repr__(self) -> str:
        preview = self.raw if len(self.raw) <= 60 else self.raw[:57] + "..."
        return f"ServerSentEvent(event={self.event!r}, data={preview!r})"


def iter_sse(chunks: Iterable[bytes], *, max_event_bytes: int | None = None) -> Iterator[ServerSentEvent]:
    """Decode an event stream given as byte chunks of any size, in time linear in its length.

    A line's pieces wait in a list and are joined once, when its newline comes;
    only the newest chunk is searched for one. Past `max_event_bytes` (one
    event's data plus the line still arriving) it raises `APIResponseError`,
    so a server cannot make the decoder hold an unbounded line.
    """
    pending: list[bytes] = []  # pieces of the line whose end has not arrived
    pending_len = 0
    head = b""  # the first bytes, until it is known whether they start with a BOM
    pending_cr = False
    started = False
    event: str | None = None
    data: list[bytes] = []
    data_len = 0
    last_id: str | None = None
    retry: int | None = None
    for chunk in chunks:
        if not chunk:
            continue
        if pending_cr:
            pending_cr = False
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
        if b"\r" in chunk:
            pending_cr = chunk[-1:] == b"\r"
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        if not started:
            head += chunk
            if len(head) < 3 and _BOM.startswith(head):
                continue
            started = True
            chunk = head[3:] if head.startswith(_BOM) else head
        if b"\n" not in chunk:
            pending.append(chunk)
            pending_len += len(chunk)
            if max_event_bytes is not None and data_len + pending_len > max_event_bytes:
                raise _too_large(max_event_bytes)
            continue
        lines = chunk.split(b"\n")
        if pending:
            pending.append(lines[0])
            lines[0] = b"".join(pending)
        tail = lines.pop()
        pending, pending_len = ([tail], len(tail)) if tail else ([], 0)
        for line in lines:
            if not line:
                if data:
                    yield ServerSentEvent(event, b"\n".join(data).decode("utf-8", "replace"), last_id, retry)
                event, data, data_len = None, [], 0
                continue
            if line[:5] == b"data:":
                value = line[5:]
                value = value[1:] if value[:1] == b" " else value
                data_len += len(value) + (1 if data else 0)  # the lines are joined with newlines
                data.append(value)
                if max_event_bytes is not None and data_len > max_event_bytes:
                    raise _too_large(max_event_bytes)
                continue
            if line[:1] == b":":
                continue
            name, colon, value = line.partition(b":")
            if colon and value[:1] == b" ":
                value = value[1:]
            if name == b"event":
                event = value.decode("utf-8", "replace")
            elif name == b"data":  # "data" with no colon: an empty data line
                data_len += 1 if data else 0
                data.append(b"")
            elif name == b"id":
                if b"\0" not in value:
                    last_id = value.decode("utf-8", "replace")
            elif name == b"retry":
                if value.isdigit():
                    retry = int(value)
        if max_event_bytes is not None and data_len + pending_len > max_event_bytes:
            raise _too_large(max_event_bytes)
    # An event without its closing blank line is discarded, as the spec says.


def _too_large(limit: int) -> APIResponseError:
    return APIResponseError(f"an event of the stream is larger than the {limit}-byte limit (max_response_bytes)")


def _timed_out(exc: BaseException) -> bool:
    """A read that waited past the timeout (requests and urllib3 each wrap it their own way)."""
    inner = exc.args[0] if exc.args else None
    return any(isinstance(e, (TimeoutError, urllib3.exceptions.TimeoutError, requests.exceptions.Timeout))
               for e in (exc, inner))


class EventStream:
    """Iterate the events of a streamed answer; close it to release the connection early."""

    def __init__(self, response: requests.Response, *, action: str, framing: Any = None, errors: Any = None,
                 request_id: str | None = None, attempts: int = 1, read_timeout: float | None = None,
                 scrub: Callable[[Any], Any] = lambda value: value,
                 reopen: Callable[[APIConnectionError], requests.Response] | None = None,
                 max_event_bytes: int | None = None,
                 first_event_by: float | None = None, total_timeout: float | None = None,
                 resume: Callable[[Any, Any], Any] | None = None) -> None:
        from .components import build

        self.response = response
        self.action = action
        # How the bytes are cut into events and how the stream ends (engine.components.streams).
        self.framing = framing if framing is not None else build("stream", {"type": "sse"})
        self.errors = errors if errors is not None else build("errors", {"type": "json", "message": "error.message"})
        self.request_id = request_id
        self.attempts = attempts
        self.read_timeout = read_timeout
        self.scrub = scrub  # takes credentials out of what the server sent back
        self._reopen = reopen  # sends the request again, or raises the failure it is given
        self.max_event_bytes = max_event_bytes
        # The attempt's total timeout runs until the first event (time.monotonic); a live stream
        # after it has only its read timeout. Set again by `reopen` for each new attempt.
        self.first_event_by = first_event_by
        self.total_timeout = total_timeout
        self.count = 0
        self._closed = False
        self._last: str | None = None
        self._events: Any = self._frames()
        # Going on after a break once events were handed out: the framing's declared `resume`, sent by the Engine.
        self._resume = resume if self.framing.resume is not None else None
        self._first_event: ServerSentEvent | None = None
        self._last_event: ServerSentEvent | None = None
        self._skip_through: Any = None
        self._inner: Any = None
        self.resumes = 0

    def _frames(self) -> Iterator[ServerSentEvent]:
        return self.framing.frame(self._chunks(), self.max_event_bytes)

    def _chunks(self) -> Iterator[bytes]:
        raw = self.response.raw
        read1 = getattr(raw, "read1", None)
        if read1 is None:  # a transport without read1: requests yields data as it comes
            yield from self.response.iter_content(chunk_size=None)
            return
        if hasattr(raw, "decode_content"):
            raw.decode_content = True  # a compressed stream is decoded as it arrives (requests turns it off)
        while True:
            block = read1(_READ)
            if not block:
                return
            yield block

    @property
    def closed(self) -> bool:
        return self._closed

    def __iter__(self) -> "EventStream":
        return self

    def __next__(self) -> ServerSentEvent:
        while True:
            if self._closed:
                raise StopIteration
            token = None
            if self.count == 0 and self.first_event_by is not None:
                cut = cutter(self.response)
                token = WATCHDOG.guard(cut, self.first_event_by) if cut is not None else None
            try:
                sse = self._next_event(token)
            except StopIteration:
                if not self.framing.ends_on_close and self._last not in self.framing.terminal_events \
                        and self._go_on():
                    continue
                self.close()
                if not self.framing.ends_on_close and self._last not in self.framing.terminal_events:
                    marker = repr(self.framing.done) if self.framing.done else "a terminal event"
                    raise APIConnectionError(
                        f"the stream ended after {self.count} events without its end marker {marker}",
                        action=self.action, attempts=self.attempts, request_id=self.request_id) from None
                raise
            except APIResponseError as exc:
                self.close()
                raise APIResponseError(exc.message, action=self.action, attempts=self.attempts,
                                       request_id=self.request_id).redacted(self.scrub) from None
            except (PastDeadline, *_DROPS) as exc:
                failure = self._failure(exc)
                reopen = self._reopen
                if self.count and self._go_on():
                    continue
                if reopen is None or self._closed or self.count:  # closed by the caller, or too late
                    self.close()
                    raise failure from None
            except BaseException:
                self.close()  # interrupted mid-read: the rest of this answer is never read, nor asked for again
                raise
            else:
                if self._skip_through is not None:  # replayed by a resume: handed out already
                    seq = self.framing.resume.sequence.get(sse.data) if sse.is_json else None
                    if isinstance(seq, (int, float)) and not isinstance(seq, bool) and seq <= self._skip_through:
                        continue
                    self._skip_through = None
                return self._dispatch(sse)
            self._reconnect(reopen, failure)

    def _go_on(self) -> bool:
        """After a break with events handed out: continue through the declared resume call, if it applies."""
        spec = self.framing.resume
        if self._resume is None or self._closed or not self.count or self.resumes >= spec.max_resumes:
            return False
        last = self._last_event
        seq = spec.sequence.get(last.data) if last is not None and last.is_json else None
        if not isinstance(seq, (int, float)) or isinstance(seq, bool):
            return False  # no position to go on from: nothing can promise no event is lost or repeated
        inner = self._resume(self._first_event, last)
        if inner is None:
            return False
        self.response.close()
        if self._inner is not None:
            self._inner.close()
        self._inner, self._events, self._skip_through = inner, iter(inner), seq
        self.resumes += 1
        return True

    def _next_event(self, token: int | None) -> ServerSentEvent:
        """The next event, with the connection under the watchdog while `token` holds it."""
        if token is None:
            return next(self._events)
        return guarded(token, lambda: next(self._events))

    def _failure(self, exc: BaseException) -> APIConnectionError:
        if isinstance(exc, PastDeadline):
            after = f" after {self.total_timeout:g}s" if self.total_timeout is not None else ""
            return APITimeoutError(f"total timeout{after} before the first event",
                                   phase="total", timeout=self.total_timeout, action=self.action,
                                   attempts=self.attempts, request_id=self.request_id).redacted(self.scrub)
        if _timed_out(exc):
            after = f" after {self.read_timeout:g}s" if self.read_timeout is not None else ""
            return APITimeoutError(f"read timeout{after}, {self.count} events in", phase="read",
                                   timeout=self.read_timeout, action=self.action, attempts=self.attempts,
                                   request_id=self.request_id).redacted(self.scrub)
        return APIConnectionError(f"the stream was cut after {self.count} events: {type(exc).__name__}",
                                  action=self.action, attempts=self.attempts,
                                  request_id=self.request_id).redacted(self.scrub)

    def _reconnect(self, reopen: Callable[[APIConnectionError], requests.Response], failure: APIConnectionError) -> None:
        """Replace the broken answer with a new one, or raise: the policy and budget are the transport's."""
        self.response.close()
        try:
            response = reopen(failure)
        except BaseException:
            self._closed = True
            raise
        if self._closed:  # the caller closed the stream while it waited
            response.close()
            return
        self.response = response
        self._events = self._frames()

    def _dispatch(self, sse: ServerSentEvent) -> ServerSentEvent:
        framing = self.framing
        if sse.raw == framing.done:
            self.close()
            raise StopIteration
        error_field = framing.error_field
        if sse.is_json:
            if sse.event is None and framing.event_field is not None:
                named = framing.event_field.get(sse.data)
                sse.event = named if isinstance(named, str) else None
            in_band = error_field is not None and type(sse.data) is dict and error_field.get(sse.data) is not MISSING
        else:
            in_band = False
            if framing.json and sse.event not in framing.error_events:
                self.close()
                raise APIResponseError(f"event {self.count + 1} of the stream is not JSON "
                                       f"({len(sse.raw)} characters of data)", action=self.action,
                                       attempts=self.attempts, request_id=self.request_id)
        if in_band or sse.event in framing.error_events:
            self.close()
            if not sse.is_json:
                body: Any = sse.raw
            elif in_band or error_field is None:
                body = sse.data
            else:  # an error event whose data is the error object itself: shaped as an error answer
                body = {error_field.text: sse.data}
            error = self.errors.read(body, {}, 200)
            raise APIError(str(error["message"] or sse.raw or "error event"), action=self.action,
                           attempts=self.attempts, request_id=self.request_id, body=body, type=error["type"],
                           code=error["code"], param=error["param"]).redacted(self.scrub)
        self.count += 1
        self._last = sse.event
        if self._first_event is None:
            self._first_event = sse
        self._last_event = sse
        return sse

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.response.close()
            if self._inner is not None:
                self._inner.close()

    def __enter__(self) -> "EventStream":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<EventStream {self.action} events={self.count} closed={self._closed}>"
