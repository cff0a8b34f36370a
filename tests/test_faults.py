"""Faults on real sockets: resets, stalls, cut and malformed answers, and a page walk that survives them.

Every test counts the requests the server saw, so "retried" and "not
retried" are facts, not guesses. Read timeouts are 1 s; stalled handlers
are released when the test ends.
"""
from __future__ import annotations

import errno
import gzip
import io
import os
import re
import socket
import struct
import threading
from urllib.parse import parse_qs

import pytest

import engine
from conftest import API_KEY
from engine import UploadSourceError
from loopback import Blackhole, Reply

READ = 1.0  # long enough that a healthy loopback answer never misses it on a busy machine
OK = Reply(200, {"object": "list", "data": [{"id": "m"}]}, {"x-request-id": "req_ok"})
JSON = {"Content-Type": "application/json"}


@pytest.fixture
def leng(loopback_engine):
    return loopback_engine(None, timeout=(2.0, READ), record_waits=True)  # the declared policy


def hits(srv, path="/v1/models"):
    return sum(r.path == path for r in srv.requests)


def head(status=200, length=100, extra=b""):
    return (b"HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s\r\n"
            % (status, length, extra))


def reset(req):
    req.reset()


# --- the connection fails -------------------------------------------------------------

def test_reset_before_the_answer_twice_then_success(srv, leng):
    srv.script("GET", "/v1/models", reset, reset, OK)
    res = leng.run("models.list", raw=True)
    assert res.attempts == 3 and hits(srv) == 3 and leng.waits == [0.5, 1.0]
    assert res.data["data"] == [{"id": "m"}]


def test_reset_every_time_is_a_connection_error_after_every_attempt(srv, leng):
    srv.route("GET", "/v1/models", reset)
    with pytest.raises(engine.APIConnectionError) as info:
        leng.run("models.list")
    assert not isinstance(info.value, engine.APITimeoutError)
    assert info.value.attempts == 3 and hits(srv) == 3 and info.value.action == "models.list"


@pytest.mark.parametrize("partial", [
    b"HTTP/1.1 200 OK\r\nContent-Ty",                       # inside the headers
    head(200, 100) + b'{"object": "list", "da',             # inside the body
])
def test_reset_during_the_answer_is_retried(srv, leng, partial):
    def cut(req):
        req.send_raw(partial)
        req.reset()

    srv.script("GET", "/v1/models", cut, OK)
    assert leng.run("models.list", raw=True).attempts == 2 and hits(srv) == 2


def test_a_body_shorter_than_its_length_is_retried(srv, leng):
    def short(req):
        req.send_raw(head(200, 100) + b'{"object": "list"}')
        req.close()

    srv.script("GET", "/v1/models", short, OK)
    assert leng.run("models.list", raw=True).attempts == 2 and hits(srv) == 2


def test_an_error_answer_cut_mid_body_is_a_connection_error_and_retried(srv, leng):
    def cut(req):
        req.send_raw(head(500, 100) + b'{"error": {"mess')
        req.reset()

    srv.script("GET", "/v1/models", cut, OK)
    assert leng.run("models.list", raw=True).attempts == 2 and hits(srv) == 2
    srv.route("GET", "/v1/models", cut)
    with pytest.raises(engine.APIConnectionError) as info:
        leng.run("models.list", max_retries=1)
    assert info.value.attempts == 2


def test_garbage_instead_of_http_is_a_connection_error(srv, leng):
    srv.script("GET", "/v1/models", lambda req: req.send_raw(b"\x00\x01 not http\r\n\r\n") or req.close(), OK)
    assert leng.run("models.list", raw=True).attempts == 2


def test_a_corrupt_compressed_body_is_retried_then_reported(srv, leng):
    bad = Reply(200, b"this is not gzip", {"Content-Type": "application/json", "Content-Encoding": "gzip"})
    good = Reply(200, gzip.compress(b'{"object": "list", "data": []}'),
                 {"Content-Type": "application/json", "Content-Encoding": "gzip"})
    srv.script("GET", "/v1/models", bad, good)
    assert leng.run("models.list", raw=True).data == {"object": "list", "data": []}
    srv.route("GET", "/v1/models", lambda req: bad)
    with pytest.raises(engine.APIConnectionError) as info:
        leng.run("models.list", max_retries=0)
    assert info.value.attempts == 1


# --- timeouts -------------------------------------------------------------------------

