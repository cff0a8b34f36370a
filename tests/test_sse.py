"""Server-sent events: the parsing rules, and streams over real sockets."""
from __future__ import annotations

import threading

import pytest
from hypothesis import given, settings, strategies as st

import engine
from engine.streaming import iter_sse
from conftest import API_KEY
from loopback import Reply

SAMPLE = (b"\xef\xbb\xbf: a comment\r\n"
          b"event: thread.run.created\r\nid: 7\r\ndata: {\"id\": \"run_1\",\r\ndata:  \"n\": 1}\r\n\r\n"
          b"retry: 3000\n\n"
          b"event: only-a-name\n\n"
          b"data\n\n"
          b"data: plain text \xc3\xa9t\xc3\xa9\rdata:second\r\r"
          b"event: done\ndata: [DONE]\n\n"
          b"data: unterminated")


def decode(chunks):
    return [(e.event, e.data, e.id, e.retry) for e in iter_sse(chunks)]


EXPECTED = [
    ("thread.run.created", {"id": "run_1", "n": 1}, "7", None),
    (None, "", "7", 3000),
    (None, "plain text été\nsecond", "7", 3000),
    ("done", "[DONE]", "7", 3000),
]


def test_the_parsing_rules():
    assert decode([SAMPLE]) == EXPECTED


def test_every_split_point_gives_the_same_events():
    for i in range(len(SAMPLE) + 1):
        assert decode([SAMPLE[:i], SAMPLE[i:]]) == EXPECTED, i


def test_byte_by_byte():
    assert decode([SAMPLE[i:i + 1] for i in range(len(SAMPLE))]) == EXPECTED


def test_cr_at_chunk_end_then_lf_is_one_line_end():
    assert decode([b"data: a\r", b"\n\r", b"\n"]) == [(None, "a", None, None)]
    assert decode([b"data: a\r", b"\r"]) == [(None, "a", None, None)]


def test_id_with_nul_is_ignored_and_bad_retry_too():
    assert decode([b"id: a\0b\nretry: 12x\ndata: 1\n\n"]) == [(None, 1, None, None)]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300), st.lists(st.integers(min_value=0, max_value=300), max_size=6))
def test_any_bytes_any_chunking_never_crash(blob, cuts):
    cuts = sorted({c % (len(blob) + 1) for c in cuts})
    pieces = [blob[a:b] for a, b in zip([0] + cuts, cuts + [len(blob)])]
    whole = decode([blob])
    assert decode(pieces) == whole


# --- streams over real sockets -----------------------------------------------------

@pytest.fixture
def leng(loopback_engine):
    return loopback_engine(max_retries=2, record_waits=True)


CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "stream": True}


def chunk(text):
    return ('data: {"object":"chat.completion.chunk","choices":[{"delta":{"content":"%s"}}]}\n\n' % text).encode()


def test_events_arrive_as_they_are_sent(srv, leng):
    gate = threading.Event()

    def chunks():
        yield chunk("one")
        assert gate.wait(5), "the client never saw the first event"
        yield chunk("two") + b"data: [DONE]\n\n"

    srv.route("POST", "/v1/chat/completions", lambda req: Reply(200, chunks=chunks(),
                                                                 headers={"Content-Type": "text/event-stream"}))
    stream = leng.run("chat.completions.create", CHAT)
    first = next(stream)
    assert first.data["choices"][0]["delta"]["content"] == "one"
    gate.set()
    assert [e.data["choices"][0]["delta"]["content"] for e in stream] == ["two"]
    assert stream.closed
    assert srv.requests[0].json()["stream"] is True


def test_a_cut_stream_raises_instead_of_ending_quietly(srv, leng):
    srv.route("POST", "/v1/chat/completions",
              lambda req: Reply(200, chunks=[chunk("a"), chunk("b"), None], headers={"Content-Type": "text/event-stream"}))
    stream = leng.run("chat.completions.create", CHAT)
    got = []
    with pytest.raises(engine.APIConnectionError, match="after 2 events"):
        for e in stream:
            got.append(e)
    assert len(got) == 2 and len(srv.requests) == 1  # never retried once events flowed


