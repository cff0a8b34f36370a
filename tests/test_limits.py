"""Hostile servers: what one answer may cost in memory and time, compressed answers, and event data.

Every server here is a loopback socket. Time limits are judged by outcome (which
error, which phase), never by timing a run against another.
"""
from __future__ import annotations

import gzip
import json
import tracemalloc

import pytest

import engine
from engine.components import build
from engine.streaming import iter_sse
from loopback import Reply

MIB = 1 << 20
CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}
SSE = {"Content-Type": "text/event-stream"}
LIST = {"object": "list", "data": [{"id": "m"}]}


# --- one long SSE line ----------------------------------------------------------------

def test_an_8_mib_data_line_in_1_kib_pieces_is_one_event():
    text = "x" * (8 * MIB)
    blob = b'data: {"text": "' + text.encode() + b'"}\n\n'
    pieces = (blob[i:i + 1024] for i in range(0, len(blob), 1024))
    events = list(iter_sse(pieces))
    assert len(events) == 1 and events[0].data == {"text": text}


def test_each_piece_of_a_long_line_costs_its_own_size_not_the_lines_so_far():
    """Work counted as bytes allocated while the decoder takes each piece (tracemalloc), not as time."""
    blob = b"data: " + b"q" * MIB + b"\n\n"
    pieces = [blob[i:i + 512] for i in range(0, len(blob), 512)]
    allocated = []

    def metered():
        for piece in pieces:
            tracemalloc.reset_peak()
            base = tracemalloc.get_traced_memory()[0]
            yield piece
            allocated.append(tracemalloc.get_traced_memory()[1] - base)

    tracemalloc.start()
    try:
        events = list(iter_sse(metered()))
    finally:
        tracemalloc.stop()
    assert len(events) == 1 and len(events[0].raw) == MIB
    # Copying the line so far for each piece would allocate about 2048 * 0.5 MiB = 1 GiB in all.
    assert sum(allocated) < 16 * MIB, f"{sum(allocated)} bytes allocated for a 1 MiB line"


def test_a_line_split_anywhere_across_many_pieces_keeps_every_byte():
    blob = b"data: a\r\ndata: " + bytes(range(32, 127)) * 50 + b"\r\r" + b"data: [DONE]\n\n"
    for size in (1, 2, 3, 7, 1000):
        pieces = [blob[i:i + size] for i in range(0, len(blob), size)]
        assert [e.raw for e in iter_sse(pieces)] == [
            "a\n" + bytes(range(32, 127)).decode() * 50, "[DONE]"], size


def test_an_event_past_the_limit_is_a_typed_error_before_the_line_ends():
    def endless():
        yield b"data: "
        while True:
            yield b"y" * 1024

    with pytest.raises(engine.APIResponseError, match="1000000-byte limit"):
        next(iter_sse(endless(), max_event_bytes=1_000_000))
    many_lines = iter([b"data: 0123456789\n"] * 200_000)  # no blank line: one event that never ends
    with pytest.raises(engine.APIResponseError):
        next(iter_sse(many_lines, max_event_bytes=1_000_000))
    assert [e.data for e in iter_sse([b"data: 12345\n\n"], max_event_bytes=5)] == [12345]


def test_a_streamed_event_past_max_response_bytes_fails_typed_and_closes(srv, loopback_engine):
    eng = loopback_engine(max_response_bytes=64 * 1024)
    big = b'data: {"x": "' + b"z" * (200 * 1024) + b'"}\n\n'
    srv.route("POST", "/v1/chat/completions", lambda req: Reply(200, chunks=[
        b'data: {"n": 1}\n\n', big, b"data: [DONE]\n\n"], headers=SSE))
    stream = eng.run("chat.completions.create", CHAT)
    assert next(stream).data == {"n": 1}
    with pytest.raises(engine.APIResponseError, match="larger than the 65536-byte limit") as info:
        next(stream)
    assert info.value.action == "chat.completions.create" and stream.closed


# --- the size of an answer read whole --------------------------------------------------

def test_the_limit_is_declared_and_the_engine_may_change_it(manifest):
    assert manifest.connector["limits"]["max_response_bytes"] == 64 * MIB
    with engine.Engine(manifest, api_key="k") as eng:
        assert eng.transport.max_response_bytes == 64 * MIB
    with engine.Engine(manifest, api_key="k", max_response_bytes=1000) as eng:
        assert eng.transport.max_response_bytes == 1000