def test_a_stalled_server_is_a_read_timeout_on_every_attempt(srv, leng, released):
    srv.route("GET", "/v1/models", lambda req: released.wait(10) and None)
    with pytest.raises(engine.APITimeoutError) as info:
        leng.run("models.list")
    err = info.value
    assert (err.phase, err.timeout, err.attempts) == ("read", READ, 3)
    assert f"read timeout after {READ:g}s" in str(err) and hits(srv) == 3 and leng.waits == [0.5, 1.0]


@pytest.mark.parametrize("status", [200, 500])
def test_a_body_that_stalls_midway_is_a_read_timeout(srv, leng, released, status):
    def trickle(req):
        req.send_raw(head(status, 100) + b'{"data": [')
        released.wait(10)

    srv.script("GET", "/v1/models", trickle, OK)
    assert leng.run("models.list", raw=True).attempts == 2
    srv.route("GET", "/v1/models", trickle)
    with pytest.raises(engine.APITimeoutError) as info:
        leng.run("models.list", max_retries=0)
    assert (info.value.phase, info.value.timeout) == ("read", READ)


def test_a_per_call_timeout_overrides_the_engines(srv, manifest, released):
    eng = engine.Engine(manifest, api_key=API_KEY, base_url=srv.url + "/v1", timeout=(5, 30), max_retries=0)
    srv.route("GET", "/v1/models", lambda req: released.wait(10) and None)
    with pytest.raises(engine.APITimeoutError) as info:
        eng.run("models.list", timeout=0.15)
    assert (info.value.phase, info.value.timeout) == ("read", 0.15)
    with pytest.raises(engine.APITimeoutError) as info:
        eng.run("models.list", timeout=(1, 0.1))
    assert (info.value.phase, info.value.timeout) == ("read", 0.1)


def test_connect_timeout_says_so(manifest):
    with Blackhole() as hole:
        eng = engine.Engine(manifest, api_key=API_KEY, base_url=hole.url + "/v1", timeout=(0.2, 30),
                            max_retries=1)
        waits = []
        eng.transport.sleep = waits.append
        with pytest.raises(engine.APITimeoutError) as info:
            eng.run("models.list")
    err = info.value
    assert (err.phase, err.timeout, err.attempts) == ("connect", 0.2, 2)
    assert "connect timeout after 0.2s" in str(err) and len(waits) == 1


# --- answers that cannot be decoded ---------------------------------------------------

@pytest.mark.parametrize("body,ctype,match", [
    (b'{"object": "list", "data": [', "application/json", "not valid JSON"),
    (b"\xff\xfe\x00garbage", "application/json", "not valid JSON"),
    (b"[" * 100_000, "application/json", "not valid JSON"),
    (b"\x89PNG\r\n\x1a\n", "image/png", "expected JSON, got content type 'image/png'"),
], ids=["truncated", "not-utf8", "nested-too-deep", "png"])
def test_a_2xx_that_is_not_what_was_declared(srv, leng, body, ctype, match):
    srv.script("GET", "/v1/models", Reply(503, {"error": {"message": "busy"}}),
               Reply(200, body, {"Content-Type": ctype, "x-request-id": "req_bad"}))
    with pytest.raises(engine.APIResponseError, match=match) as info:
        leng.run("models.list")
    err = info.value
    assert (err.action, err.attempts, err.request_id) == ("models.list", 2, "req_bad")
    assert hits(srv) == 2  # decoding failures are not retried: the server did answer


def test_an_unknown_charset_still_gives_text(srv, leng):
    srv.route("POST", "/v1/audio/transcriptions",
              lambda req: Reply(200, "hello wörld".encode(), {"Content-Type": "text/plain; charset=no-such-codec"}))
    out = leng.run("audio.transcriptions.create", {"file": b"ID3", "model": "whisper-1", "response_format": "text"})
    assert out == "hello wörld"


@pytest.mark.parametrize("body", [b"[" * 100_000, b"\xff\xfe{", b""], ids=["nested-too-deep", "not-utf8", "empty"])
def test_an_undecodable_error_body_keeps_the_status_error(srv, leng, body):
    srv.route("GET", "/v1/models", lambda req: Reply(400, body, JSON))
    with pytest.raises(engine.BadRequestError) as info:
        leng.run("models.list")
    assert info.value.status_code == 400 and info.value.attempts == 1


def test_a_redirect_loop_is_a_typed_error_and_not_retried(srv, leng):
    srv.route("GET", "/v1/models", lambda req: Reply(302, b"", {"Location": "/v1/models"}))
    with pytest.raises(engine.APIError, match="redirect") as info:
        leng.run("models.list")
    assert info.value.attempts == 1 and leng.waits == []


