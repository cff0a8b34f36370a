"""A loopback stand-in for the Anthropic Messages API, playing its documented behaviour.

    with AnthropicServer() as api:
        eng = engine.Engine(manifest="examples/anthropic.yaml", base_url=api.url, api_key=api.api_key)

It binds 127.0.0.1 on an ephemeral port and plays what docs.anthropic.com/en/api documents:
`x-api-key` auth (401 `authentication_error`), the required `anthropic-version` header, error bodies
`{"type": "error", "error": {"type", "message"}, "request_id"}` with a `request-id` header, lists paged by
`after_id` / `before_id` / `limit` answering `data`, `has_more`, `first_id`, `last_id`, Messages (JSON or
server-sent events ending with `message_stop`), token counting, and Message Batches that go from
`in_progress` to `ended` after a number of retrieves, with JSON Lines results.

Faults are scripted: `fail_next(...)` answers the next matching request with an error (429 or 529 with
`retry-after`, ...), and `stream_fault` cuts a stream or puts an `overloaded_error` event in it. Every
request is recorded in `requests`. `stop()` closes every connection and joins every thread it started.
"""
from __future__ import annotations

import itertools
import json
import socket
import struct
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator
from urllib.parse import parse_qsl

from ._base import Handler, Injected, LoopbackServer

__all__ = ["AnthropicServer", "Recorded", "API_KEY", "MODELS"]

API_KEY = "sk-ant-api03-loopback-SECRET-0123456789"
VERSION = "2023-06-01"

# Newest first, as GET /v1/models lists them.
MODELS = [
    ("claude-opus-4-1-20250805", "Claude Opus 4.1", "2025-08-05T00:00:00Z"),
    ("claude-opus-4-20250514", "Claude Opus 4", "2025-05-22T00:00:00Z"),
    ("claude-sonnet-4-20250514", "Claude Sonnet 4", "2025-05-22T00:00:00Z"),
    ("claude-3-7-sonnet-20250219", "Claude Sonnet 3.7", "2025-02-24T00:00:00Z"),
    ("claude-3-5-haiku-20241022", "Claude Haiku 3.5", "2024-10-22T00:00:00Z"),
    ("claude-3-5-sonnet-20241022", "Claude Sonnet 3.5 (New)", "2024-10-22T00:00:00Z"),
    ("claude-3-haiku-20240307", "Claude Haiku 3", "2024-03-07T00:00:00Z"),
]

_STATUS_OF = {"invalid_request_error": 400, "authentication_error": 401, "billing_error": 402,
              "permission_error": 403, "not_found_error": 404, "request_too_large": 413,
              "rate_limit_error": 429, "api_error": 500, "timeout_error": 504, "overloaded_error": 529}


class Recorded:
    """One request as the server saw it: method, path, query (name -> last value), headers, body."""

    def __init__(self, method: str, target: str, headers: dict[str, str], body: bytes) -> None:
        self.path, _, query = target.partition("?")
        self.method, self.headers, self.body = method, headers, body
        self.query = dict(parse_qsl(query, keep_blank_values=True))

    def json(self) -> Any:
        return json.loads(self.body)


class _Error(Exception):
    def __init__(self, error_type: str, message: str, headers: dict[str, str] | None = None,
                 status: int | None = None) -> None:
        super().__init__(message)
        self.error_type, self.message = error_type, message
        self.status = status or _STATUS_OF[error_type]
        self.headers = headers or {}


class _Handler(Handler):
    """JSON answers as every server's; any other payload is streamed in chunks, `None` a TCP reset."""

    timeout = 10          # an idle keep-alive connection is closed after this

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def reply(self, status: int, payload: Any, headers: dict[str, str]) -> None:
        if isinstance(payload, (dict, list)):
            super().reply(status, payload, headers)
            return
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for chunk in payload:
            if chunk is None:
                # A TCP reset: the body stops mid-stream, without its last chunk.
                self.close_connection = True
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()
                return
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


def _iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