def test_a_gzip_bomb_is_refused_after_the_limit_without_holding_it(srv, loopback_engine):
    bomb = gzip.compress(b'{"data": ["' + b"0" * (24 * MIB) + b'"]}', compresslevel=6)
    assert len(bomb) < MIB // 4
    srv.route("GET", "/v1/models", lambda req: Reply(200, bomb, {"Content-Type": "application/json",
                                                                  "Content-Encoding": "gzip"}))
    eng = loopback_engine(max_response_bytes=MIB)
    tracemalloc.start()
    try:
        with pytest.raises(engine.APIResponseError, match="larger than the 1048576-byte limit") as info:
            eng.run("models.list")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * MIB, f"held {peak} bytes for a 24 MiB bomb with a 1 MiB limit"
    assert info.value.attempts == 1 and "not retried" in str(info.value)


@pytest.mark.parametrize("chunked", [False, True])
def test_a_long_body_stops_at_the_limit_and_the_next_call_is_clean(srv, loopback_engine, chunked):
    body = json.dumps({"data": ["a" * 1000] * 3000}).encode()  # 3 MB
    reply = Reply(200, chunks=[body[i:i + 65536] for i in range(0, len(body), 65536)],
                  headers={"Content-Type": "application/json"}) if chunked else Reply(200, body, {
                      "Content-Type": "application/json"})
    srv.script("GET", "/v1/models", reply, Reply(200, LIST))
    eng = loopback_engine(max_response_bytes=MIB)
    with pytest.raises(engine.APIResponseError, match="max_response_bytes"):
        eng.run("models.list")
    assert eng.run("models.list") == LIST  # the unread rest did not poison a pooled connection


def test_a_text_answer_is_limited_too_and_an_error_body_keeps_its_status(srv, loopback_engine):
    eng = loopback_engine(max_response_bytes=1000)
    srv.route("POST", "/v1/audio/transcriptions", lambda req: Reply(200, "w" * 5000, {"Content-Type": "text/plain"}))
    with pytest.raises(engine.APIResponseError, match="1000-byte limit"):
        eng.run("audio.transcriptions.create", {"file": b"ID3", "model": "whisper-1", "response_format": "text"})
    srv.route("GET", "/v1/models", lambda req: Reply(500, b"e" * 50_000, {"Content-Type": "text/plain"}))
    with pytest.raises(engine.InternalServerError) as info:
        eng.run("models.list")
    assert len(info.value.body) <= 2000


def test_a_download_to_a_file_is_not_limited(srv, loopback_engine, tmp_path):
    audio = bytes(range(256)) * 8192  # 2 MiB
    srv.route("POST", "/v1/audio/speech", lambda req: Reply(200, audio, {"Content-Type": "audio/mpeg"}))
    eng = loopback_engine(max_response_bytes=MIB)
    out = tmp_path / "speech.mp3"
    params = {"model": "tts-1", "input": "hi", "voice": "alloy"}
    assert eng.run("audio.speech.create", params, output=out) == len(audio)
    assert out.read_bytes() == audio


# --- a total timeout per attempt ---------------------------------------------------------

def trickler(released, head: bytes, body: bytes, every: float = 0.2):
    """A handler that sends `head`, then `body` one byte every `every` seconds until the client leaves."""
    def handler(req):
        req.send_raw(head)
        for i in range(len(body)):
            if released.wait(every):
                return None
            try:
                req.send_raw(body[i:i + 1])
            except OSError:  # the client hung up: what a deadline is for
                return None
        req.close()
        return None
    return handler


BODY = json.dumps(LIST).encode()
PLAIN_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(BODY)
CHUNKED_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
CHUNKED_BODY = b"".join(b"1\r\n%s\r\n" % BODY[i:i + 1] for i in range(len(BODY))) + b"0\r\n\r\n"