def test_a_redirect_to_a_scheme_nobody_speaks_is_a_typed_error(srv, leng):
    srv.route("GET", "/v1/models", lambda req: Reply(302, b"", {"Location": "gopher://127.0.0.1/x"}))
    with pytest.raises(engine.APIError) as info:
        leng.run("models.list")
    assert info.value.attempts == 1 and hits(srv) == 1


# --- streams --------------------------------------------------------------------------

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "stream": True}
SSE = {"Content-Type": "text/event-stream"}
EVENT = b'data: {"choices": [{"delta": {"content": "x"}}]}\n\n'


def test_a_stream_reset_before_its_answer_is_retried(srv, leng):
    srv.script("POST", "/v1/chat/completions", reset, reset, Reply(200, chunks=[EVENT, b"data: [DONE]\n\n"], headers=SSE))
    res = leng.run("chat.completions.create", CHAT, raw=True)
    assert res.attempts == 3 and len(list(res.data)) == 1
    assert hits(srv, "/v1/chat/completions") == 3


def test_a_stream_that_stalls_midway_is_a_read_timeout_not_retried(srv, leng, released):
    def chunks():
        yield EVENT
        released.wait(10)
        yield b"data: [DONE]\n\n"

    srv.route("POST", "/v1/chat/completions", lambda req: Reply(200, chunks=chunks(), headers=SSE))
    stream = leng.run("chat.completions.create", CHAT)
    assert next(stream).data["choices"][0]["delta"]["content"] == "x"
    with pytest.raises(engine.APITimeoutError) as info:
        next(stream)
    assert (info.value.phase, info.value.timeout, info.value.attempts) == ("read", READ, 1)
    assert hits(srv, "/v1/chat/completions") == 1 and stream.closed


def test_a_stream_cut_before_its_first_event_is_an_error(srv, leng):
    srv.route("POST", "/v1/chat/completions", lambda req: Reply(200, chunks=[b": keep-alive\n\n", None], headers=SSE))
    with pytest.raises(engine.APIConnectionError, match="after 0 events"):
        list(leng.run("chat.completions.create", CHAT))


# --- a page walk interrupted by a failure resumes from its checkpoint ------------------

def flaky_list(srv, path, total, fail_on):
    """A cursor list of ids obj_000..; the pages in `fail_on` (by number) answer 500 once."""
    ids = [f"obj_{i:03d}" for i in range(total)]
    failed = set()

    def handler(req):
        q = {k: v[0] for k, v in parse_qs(req.query).items()}
        limit = int(q.get("limit", 20))
        start = ids.index(q["after"]) + 1 if "after" in q else 0
        page_no = start // limit
        if page_no in fail_on and page_no not in failed:
            failed.add(page_no)
            return Reply(500, {"error": {"message": "The server had an error", "type": "server_error"}})
        page = ids[start:start + limit]
        return Reply(200, {"object": "list", "data": [{"id": i} for i in page],
                           "first_id": page[0], "last_id": page[-1], "has_more": start + limit < total})

    srv.route("GET", path, handler)
    return ids


def test_an_interrupted_walk_resumes_from_its_checkpoint_without_loss_or_repeats(srv, manifest):
    ids = flaky_list(srv, "/v1/assistants", 95, fail_on={3, 7})
    eng = engine.Engine(manifest, api_key=API_KEY, base_url=srv.url + "/v1", max_retries=0)
    got, resume, failures = [], None, 0
    while True:
        walk = eng.paginate("assistants.list", {"limit": 10, "order": "asc"}, resume=resume)
        try:
            for item in walk:
                got.append(item["id"])
            break
        except engine.InternalServerError:
            failures += 1
            resume = walk.checkpoint
    assert failures == 2
    assert got == ids  # every item exactly once, in order
    assert hits(srv, "/v1/assistants") == 10 + 2


def test_a_walk_cut_by_a_reset_mid_page_resumes_too(srv, manifest):
    ids = [f"obj_{i:03d}" for i in range(30)]
    cut_once = threading.Event()

    def handler(req):
        q = {k: v[0] for k, v in parse_qs(req.query).items()}
        start = ids.index(q["after"]) + 1 if "after" in q else 0
        if start == 10 and not cut_once.is_set():
            cut_once.set()
            req.send_raw(head(200, 500) + b'{"object": "list", "data": [{"id": "obj_010"}')
            req.reset()
            return None
        page = ids[start:start + 10]
        return Reply(200, {"object": "list", "data": [{"id": i} for i in page], "last_id": page[-1],
                           "has_more": start + 10 < len(ids)})

    srv.route("GET", "/v1/batches", handler)
    eng = engine.Engine(manifest, api_key=API_KEY, base_url=srv.url + "/v1", max_retries=0)
    walk = eng.paginate("batches.list", {"limit": 10})
    got = []
    with pytest.raises(engine.APIConnectionError):
        for item in walk:
            got.append(item["id"])
    got += [item["id"] for item in eng.paginate("batches.list", resume=walk.checkpoint)]
    assert got == ids