class AnthropicServer(LoopbackServer):
    """The fake API; use as a context manager (or `start()` / `stop()`)."""

    methods = ("GET", "POST", "DELETE")
    request_type = Recorded
    handler_type = _Handler
    quiet_errors = True  # a client that hangs up mid-answer is what fault tests do

    def __init__(self, api_key: str = API_KEY, polls_to_end: int = 2) -> None:
        super().__init__()
        self.api_key = api_key
        self.polls_to_end = polls_to_end          # retrieves a batch takes to go from in_progress to ended
        self.stream_fault: str | None = None      # None | "cut" (reset) | "truncated" (clean end) | "overloaded"
        self.models = [{"type": "model", "id": i, "display_name": n, "created_at": c} for i, n, c in MODELS]
        self.batches: list[dict[str, Any]] = []   # newest first
        self._batch_requests: dict[str, list[dict[str, Any]]] = {}
        self._polls: dict[str, int] = {}
        self._faults: Injected[_Error] = Injected()
        self._ids = itertools.count(1)

    # -- scripting ---------------------------------------------------------------
    def fail_next(self, method: str, path: str, status: int, error_type: str, message: str,
                  headers: dict[str, str] | None = None) -> None:
        """Answer the next `method path` request (path prefix) with this error, once."""
        self._faults.add(_Error(error_type, message, dict(headers or {}), status), method, path, prefix=True)

    def add_batches(self, count: int) -> list[str]:
        """`count` ended batches, created one after the other; their ids, newest first."""
        for _ in range(count):
            self._create_batch([{"custom_id": "r1", "params": {"model": MODELS[0][0]}}], ended=True)
        return [b["id"] for b in self.batches[:count]]

    def _next_id(self, prefix: str) -> str:
        return f"{prefix}_{next(self._ids):024d}"

    # -- the API -----------------------------------------------------------------
    def answer(self, req: Recorded) -> tuple[int, Any, dict[str, str]]:
        """`handle`'s answer, or its error in Anthropic's error body, with the headers of every answer."""
        request_id = f"req_{next(self._ids):024d}"
        try:
            status, headers, payload = self.handle(req)
        except _Error as e:
            status, headers = e.status, e.headers
            payload = {"type": "error", "error": {"type": e.error_type, "message": e.message},
                       "request_id": request_id}
        return status, payload, {"request-id": request_id, "anthropic-ratelimit-requests-limit": "50",
                                 "anthropic-ratelimit-requests-remaining": "49",
                                 "anthropic-ratelimit-requests-reset": _iso(_now() + timedelta(seconds=60)),
                                 **headers}

    def handle(self, req: Recorded) -> tuple[int, dict[str, str], Any]:
        """(status, headers, body): body is a JSON value, or an iterator of byte chunks to stream."""
        fault = self._faults.take(req.method, req.path)
        if fault is not None:
            raise fault
        if req.headers.get("x-api-key") != self.api_key:
            raise _Error("authentication_error", "invalid x-api-key")
        if req.headers.get("anthropic-version") != VERSION:
            raise _Error("invalid_request_error", "anthropic-version: header is required and must be a valid "
                         "version")
        parts = req.path.strip("/").split("/")
        if parts[:1] != ["v1"]:
            raise _Error("not_found_error", "Not found")
        route = (req.method, *parts[1:])
        if route == ("POST", "messages"):
            return self._messages(req)
        if route == ("POST", "messages", "count_tokens"):
            body = self._json(req, ("model", "messages"))
            return 200, {}, {"input_tokens": 3 + sum(_words(m.get("content")) for m in body["messages"])}
        if route == ("GET", "models"):
            return 200, {}, self._page(self.models, req.query)
        if route[:2] == ("GET", "models") and len(route) == 3:
            for m in self.models:
                if m["id"] == route[2]:
                    return 200, {}, m
            raise _Error("not_found_error", f"model: {route[2]}")
        if route == ("POST", "messages", "batches"):
            body = self._json(req, ("requests",))
            return 200, {}, self._create_batch(body["requests"])
        if route == ("GET", "messages", "batches"):
            return 200, {}, self._page(self.batches, req.query)
        if route[1:3] == ("messages", "batches") and len(route) >= 4:
            batch = self._batch(route[3])
            rest = (route[0], *route[4:])
            if rest == ("GET",):
                return 200, {}, self._retrieve(batch)
            if rest == ("POST", "cancel"):
                if batch["processing_status"] == "in_progress":
                    batch["processing_status"] = "canceling"
                    batch["cancel_initiated_at"] = _iso(_now())
                return 200, {}, batch
            if rest == ("DELETE",):
                if batch["processing_status"] != "ended":
                    raise _Error("invalid_request_error", "Message Batch "
                                 f"{batch['id']} cannot be deleted while processing; cancel it first.")
                self.batches.remove(batch)
                return 200, {}, {"id": batch["id"], "type": "message_batch_deleted"}
            if rest == ("GET", "results"):
                if batch["processing_status"] != "ended":
                    raise _Error("invalid_request_error", f"Message Batch {batch['id']} has not yet ended; "
                                 "results are not available.")
                return 200, {"Content-Type": "application/x-jsonl"}, self._results(batch)
        raise _Error("not_found_error", "Not found")

    def _json(self, req: Recorded, required: tuple[str, ...]) -> dict[str, Any]:
        if not req.headers.get("content-type", "").startswith("application/json"):
            raise _Error("invalid_request_error", "Content-Type must be application/json")
        try:
            body = req.json()
        except ValueError:
            raise _Error("invalid_request_error", "The request body is not valid JSON.") from None
        for name in required:
            if name not in body:
                raise _Error("invalid_request_error", f"{name}: Field required")
        return body

    def _page(self, items: list[dict[str, Any]], query: dict[str, str]) -> dict[str, Any]:
        """A page of a newest-first list, as every Anthropic list answers."""
        try:
            limit = int(query.get("limit", "20"))
        except ValueError:
            raise _Error("invalid_request_error", "limit: Input should be a valid integer") from None
        if not 1 <= limit <= 1000:
            raise _Error("invalid_request_error", "limit: Input should be between 1 and 1000")
        after, before = query.get("after_id"), query.get("before_id")
        if after and before:
            raise _Error("invalid_request_error", "Only one of before_id and after_id may be given.")
        ids = [i["id"] for i in items]
        for cursor in (after, before):
            if cursor and cursor not in ids:
                raise _Error("invalid_request_error", f"Invalid cursor: {cursor}")
        if before:
            end = ids.index(before)
            start = max(0, end - limit)
            page, more = items[start:end], start > 0
        else:
            start = ids.index(after) + 1 if after else 0
            page, more = items[start:start + limit], start + limit < len(items)
        return {"data": page, "has_more": more, "first_id": page[0]["id"] if page else None,
                "last_id": page[-1]["id"] if page else None}

    def _messages(self, req: Recorded) -> tuple[int, dict[str, str], Any]:
        body = self._json(req, ("model", "max_tokens", "messages"))
        if not isinstance(body["max_tokens"], int) or body["max_tokens"] < 1:
            raise _Error("invalid_request_error", "max_tokens: Input should be greater than or equal to 1")
        if body["model"] not in [m["id"] for m in self.models]:
            raise _Error("not_found_error", f"model: {body['model']}")
        message = _reply(self._next_id("msg"), body)
        if body.get("stream") is True:
            return 200, {"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"}, \
                self._sse(message)
        return 200, {}, message

    def _sse(self, message: dict[str, Any]) -> Iterator[bytes | None]:
        """The documented event flow; `stream_fault` breaks it after the first delta."""
        text = message["content"][0]["text"]
        start = {**message, "content": [], "stop_reason": None,
                 "usage": {**message["usage"], "output_tokens": 1}}
        yield _event("message_start", {"type": "message_start", "message": start})
        yield _event("content_block_start", {"type": "content_block_start", "index": 0,
                                             "content_block": {"type": "text", "text": ""}})
        yield _event("ping", {"type": "ping"})
        words = text.split(" ")
        for i, word in enumerate(words):
            piece = word if i == 0 else " " + word
            yield _event("content_block_delta", {"type": "content_block_delta", "index": 0,
                                                 "delta": {"type": "text_delta", "text": piece}})
            if i == 0 and self.stream_fault == "overloaded":
                yield _event("error", {"type": "error", "error": {"type": "overloaded_error",
                                                                  "message": "Overloaded"}})
                return
            if i == 0 and self.stream_fault == "cut":
                yield None          # a TCP reset mid-body
                return
            if i == 0 and self.stream_fault == "truncated":
                return              # a clean end of the body, but without message_stop
        yield _event("content_block_stop", {"type": "content_block_stop", "index": 0})
        yield _event("message_delta", {"type": "message_delta",
                                       "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                                       "usage": {"output_tokens": message["usage"]["output_tokens"]}})
        yield _event("message_stop", {"type": "message_stop"})

    def _create_batch(self, requests: list[dict[str, Any]], ended: bool = False) -> dict[str, Any]:
        if not isinstance(requests, list) or not requests:
            raise _Error("invalid_request_error", "requests: List should have at least 1 item")
        seen = [r.get("custom_id") for r in requests]
        if len(set(seen)) != len(seen):
            raise _Error("invalid_request_error", "requests: custom_id values must be unique")
        now = _now()
        batch = {"id": self._next_id("msgbatch"), "type": "message_batch", "processing_status": "in_progress",
                 "request_counts": {"processing": len(requests), "succeeded": 0, "errored": 0, "canceled": 0,
                                    "expired": 0},
                 "ended_at": None, "created_at": _iso(now), "expires_at": _iso(now + timedelta(hours=24)),
                 "archived_at": None, "cancel_initiated_at": None, "results_url": None}
        with self.lock:
            self.batches.insert(0, batch)
            self._batch_requests[batch["id"]] = requests
            self._polls[batch["id"]] = 0
        if ended:
            self._end(batch)
        return batch

    def _batch(self, batch_id: str) -> dict[str, Any]:
        for b in self.batches:
            if b["id"] == batch_id:
                return b
        raise _Error("not_found_error", f"Message Batch {batch_id} not found")

    def _retrieve(self, batch: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            self._polls[batch["id"]] += 1
            due = self._polls[batch["id"]] >= self.polls_to_end or batch["processing_status"] == "canceling"
        if batch["processing_status"] != "ended" and due:
            self._end(batch)
        return batch

    def _end(self, batch: dict[str, Any]) -> None:
        counts = batch["request_counts"]
        n = counts["processing"]
        counts["processing"] = 0
        if batch["processing_status"] == "canceling":
            counts["canceled"] += n
        else:
            errored = sum(1 for r in self._batch_requests[batch["id"]] if self._bad(r))
            counts["errored"] += errored
            counts["succeeded"] += n - errored
        batch["processing_status"] = "ended"
        batch["ended_at"] = _iso(_now())
        batch["results_url"] = f"{self.url}/v1/messages/batches/{batch['id']}/results"

    def _bad(self, request: dict[str, Any]) -> bool:
        """A batch request that fails on its own (its result is `errored`): one naming an unknown model."""
        return request.get("params", {}).get("model") not in [m["id"] for m in self.models]

    def _results(self, batch: dict[str, Any]) -> Iterator[bytes]:
        canceled = batch["request_counts"]["canceled"] > 0
        for r in self._batch_requests[batch["id"]]:
            if canceled:
                result: dict[str, Any] = {"type": "canceled"}
            elif self._bad(r):
                result = {"type": "errored", "error": {"type": "error", "error": {
                    "type": "not_found_error", "message": f"model: {r['params'].get('model')}"}}}
            else:
                result = {"type": "succeeded", "message": _reply(self._next_id("msg"), r["params"])}
            yield json.dumps({"custom_id": r["custom_id"], "result": result}).encode() + b"\n"


def _words(content: Any) -> int:
    if isinstance(content, str):
        return len(content.split())
    return sum(len(str(b.get("text", "")).split()) for b in content or [] if isinstance(b, dict))


def _reply(msg_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """The assistant's Message: it answers "Hello! You said: <last user text>"."""
    last = body.get("messages", [{}])[-1].get("content", "")
    said = last if isinstance(last, str) else " ".join(str(b.get("text", "")) for b in last)
    text = f"Hello! You said: {said}"
    return {"id": msg_id, "type": "message", "role": "assistant", "model": body.get("model"),
            "content": [{"type": "text", "text": text}], "stop_reason": "end_turn", "stop_sequence": None,
            "usage": {"input_tokens": 3 + sum(_words(m.get("content")) for m in body.get("messages", [])),
                      "output_tokens": len(text.split()), "cache_creation_input_tokens": 0,
                      "cache_read_input_tokens": 0}}


def _event(name: str, data: dict[str, Any]) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()