@pytest.mark.parametrize("head,body", [(PLAIN_HEAD, BODY), (CHUNKED_HEAD, CHUNKED_BODY)], ids=["length", "chunked"])
def test_a_trickled_body_ends_at_the_total_timeout(srv, loopback_engine, released, head, body):
    srv.route("GET", "/v1/models", trickler(released, head, body))
    eng = loopback_engine(timeout=(2.0, 5.0, 1.0))  # each byte comes well within the 5 s read timeout
    with pytest.raises(engine.APITimeoutError) as info:
        eng.run("models.list")
    assert (info.value.phase, info.value.timeout, info.value.attempts) == ("total", 1.0, 1)
    assert "total timeout after 1s" in str(info.value)


def test_by_default_the_total_is_connect_plus_read_and_each_attempt_has_its_own(srv, loopback_engine, released):
    srv.route("GET", "/v1/models", trickler(released, PLAIN_HEAD, BODY))
    eng = loopback_engine(max_retries=1, record_waits=True)
    with pytest.raises(engine.APITimeoutError) as info:
        eng.run("models.list", timeout=0.4)  # connect 0.4 (the lesser of it and 5), read 0.4: total 0.8
    assert (info.value.phase, info.value.timeout, info.value.attempts) == ("total", 0.8, 2)


def test_the_default_total_is_connect_plus_read(manifest):
    with engine.Engine(manifest, api_key="k") as eng:
        assert eng.transport.timeouts(None) == (5.0, 600.0, 605.0)
        assert eng.transport.timeouts((1, 2)) == (1.0, 2.0, 3.0)
        assert eng.transport.timeouts((1, 2, 9)) == (1.0, 2.0, 9.0)
        assert eng.transport.timeouts(3) == (3.0, 3.0, 6.0)
    with engine.Engine(manifest, api_key="k", timeout=(1, 2, 9)) as eng:
        assert eng.transport.timeouts(None) == (1.0, 2.0, 9.0)
        assert eng.transport.timeouts(30) == (1.0, 30.0, 9.0)  # a total set apart stays


def test_a_stream_with_no_first_event_ends_at_the_total_timeout(srv, loopback_engine, released):
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n"
    srv.route("POST", "/v1/chat/completions", trickler(released, head, b":" * 100))  # a comment, forever
    eng = loopback_engine(timeout=(2.0, 5.0, 1.0))
    stream = eng.run("chat.completions.create", CHAT)
    with pytest.raises(engine.APITimeoutError) as info:
        next(stream)
    assert (info.value.phase, info.value.timeout) == ("total", 1.0) and stream.closed


def test_a_healthy_stream_may_outlive_the_total_timeout(srv, loopback_engine, released):
    def events():
        for n in range(6):
            released.wait(0.15)
            yield b'data: {"n": %d}\n\n' % n
        yield b"data: [DONE]\n\n"

    srv.route("POST", "/v1/chat/completions", lambda req: Reply(200, chunks=events(), headers=SSE))
    eng = loopback_engine(timeout=(2.0, 5.0, 0.5))
    assert [e.data["n"] for e in eng.run("chat.completions.create", CHAT)] == list(range(6))


# --- compressed answers ---------------------------------------------------------------------

def test_accept_encoding_names_what_is_decoded(srv, loopback_engine):
    srv.route("GET", "/v1/models", lambda req: Reply(200, gzip.compress(json.dumps(LIST).encode()), {
        "Content-Type": "application/json", "Content-Encoding": "gzip"}))
    eng = loopback_engine()
    assert eng.run("models.list") == LIST
    sent = srv.requests[0].headers.get("accept-encoding", "")
    assert {"gzip", "deflate"} <= {c.strip() for c in sent.split(",")}
    eng.run("models.list", extra_headers={"Accept-Encoding": "identity"})
    assert srv.requests[1].headers["accept-encoding"] == "identity"  # the caller's choice wins


def test_a_gzipped_event_stream_is_decoded(srv, loopback_engine):
    events = b"".join(b'data: {"n": %d}\n\n' % n for n in range(50)) + b"data: [DONE]\n\n"
    packed = gzip.compress(events)
    srv.route("POST", "/v1/chat/completions", lambda req: Reply(200, chunks=[
        packed[i:i + 40] for i in range(0, len(packed), 40)], headers={**SSE, "Content-Encoding": "gzip"}))
    eng = loopback_engine()
    assert [e.data["n"] for e in eng.run("chat.completions.create", CHAT)] == list(range(50))