# --- an upload cut while it is being sent ----------------------------------------------

def test_an_upload_cut_midway_is_sent_again_whole_from_its_start(manifest, tmp_path):
    """The server reads 64 KiB of a 3 MiB upload and resets; the retry must carry every byte again."""
    payload = os.urandom(3 << 20)
    path = tmp_path / "train.jsonl"
    path.write_bytes(payload)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(10)
    got = {}

    def serve():
        for n in (1, 2):
            conn, _ = listener.accept()
            conn.settimeout(10)
            with conn, conn.makefile("rb") as f:
                head = b""
                while not head.endswith(b"\r\n\r\n"):
                    head += f.readline()
                length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
                if n == 1:
                    f.read(1 << 16)
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    continue
                got["length"], got["body"] = length, f.read(length)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n"
                             b'{"id": "f-1"}')

    server = threading.Thread(target=serve, daemon=True)
    server.start()
    eng = engine.Engine(manifest, api_key=API_KEY, base_url=f"http://127.0.0.1:{listener.getsockname()[1]}/v1",
                        timeout=(2, 5))  # a body sent short would leave both sides waiting: fail instead
    eng.transport.sleep = lambda s: None
    with open(path, "rb") as fh:
        res = eng.run("files.create", {"file": fh, "purpose": "fine-tune"}, raw=True)
    server.join(10)
    listener.close()
    assert res.data == {"id": "f-1"} and res.attempts == 2
    assert len(got["body"]) == got["length"] and payload in got["body"]


# --- a stream that breaks after its headers, before its first event, is sent again ---------

def said(text):
    return ('data: {"choices": [{"delta": {"content": "%s"}}]}\n\n' % text).encode()


def contents(events):
    return [e.data["choices"][0]["delta"]["content"] for e in events]


