#!/usr/bin/env python3
"""A fast loopback HTTP/1.1 server for the benchmarks, run in its own process.

    python tools/bench_server.py [--port 0] [--delay-ms 0] [--items 10000] [--events 100000]

Prints `READY <port>` once listening. Canned answers, keep-alive, one thread
per connection, so the server is never what the benchmark measures (its own
cost per request is reported by the http.client baseline). Bound to 127.0.0.1.
"""
from __future__ import annotations

import argparse
import json
import socket
import sys
import threading
import time
from urllib.parse import parse_qs, urlsplit

MODELS = json.dumps({"object": "list", "data": [
    {"id": f"model-{i}", "object": "model", "created": 1700000000 + i, "owned_by": "system"} for i in range(3)
]}).encode()
CHAT = json.dumps({
    "id": "chatcmpl-123", "object": "chat.completion", "created": 1700000000, "model": "gpt-4o-mini",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello there!", "refusal": None},
                 "logprobs": None, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12},
    "system_fingerprint": "fp_1",
}).encode()
CHUNK = (b'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,'
         b'"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":null}]}\n\n')
FILE = json.dumps({"id": "file-abc", "object": "file", "bytes": 0, "created_at": 1700000000,
                   "filename": "upload", "purpose": "batch"}).encode()


def _head(status: str, ctype: str, length: int) -> bytes:
    return (f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {length}\r\n"
            f"x-request-id: req_bench\r\n\r\n").encode()


class Server:
    def __init__(self, delay: float, items: int, events: int) -> None:
        self.delay = delay
        self.pages = self._pages(items)
        self.stream = CHUNK * events + b"data: [DONE]\n\n"
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)

    @staticmethod
    def _pages(items: int) -> dict[str | None, bytes]:
        ids = [f"asst_{i:06d}" for i in range(items)]
        pages: dict[str | None, bytes] = {}
        for start in range(0, items, 100):
            page = ids[start:start + 100]
            body = {"object": "list", "data": [{"id": i, "object": "assistant", "created_at": 1700000000,
                                                "name": "bench", "model": "gpt-4o", "instructions": None,
                                                "tools": [], "metadata": {}} for i in page],
                    "first_id": page[0], "last_id": page[-1], "has_more": start + 100 < items}
            pages[ids[start - 1] if start else None] = json.dumps(body).encode()
        return pages

    def answer(self, method: str, target: str, body: bytes) -> list[bytes]:
        url = urlsplit(target)
        path = url.path
        if path.endswith("/models"):
            return [_head("200 OK", "application/json", len(MODELS)), MODELS]
        if path.endswith("/chat/completions"):
            if b'"stream":true' in body.replace(b" ", b""):
                return [_head("200 OK", "text/event-stream", len(self.stream)), self.stream]
            return [_head("200 OK", "application/json", len(CHAT)), CHAT]
        if path.endswith("/assistants"):
            after = parse_qs(url.query).get("after", [None])[0]
            page = self.pages.get(after, b'{"object":"list","data":[],"has_more":false}')
            return [_head("200 OK", "application/json", len(page)), page]
        if path.endswith("/files") and method == "POST":
            return [_head("200 OK", "application/json", len(FILE)), FILE]
        if path.startswith("/v1/files/big-") and path.endswith("/content"):
            return [_head("200 OK", "application/octet-stream", int(path.split("-")[1].split("/")[0]))]
        return [_head("404 Not Found", "application/json", 2), b"{}"]

    def handle(self, conn: socket.socket) -> None:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buf = b""
        try:
            while True:
                while b"\r\n\r\n" not in buf:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buf += data
                head, _, buf = buf.partition(b"\r\n\r\n")
                lines = head.split(b"\r\n")
                method, target, _ = lines[0].decode("latin-1").split(" ", 2)
                length, chunked = 0, False
                for line in lines[1:]:
                    name, _, value = line.partition(b":")
                    name = name.strip().lower()
                    if name == b"content-length":
                        length = int(value)
                    elif name == b"transfer-encoding" and b"chunked" in value.lower():
                        chunked = True
                body = b""
                if chunked:
                    buf = self._drain_chunked(conn, buf)
                elif length:
                    # Keep the first 64 KiB (enough to see "stream": true); discard the rest of big uploads.
                    body, need, buf = buf[:min(length, 1 << 16)], length - len(buf[:length]), buf[length:]
                    while need > 0:
                        data = conn.recv(min(need, 1 << 20))
                        if not data:
                            return
                        if len(body) < (1 << 16):
                            body += data[:(1 << 16) - len(body)]
                        need -= len(data)
                if self.delay:
                    time.sleep(self.delay)
                parts = self.answer(method, target, body)
                conn.sendall(b"".join(parts))
                if len(parts) == 1 and target.endswith("/content"):  # a large body, sent in blocks
                    self._send_zeros(conn, int(target.split("big-")[1].split("/")[0]))
        except (ConnectionError, OSError):
            return
        finally:
            conn.close()

    @staticmethod
    def _send_zeros(conn: socket.socket, size: int) -> None:
        block = b"\0" * (1 << 20)
        while size > 0:
            conn.sendall(block[:size])
            size -= min(size, len(block))

    @staticmethod
    def _drain_chunked(conn: socket.socket, buf: bytes) -> bytes:
        while True:
            while b"\r\n" not in buf:
                buf += conn.recv(1 << 20)
            size_line, _, buf = buf.partition(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            while len(buf) < size + 2:
                buf += conn.recv(1 << 20)
            buf = buf[size + 2:]
            if size == 0:
                return buf

    def serve(self, port: int) -> None:
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(256)
        print(f"READY {self.sock.getsockname()[1]}", flush=True)
        while True:
            conn, _ = self.sock.accept()
            threading.Thread(target=self.handle, args=(conn,), daemon=True).start()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--delay-ms", type=float, default=0.0)
    ap.add_argument("--items", type=int, default=10000)
    ap.add_argument("--events", type=int, default=100000)
    args = ap.parse_args(argv)
    try:
        Server(args.delay_ms / 1000.0, args.items, args.events).serve(args.port)
    except KeyboardInterrupt:
        pass  # the benchmark stops its server this way
    return 0


if __name__ == "__main__":
    sys.exit(main())