# --- event data that is not the declared JSON --------------------------------------------------

def test_event_data_that_is_not_json_is_a_typed_error(srv, loopback_engine):
    srv.route("POST", "/v1/chat/completions", lambda req: Reply(200, chunks=[
        b'data: {"n": 1}\n\n', b"data: <html>proxy error</html>\n\n", b"data: [DONE]\n\n"], headers=SSE))
    eng = loopback_engine()
    stream = eng.run("chat.completions.create", CHAT)
    assert next(stream).data == {"n": 1}
    with pytest.raises(engine.APIResponseError, match="event 2 of the stream is not JSON") as info:
        next(stream)
    assert info.value.action == "chat.completions.create" and stream.closed


def test_the_declared_sentinel_still_ends_the_stream(srv, loopback_engine):
    srv.route("POST", "/v1/chat/completions", lambda req: Reply(200, chunks=[
        b'data: {"n": 1}\n\n', b"data: [DONE]\n\n"], headers=SSE))
    srv.route("POST", "/v1/threads/t/runs", lambda req: Reply(200, chunks=[
        b'event: thread.run.created\ndata: {"id": "run_1"}\n\n', b"event: done\ndata: [DONE]\n\n"], headers=SSE))
    eng = loopback_engine()
    assert [e.data for e in eng.run("chat.completions.create", CHAT)] == [{"n": 1}]
    runs = eng.run("threads.runs.create", {"thread_id": "t", "assistant_id": "a", "stream": True})
    assert [e.event for e in runs] == ["thread.run.created"]


def test_a_text_stream_style_hands_text_through():
    from engine.streaming import EventStream

    class Answer:  # what EventStream reads of a requests.Response (no raw.read1: it takes iter_content)
        raw = None

        def __init__(self, blob):
            self.blob = blob

        def iter_content(self, chunk_size=None):
            yield self.blob

        def close(self):
            pass

    framing = build("stream", {"type": "sse", "data": "text", "done": "[DONE]"})
    stream = EventStream(Answer(b"data: plain words\n\ndata: [DONE]\n\n"), action="a", framing=framing)
    assert [e.data for e in stream] == ["plain words"]


def test_trickled_headers_end_at_the_total_timeout(srv, loopback_engine, released):
    srv.route("GET", "/v1/models", trickler(released, b"HTTP/1.1 200 OK\r\nX-Slow: ", b"z" * 100))
    eng = loopback_engine(timeout=(2.0, 5.0, 1.0))
    with pytest.raises(engine.APITimeoutError) as info:
        eng.run("models.list")
    assert (info.value.phase, info.value.timeout, info.value.attempts) == ("total", 1.0, 1)


@pytest.mark.parametrize("bad", [0, -1, 1.5, "64", True])
def test_a_limit_that_is_no_positive_byte_count_is_refused(manifest, bad):
    with pytest.raises(engine.Error, match="max_response_bytes"):
        engine.Engine(manifest, api_key="k", max_response_bytes=bad)


def test_a_redirect_with_a_gzip_bomb_for_a_body_is_followed_without_reading_it(srv, loopback_engine):
    bomb = gzip.compress(b"0" * (24 * MIB), compresslevel=6)
    srv.route("GET", "/v1/models", lambda req: Reply(302, bomb, {"Location": "/v1/models2", "Content-Encoding": "gzip"}))
    srv.route("GET", "/v1/models2", lambda req: Reply(200, LIST))
    eng = loopback_engine()
    tracemalloc.start()
    try:
        assert eng.run("models.list") == LIST
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * MIB, f"held {peak} bytes for a redirect's 24 MiB body"


def test_a_stream_cut_at_its_total_before_any_event_is_sent_again_with_a_fresh_total(srv, loopback_engine, released):
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n"
    healthy = Reply(200, chunks=[b'data: {"n": 1}\n\n', b"data: [DONE]\n\n"], headers=SSE)
    srv.script("POST", "/v1/chat/completions", trickler(released, head, b":" * 100), healthy)
    eng = loopback_engine(max_retries=1, record_waits=True, timeout=(2.0, 5.0, 0.6))
    res = eng.run("chat.completions.create", CHAT, raw=True)
    assert [e.data for e in res.data] == [{"n": 1}] and res.attempts == 2