def test_eof_without_done_is_an_error_but_after_a_terminal_event_it_is_not(srv, leng):
    srv.route("POST", "/v1/chat/completions",
              lambda req: Reply(200, chunks=[chunk("a")], headers={"Content-Type": "text/event-stream"}))
    with pytest.raises(engine.APIConnectionError, match="without its end marker"):
        list(leng.run("chat.completions.create", CHAT))
    srv.route("POST", "/v1/threads/t/runs", lambda req: Reply(200, chunks=[
        b'event: thread.run.created\ndata: {"id":"run_1","status":"queued"}\n\n',
        b'event: thread.run.completed\ndata: {"id":"run_1","status":"completed"}\n\n'],
        headers={"Content-Type": "text/event-stream"}))
    events = list(leng.run("threads.runs.create", {"thread_id": "t", "assistant_id": "a", "stream": True}))
    assert [e.event for e in events] == ["thread.run.created", "thread.run.completed"]


def test_error_events_raise_with_the_servers_fields(srv, leng):
    srv.route("POST", "/v1/threads/t/runs", lambda req: Reply(200, chunks=[
        b'event: thread.run.created\ndata: {"id":"run_1"}\n\n',
        b'event: error\ndata: {"code":"server_error","message":"Sorry, something broke"}\n\n'],
        headers={"Content-Type": "text/event-stream", "x-request-id": "req_s"}))
    stream = leng.run("threads.runs.create", {"thread_id": "t", "assistant_id": "a", "stream": True})
    assert next(stream).event == "thread.run.created"
    with pytest.raises(engine.APIError) as info:
        next(stream)
    assert info.value.message == "Sorry, something broke" and info.value.code == "server_error"
    assert info.value.request_id == "req_s" and stream.closed


def test_error_object_in_data_raises(srv, leng):
    srv.route("POST", "/v1/chat/completions", lambda req: Reply(200, chunks=[
        b'data: {"error":{"message":"overloaded","type":"server_error"}}\n\n'],
        headers={"Content-Type": "text/event-stream"}))
    with pytest.raises(engine.APIError, match="overloaded"):
        list(leng.run("chat.completions.create", CHAT))


def test_closing_early_releases_the_connection(srv, leng):
    stop = threading.Event()

    def endless():
        while not stop.is_set():
            yield chunk("x")
            stop.wait(0.01)

    srv.route("POST", "/v1/chat/completions", lambda req: Reply(200, chunks=endless(),
                                                                 headers={"Content-Type": "text/event-stream"}))
    try:
        with leng.run("chat.completions.create", CHAT) as stream:
            for n, _ in enumerate(stream):
                if n == 3:
                    break
        assert stream.closed
        with pytest.raises(StopIteration):
            next(stream)
    finally:
        stop.set()


def test_a_stream_is_retried_before_its_first_event(srv, leng):
    srv.script("POST", "/v1/chat/completions",
               Reply(503, {"error": {"message": "busy"}}),
               Reply(200, chunks=[chunk("ok"), b"data: [DONE]\n\n"], headers={"Content-Type": "text/event-stream"}))
    res = leng.run("chat.completions.create", CHAT, raw=True)
    assert res.attempts == 2
    assert [e.data["choices"][0]["delta"]["content"] for e in res.data] == ["ok"]


def test_cli_stream_prints_json_lines(srv, monkeypatch):
    import io
    import json
    from engine import cli

    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    srv.route("POST", "/v1/chat/completions", lambda req: Reply(200, chunks=[chunk("a"), chunk("b"), b"data: [DONE]\n\n"],
                                                                 headers={"Content-Type": "text/event-stream"}))
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(["--base-url", srv.url + "/v1", "run", "chat.completions.create", "-p", "model=m",
                     "-p", 'messages=[{"role":"user","content":"hi"}]', "--stream"], out, err)
    assert code == 0, err.getvalue()
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [line["data"]["choices"][0]["delta"]["content"] for line in lines] == ["a", "b"]
