"""A stream that breaks after events were handed out goes on through its declared resume call: nothing lost, nothing twice."""
from __future__ import annotations

import json

import pytest

import engine
from loopback import Loopback, Reply


def _sse(events):
    return "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in events).encode()


EVENTS = [{"type": "created", "seq": 0, "response": {"id": "r_1", "background": True}},
          *({"type": "delta", "seq": n, "text": f"t{n}"} for n in range(1, 5)),
          {"type": "completed", "seq": 5, "response": {"id": "r_1", "background": True}}]


def manifest(url: str, when: str = "{{ first.data.response.background }}") -> dict:
    return {
        "manifest_version": 2,
        "connector": {"name": "demo", "base_url": url, "credentials": {"k": {"type": "header", "header": "X-K"}}},
        "definitions": {"streams": {"events": {
            "type": "sse", "terminal_events": ["completed"], "event_field": "type",
            "resume": {"action": "responses.retrieve", "sequence": "seq", "when": when,
                       "params": {"response_id": "{{ first.data.response.id }}", "stream": True,
                                  "starting_after": "{{ last.data.seq }}"}}}}},
        "actions": [
            {"name": "responses.create", "method": "POST", "path": "/responses", "body": "json",
             "params": [{"name": "stream", "in": "body", "schema": {"type": "boolean"}}],
             "response": {"type": "json"}, "stream": {"use": "events", "when": "stream"}},
            {"name": "responses.retrieve", "method": "GET", "path": "/responses/{response_id}",
             "params": [{"name": "response_id", "in": "path", "required": True, "schema": {"type": "string"}},
                        {"name": "stream", "in": "query", "schema": {"type": "boolean"}},
                        {"name": "starting_after", "in": "query", "schema": {"type": "integer"}}],
             "response": {"type": "json"}, "stream": {"use": "events", "when": "stream"}},
        ],
    }


def serve(srv: Loopback, cut_after: int, replay_from: int | None = None) -> None:
    """The create stream is cut after `cut_after` events; the retrieve replays from `replay_from` (else as asked)."""
    def create(req):
        return Reply(200, _sse(EVENTS[:cut_after]), {"Content-Type": "text/event-stream"})

    def retrieve(req):
        after = int(dict(p.split("=") for p in req.query.split("&"))["starting_after"])
        start = replay_from if replay_from is not None else after + 1
        return Reply(200, _sse(e for e in EVENTS if e["seq"] >= start), {"Content-Type": "text/event-stream"})

    srv.route("POST", "/responses", create)
    srv.route("GET", "/responses/r_1", retrieve)


def test_a_cut_stream_goes_on_from_its_last_event(srv):
    serve(srv, cut_after=3)
    with engine.Engine(manifest(srv.url), k="key-123456789", max_retries=0) as eng:
        stream = eng.run("responses.create", {"stream": True})
        got = [e.data["seq"] for e in stream]
    assert got == [0, 1, 2, 3, 4, 5] and stream.resumes == 1
    assert srv.requests[1].query == "stream=true&starting_after=2"


def test_events_the_server_replays_again_are_not_handed_out_twice(srv):
    serve(srv, cut_after=3, replay_from=0)  # a server that replays from the start
    with engine.Engine(manifest(srv.url), k="key-123456789", max_retries=0) as eng:
        assert [e.data["seq"] for e in eng.run("responses.create", {"stream": True})] == [0, 1, 2, 3, 4, 5]


def test_without_the_condition_a_cut_stream_still_raises(srv):
    serve(srv, cut_after=3)
    with engine.Engine(manifest(srv.url, when="{{ false }}"), k="key-123456789", max_retries=0) as eng:
        stream = eng.run("responses.create", {"stream": True})
        with pytest.raises(engine.APIConnectionError, match="without its end marker"):
            list(stream)
    assert len(srv.requests) == 1
