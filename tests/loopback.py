"""A scriptable HTTP/1.1 server on 127.0.0.1 for tests that need real sockets.

    with Loopback() as srv:
        srv.route("GET", "/v1/models", lambda req: Reply(200, {"data": []}))
        eng = engine.Engine(api_key="k", base_url=srv.url + "/v1")

A handler gets the parsed request and returns a `Reply`, or drives the socket
itself (`req.reset()`, `req.send_raw(...)`) to simulate failures. Every
request is recorded, with the id of the connection it came on. The server
runs in daemon threads and stops when the `with` block ends; handlers that
wait do so with bounded timeouts.
"""
from __future__ import annotations

import itertools
import json
import socket
import struct
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterable


class Reply:
    def __init__(self, status: int = 200, body: Any = b"", headers: dict[str, str] | None = None,
                 chunks: Iterable[bytes] | None = None) -> None:
        self.status = status
        self.headers = dict(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            self.headers.setdefault("Content-Type", "application/json")
        elif isinstance(body, str):
            body = body.encode()
        self.body: bytes = body
        self.chunks = chunks


class Request:
    def __init__(self, handler: "_Handler", body: bytes) -> None:
        self.method = handler.command
        self.path, _, self.query = handler.path.partition("?")
        self.headers = {k.lower(): v for k, v in handler.headers.items()}
        self.body = body
        self.connection: int = handler.serial
        self._handler = handler

    def json(self) -> Any:
        return json.loads(self.body)

    def reset(self) -> None:
        """Abort the connection with a TCP reset (no answer)."""
        sock = self._handler.connection
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self._handler.close_connection = True
        sock.close()

    def send_raw(self, data: bytes) -> None:
        self._handler.wfile.write(data)
        self._handler.wfile.flush()

    def close(self) -> None:
        """End the connection cleanly (FIN) after what was sent: whatever is missing stays missing."""
        self._handler.close_connection = True
        self._handler.wfile.flush()
        self._handler.connection.shutdown(socket.SHUT_WR)


_serials = itertools.count(1)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: "_Server"

    def setup(self) -> None:
        # A number per connection, never reused (an id() can be, once a socket is freed).
        self.serial = next(_serials)
        super().setup()
        # Headers and body go out as two writes; without this, Nagle holds the body back until the
        # client's delayed ACK (40 ms) for every answer.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, *args: Any) -> None:
        """Quiet: the tests assert on recorded requests, not on the server's log."""

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = self._read_chunked()
        else:
            body = self.rfile.read(length) if length else b""
        req = Request(self, body)
        srv = self.server.owner
        with srv.lock:
            srv.requests.append(req)
            srv.connections.add(req.connection)
        handler = srv.find(req.method, req.path)
        reply = handler(req) if handler else Reply(404, {"error": {"message": f"no route {req.path}"}})
        if reply is None:
            return
        self.send_response(reply.status)
        for k, v in reply.headers.items():
            self.send_header(k, v)
        if reply.chunks is not None:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for chunk in reply.chunks:
                if chunk is None:  # cut the stream here, mid-body
                    req.reset()
                    return
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)
        self.wfile.flush()

    def _read_chunked(self) -> bytes:
        out = bytearray()
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                self.rfile.readline()
                return bytes(out)
            out += self.rfile.read(size)
            self.rfile.readline()

    do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = _serve


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128
    owner: "Loopback"

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        if not isinstance(sys.exc_info()[1], OSError):  # a client that hung up is what fault tests do
            super().handle_error(request, client_address)


class Loopback:
    """The server; use as a context manager."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        """`host` another loopback address (127.0.0.2) stands for another host."""
        self.routes: list[tuple[str, str, Callable[[Request], Reply | None]]] = []
        self.requests: list[Request] = []
        self.connections: set[int] = set()
        self.lock = threading.Lock()
        self._server = _Server((host, 0), _Handler)
        self._server.owner = self
        self.url = f"http://{host}:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    def route(self, method: str, path: str, handler: Callable[[Request], Reply | None]) -> None:
        self.routes.insert(0, (method, path, handler))

    def script(self, method: str, path: str, *replies: Any) -> None:
        """Answer successive requests with these replies (or callables); the last repeats."""
        queue = list(replies)
        lock = threading.Lock()

        def handler(req: Request) -> Reply | None:
            with lock:
                item = queue.pop(0) if len(queue) > 1 else queue[0]
            return item(req) if callable(item) else item

        self.route(method, path, handler)

    def find(self, method: str, path: str) -> Callable[[Request], Reply | None] | None:
        for m, p, h in self.routes:
            if m == method and (p == path or (p.endswith("*") and path.startswith(p[:-1]))):
                return h
        return None

    def __enter__(self) -> "Loopback":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class Blackhole:
    """A port on 127.0.0.1 that listens but never accepts, its backlog full: connecting hangs."""

    def __init__(self) -> None:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(0)
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self._fill: list[socket.socket] = []
        for _ in range(4):  # more than the backlog holds: later SYNs are dropped, not refused
            c = socket.socket()
            c.setblocking(False)
            c.connect_ex(self._sock.getsockname())
            self._fill.append(c)

    def __enter__(self) -> "Blackhole":
        return self

    def __exit__(self, *exc: Any) -> None:
        for c in self._fill:
            c.close()
        self._sock.close()


def stall(seconds: float, released: threading.Event | None = None) -> Callable[[Request], Reply]:
    """A handler that answers only after `seconds` (or when `released` is set)."""
    def handler(req: Request) -> Reply:
        (released or threading.Event()).wait(seconds)
        return Reply(200, {"late": True})
    return handler