def headers_then_hang_up(req):
    """A 200 event stream whose connection closes before any event (no final chunk)."""
    req.send_raw(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
    req.close()


WHOLE = Reply(200, chunks=[said("a"), said("b"), b"data: [DONE]\n\n"], headers={**SSE, "x-request-id": "req_2"})


def test_a_stream_reset_after_its_headers_is_sent_again(srv, leng):
    headers_arrived = threading.Event()

    def reset_once_read(req):
        def chunks():
            headers_arrived.wait(5)  # the reset must come after the client has the headers
            yield None
        return Reply(200, chunks=chunks(), headers={**SSE, "x-request-id": "req_1"})

    srv.script("POST", "/v1/chat/completions", reset_once_read, WHOLE)
    res = leng.run("chat.completions.create", CHAT, raw=True)
    assert res.attempts == 1 and res.request_id == "req_1"
    headers_arrived.set()
    assert contents(res.data) == ["a", "b"]
    assert hits(srv, "/v1/chat/completions") == 2
    assert res.attempts == res.data.attempts == 2 and res.request_id == res.data.request_id == "req_2"
    assert leng.waits == [0.5]  # the policy's first backoff (initial_delay, no jitter drawn)


def test_a_stream_that_stalls_before_its_first_event_is_sent_again(srv, leng, released):
    def stall_after_headers(req):
        def chunks():
            released.wait(10)
            yield b": too late\n\n"
        return Reply(200, chunks=chunks(), headers=SSE)

    srv.script("POST", "/v1/chat/completions", stall_after_headers, WHOLE)
    stream = leng.run("chat.completions.create", CHAT)
    assert contents(stream) == ["a", "b"]
    assert hits(srv, "/v1/chat/completions") == 2 and stream.attempts == 2


def test_a_stream_that_always_breaks_before_its_first_event_uses_the_whole_budget(srv, leng, caplog):
    caplog.set_level("DEBUG", logger="engine")
    srv.route("POST", "/v1/chat/completions", headers_then_hang_up)
    stream = leng.run("chat.completions.create", CHAT)
    with pytest.raises(engine.APIConnectionError, match="after 0 events") as info:
        list(stream)
    assert info.value.attempts == 3 and stream.attempts == 3  # max_retries 2, plus the first
    assert hits(srv, "/v1/chat/completions") == 3 and leng.waits == [0.5, 1.0] and stream.closed
    cuts = [r.getMessage() for r in caplog.records if "cut after 0 events" in r.getMessage()]
    assert [m.split(":")[0] for m in cuts] == [f"chat.completions.create attempt {n}" for n in (1, 2, 3)]


def test_a_stream_is_never_sent_again_once_an_event_was_handed_out(srv, leng):
    first_read = threading.Event()

    def chunks():
        yield said("a")
        first_read.wait(5)
        yield None

    srv.route("POST", "/v1/chat/completions", lambda req: Reply(200, chunks=chunks(), headers=SSE))
    stream = leng.run("chat.completions.create", CHAT)
    assert contents([next(stream)]) == ["a"]
    first_read.set()
    with pytest.raises(engine.APIConnectionError, match="after 1 events") as info:
        next(stream)
    assert type(info.value) is engine.APIConnectionError and info.value.attempts == 1
    assert hits(srv, "/v1/chat/completions") == 1 and leng.waits == []


def test_a_stream_with_no_retries_allowed_is_not_sent_again(srv, leng):
    srv.route("POST", "/v1/chat/completions", headers_then_hang_up)
    with pytest.raises(engine.APIConnectionError, match="after 0 events") as info:
        list(leng.run("chat.completions.create", CHAT, max_retries=0))
    assert info.value.attempts == 1 and hits(srv, "/v1/chat/completions") == 1 and leng.waits == []


def test_an_interrupted_stream_is_not_sent_again(srv, leng, released):
    def stall_after_headers(req):
        def chunks():
            released.wait(10)
            yield said("late")
        return Reply(200, chunks=chunks(), headers=SSE)

    srv.route("POST", "/v1/chat/completions", stall_after_headers)
    stream = leng.run("chat.completions.create", CHAT)

    def interrupted(size):
        raise KeyboardInterrupt

    stream.response.raw.read1 = interrupted
    with pytest.raises(KeyboardInterrupt):
        next(stream)
    assert stream.closed and list(stream) == []
    assert hits(srv, "/v1/chat/completions") == 1 and leng.waits == []


def test_a_location_that_is_no_url_is_a_plain_api_error_not_retried(srv, leng):
    srv.route("GET", "/v1/models", lambda req: Reply(302, b"", {"Location": "http://[::1"}))  # unclosed IPv6 host
    with pytest.raises(engine.APIError, match="could not be completed") as info:
        leng.run("models.list")
    assert type(info.value) is engine.APIError and info.value.attempts == 1
    assert hits(srv) == 1 and leng.waits == []


# --- the upload's own file fails, and hooks that raise ----------------------------------

def test_a_disk_error_midway_through_an_upload_is_an_engine_error_not_retried(srv, leng):
    class FailingDisk(io.BytesIO):
        """A file whose disk fails once the first megabyte has been read."""

        name = "train.jsonl"

        def read(self, size=-1):
            if self.tell() >= 1 << 20:
                raise OSError(errno.EIO, os.strerror(errno.EIO))
            return super().read(size)

    srv.route("POST", "/v1/files", lambda req: Reply(200, {"id": "file-1", "object": "file"}))
    with pytest.raises(engine.APIError) as info:
        leng.run("files.create", {"file": FailingDisk(os.urandom(3 << 20)), "purpose": "batch"})
    err = info.value
    assert isinstance(err, UploadSourceError) and not isinstance(err, engine.APIConnectionError)
    assert (err.action, err.attempts, leng.waits) == ("files.create", 1, [])
    assert "cannot read 'train.jsonl' to upload it: Input/output error" in str(err) and API_KEY not in str(err)
    assert not any(r.body.endswith(b"--\r\n") for r in srv.requests)  # the cut body never looked complete


def test_an_after_response_hook_that_raises_closes_the_streamed_answer(srv, loopback_engine, released):
    seen = []

    def after(action, response, elapsed):
        seen.append(response)
        raise RuntimeError("the platform refused this answer")

    def chunks():
        yield EVENT
        released.wait(10)
        yield b"data: [DONE]\n\n"

    srv.route("POST", "/v1/chat/completions", lambda req: Reply(200, chunks=chunks(), headers=SSE))
    eng = loopback_engine(None, timeout=(2.0, READ), hooks={"after_response": after})
    eng.transport.sleep = lambda s: pytest.fail("a hook's exception must not be retried")
    with pytest.raises(RuntimeError, match="refused"):
        eng.run("chat.completions.create", CHAT)
    assert len(seen) == 1 and seen[0].raw.closed  # not left holding the connection open
    assert hits(srv, "/v1/chat/completions") == 1
