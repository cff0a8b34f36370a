"""The plumbing every loopback API server shares, so each server's file holds only its API's behaviour.

A server subclasses `LoopbackServer` and writes `answer(request) -> (status, payload, headers)`: the
payload goes out as JSON, or as it is when it is bytes. It binds 127.0.0.1 on an ephemeral port, keeps
every request in `requests` (before answering it), and `stop()` (or the end of the `with`) closes every
connection, keep-alive ones too, and joins every thread it started. `Injected` is the queue of one-off
answers tests script (a 429 before the next call, ...).
"""
from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Generic, TypeVar
from urllib.parse import parse_qs, urlsplit

T = TypeVar("T")
S = TypeVar("S", bound="LoopbackServer")


class Request:
    """One request as it arrived: method, path, query (name -> list of values), headers (lower-case), body."""

    def __init__(self, method: str, target: str, headers: dict[str, str], body: bytes) -> None:
        url = urlsplit(target)
        self.method, self.path, self.headers, self.body = method, url.path, headers, body
        self.query = parse_qs(url.query, keep_blank_values=True)

    def one(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None

    def json(self) -> Any:
        return json.loads(self.body)


class Injected(Generic[T]):
    """One-off answers queued by a test, each served once, in order, to the first request it matches.

    A `method` or `key` of None matches any request; `prefix=True` matches keys starting with `key`;
    `after=n` lets n matching requests through first.
    """

    def __init__(self) -> None:
        self._queue: list[list[Any]] = []
        self._lock = threading.Lock()

    def add(self, answer: T, method: str | None = None, key: str | None = None, *, prefix: bool = False,
            after: int = 0) -> None:
        with self._lock:
            self._queue.append([method, key, prefix, after, answer])

    def take(self, method: str = "", key: str = "") -> T | None:
        """The first queued answer for this request, removed; None when it is to be answered normally."""
        with self._lock:
            for i, (want_method, want_key, prefix, after, answer) in enumerate(self._queue):
                if want_method not in (None, method):
                    continue
                if want_key is not None and not (key.startswith(want_key) if prefix else key == want_key):
                    continue
                if after:
                    self._queue[i][3] = after - 1
                    return None
                del self._queue[i]
                return answer
        return None


class Handler(BaseHTTPRequestHandler):
    """Reads one request, records it, asks the server for the answer and writes it."""

    protocol_version = "HTTP/1.1"
    server: "_HTTPServer"

    def log_message(self, *args: Any) -> None:
        """Quiet: tests look at `requests`."""

    def serve(self) -> None:
        owner = self.server.owner
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        req = owner.request_type(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
        with owner.lock:
            owner.requests.append(req)
        self.reply(*owner.answer(req))

    def reply(self, status: int, payload: Any, headers: dict[str, str]) -> None:
        """The answer with a Content-Length: bytes as they are, anything else as JSON."""
        headers = dict(headers)
        if isinstance(payload, bytes):
            data = payload
        else:
            data = json.dumps(payload, indent=self.server.owner.json_indent).encode()
            headers.setdefault("Content-Type", self.server.owner.content_type)
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()


class _HTTPServer(ThreadingHTTPServer):
    """Keeps its handler threads and open connections, so a stop can close and join them all."""

    daemon_threads = True
    block_on_close = False  # LoopbackServer.stop() joins the threads itself, after closing their sockets

    def __init__(self, owner: "LoopbackServer", handler: type[Handler]) -> None:
        self.owner = owner
        self._handler_threads: list[threading.Thread] = []
        self._connections: set[socket.socket] = set()
        self._lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(target=self.process_request_thread, args=(request, client_address), daemon=True)
        with self._lock:
            self._handler_threads = [t for t in self._handler_threads if t.is_alive()] + [thread]
            self._connections.add(request)
        thread.start()

    def shutdown_request(self, request: Any) -> None:
        with self._lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not self.owner.quiet_errors:
            super().handle_error(request, client_address)

    def close_connections(self) -> list[threading.Thread]:
        """Wake every handler (idle keep-alive ones too) by closing its socket; the threads to join."""
        with self._lock:
            connections, threads = list(self._connections), list(self._handler_threads)
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        return threads


class LoopbackServer:
    """An HTTP server on 127.0.0.1 whose answers come from `answer()`; a context manager.

    Class attributes a server may set: `methods` it serves (others get a 501), `content_type` and
    `json_indent` of its JSON answers, `request_type` (called with method, target, headers, body),
    `handler_type`, `poll_interval` of the accept loop, and `quiet_errors` for clients that hang up.
    """

    methods: tuple[str, ...] = ("GET", "POST")
    content_type = "application/json"
    json_indent: int | None = None
    request_type: Callable[[str, str, dict[str, str], bytes], Any] = Request
    handler_type: type[Handler] = Handler
    poll_interval = 0.05
    quiet_errors = False

    def __init__(self) -> None:
        self.requests: list[Any] = []
        self.lock = threading.Lock()
        handler = type(self.handler_type.__name__, (self.handler_type,),
                       {f"do_{method}": self.handler_type.serve for method in self.methods})
        self._http = _HTTPServer(self, handler)
        self.port: int = self._http.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._http.serve_forever, kwargs={"poll_interval": self.poll_interval},
                                        name=f"{type(self).__name__}-loopback", daemon=True)

    def answer(self, req: Any) -> tuple[int, Any, dict[str, str]]:
        """(status, payload, headers) for one request; `req` is already in `requests`."""
        raise NotImplementedError

    def start(self: S) -> S:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close every open connection and join every thread."""
        self._http.shutdown()
        self._http.server_close()
        for thread in self._http.close_connections() + [self._thread]:
            thread.join(timeout=5)

    def __enter__(self: S) -> S:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
