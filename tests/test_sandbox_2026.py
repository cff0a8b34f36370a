"""The offline sandbox on the 2026 surface: Responses objects and their streams, conversations and their items.

Expected shapes are the API reference's (event names, `sequence_number`, the final response in
`response.completed`), not read back from the sandbox.
"""
from __future__ import annotations

import io
import re

import jsonschema
import pytest

import engine
from engine.sandbox_synth import Synth

NAME = "openai-2026-08-21"
REPLY = "This is a reply from the offline sandbox."
PNG = b"\x89PNG\r\n\x1a\n" + bytes(48)
HOLE = re.compile(r"^\{([^{}]*)\}$")


pytestmark = pytest.mark.usefixtures("no_network")  # the sandbox answers in process (conftest)


@pytest.fixture(scope="module")
def m26():
    return engine.load(NAME)


@pytest.fixture
def sbx(m26):
    e = engine.Engine(m26, sandbox=True, max_retries=0)
    e.transport.sleep = lambda seconds: None
    yield e
    e.close()


def _events(stream):
    return [(ev.event, ev.data) for ev in stream]


# --- Responses objects ---------------------------------------------------------------------

def test_a_response_is_kept_with_the_reply_as_its_output_and_its_input_as_items(sbx):
    created = sbx.run("responses.create", {"model": "gpt-4o-mini", "input": "What is 2+2?"})
    assert created["id"].startswith("resp_") and created["object"] == "response"
    assert created["status"] == "completed" and created["model"] == "gpt-4o-mini"
    message = created["output"][0]
    assert (message["type"], message["role"]) == ("message", "assistant")
    assert message["content"][0] == {**message["content"][0], "type": "output_text", "text": REPLY}
    assert sbx.run("responses.retrieve", {"response_id": created["id"]}) == created
    items = sbx.run("responses.input_items.list", {"response_id": created["id"]})
    assert [(i["type"], i["role"], i["content"][0]["type"], i["content"][0]["text"]) for i in items["data"]] == \
        [("message", "user", "input_text", "What is 2+2?")]
    assert items["data"][0]["id"].startswith("msg_") and items["first_id"] == items["data"][0]["id"]


def test_a_list_of_input_items_is_listed_in_order(sbx):
    given = [{"role": "developer", "content": "Be brief."}, {"type": "message", "role": "user", "content": "Hi"}]
    created = sbx.run("responses.create", {"model": "gpt-4o-mini", "input": given})
    items = sbx.run("responses.input_items.list", {"response_id": created["id"], "order": "asc"})["data"]
    assert [(i["role"], i["content"][0]["text"]) for i in items] == [("developer", "Be brief."), ("user", "Hi")]
    other = sbx.run("responses.create", {"model": "gpt-4o-mini", "input": "Another"})
    assert len(sbx.run("responses.input_items.list", {"response_id": other["id"]})["data"]) == 1


def test_a_background_response_moves_on_as_it_is_retrieved_and_can_be_cancelled(sbx):
    created = sbx.run("responses.create", {"model": "gpt-4o-mini", "input": "Hi", "background": True})
    assert created["status"] == "queued" and created["background"] is True
    seen = [sbx.run("responses.retrieve", {"response_id": created["id"]})["status"] for _ in range(3)]
    assert seen == ["in_progress", "completed", "completed"]
    other = sbx.run("responses.create", {"model": "gpt-4o-mini", "input": "Hi", "background": True})
    assert sbx.run("responses.cancel", {"response_id": other["id"]})["status"] == "cancelled"


def test_a_deleted_response_is_gone(sbx):
    created = sbx.run("responses.create", {"model": "gpt-4o-mini", "input": "Hi"})
    sbx.run("responses.delete", {"response_id": created["id"]})  # the description declares no body
    with pytest.raises(engine.NotFoundError, match="No response found"):
        sbx.run("responses.retrieve", {"response_id": created["id"]})


# --- streams that end on a terminal event ---------------------------------------------------

def test_a_responses_stream_ends_on_response_completed_with_the_final_response(sbx):
    events = _events(sbx.run("responses.create", {"model": "gpt-4o-mini", "input": "Hi", "stream": True}))
    names = [name for name, _ in events]
    assert names[0] == "response.created" and names[-1] == "response.completed"
    assert "done" not in names and all(data["type"] == name for name, data in events)
    assert [data["sequence_number"] for _, data in events] == list(range(len(events)))
    assert "".join(d["delta"] for n, d in events if n == "response.output_text.delta") == REPLY
    final = events[-1][1]["response"]
    assert final["status"] == "completed" and final["output"][0]["content"][0]["text"] == REPLY
    assert final["output"][0]["id"].startswith("msg_")
    assert {d["item_id"] for n, d in events if n == "response.output_text.delta"} == {final["output"][0]["id"]}
    assert events[0][1]["response"]["output"] == [] and events[0][1]["response"]["id"] == final["id"]
    assert sbx.run("responses.retrieve", {"response_id": final["id"]}) == final


def test_a_retrieve_with_stream_replays_the_events_after_starting_after(sbx):
    created = sbx.run("responses.create", {"model": "gpt-4o-mini", "input": "Hi", "background": True})
    rest = _events(sbx.run("responses.retrieve", {"response_id": created["id"], "stream": True,
                                                  "starting_after": 3}))
    assert rest[0][1]["sequence_number"] == 4 and rest[-1][0] == "response.completed"
    whole = _events(sbx.run("responses.retrieve", {"response_id": created["id"], "stream": True}))
    assert whole[4:] == rest and whole[0][0] == "response.created"


def test_a_broken_background_stream_resumes_against_the_sandbox(sbx):
    """The engine's declared resume (responses_sse.resume) goes on from the last event it handed out."""
    adapter, real = sbx.sandbox, sbx.sandbox.send

    def cut_first_stream(request, **kwargs):
        response = real(request, **kwargs)
        if request.method == "POST" and response.headers["Content-Type"] == "text/event-stream":
            response.raw = io.BytesIO(b"\n\n".join(response.raw.read().split(b"\n\n")[:4]) + b"\n\n")
        return response

    adapter.send = cut_first_stream
    stream = sbx.run("responses.create", {"model": "gpt-4o-mini", "input": "Hi", "background": True, "stream": True})
    events = _events(stream)
    assert stream.resumes == 1
    assert [d["sequence_number"] for _, d in events] == list(range(len(events)))
    assert events[-1][0] == "response.completed"
    assert "".join(d["delta"] for n, d in events if n == "response.output_text.delta") == REPLY


@pytest.mark.parametrize("name, params, last", [
    ("images.generate", {"prompt": "a cat", "stream": True}, "image_generation.completed"),
    ("audio.transcriptions.create", {"file": ("hi.wav", b"RIFF" + bytes(40)), "model": "gpt-4o-transcribe",
                                     "stream": True}, "transcript.text.done"),
    ("audio.speech.create", {"model": "gpt-4o-mini-tts", "input": "Hi", "voice": "alloy", "stream_format": "sse"},
     "speech.audio.done"),
])
def test_other_event_streams_end_on_their_terminal_event(sbx, name, params, last):
    events = _events(sbx.run(name, params))
    assert events[-1][0] == last and events[-1][1]["type"] == last
    assert all(data["type"] == event for event, data in events)


def test_a_transcription_stream_carries_the_text(sbx):
    events = _events(sbx.run("audio.transcriptions.create", {"file": ("hi.wav", b"RIFF" + bytes(40)),
                                                             "model": "gpt-4o-transcribe", "stream": True}))
    assert "".join(d["delta"] for n, d in events if n == "transcript.text.delta") == events[-1][1]["text"] == REPLY


# --- conversations and their items ---------------------------------------------------------

def test_conversations_keep_their_items(sbx):
    conv = sbx.run("conversations.create", {"items": [{"type": "message", "role": "user", "content": "Hello"}],
                                            "metadata": {"topic": "demo"}})
    assert conv["id"].startswith("conv_") and conv["object"] == "conversation"
    assert sbx.run("conversations.retrieve", {"conversation_id": conv["id"]}) == conv
    updated = sbx.run("conversations.update", {"conversation_id": conv["id"], "metadata": {"topic": "other"}})
    assert updated["metadata"] == {"topic": "other"}
    added = sbx.run("conversations.items.create", {"conversation_id": conv["id"], "items": [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Second"}]},
        {"role": "assistant", "content": "Third"}]})
    assert added["object"] == "list" and len(added["data"]) == 2
    listed = sbx.run("conversations.items.list", {"conversation_id": conv["id"], "order": "asc"})["data"]
    assert [(i["role"], i["content"][0]["text"]) for i in listed] == \
        [("user", "Hello"), ("user", "Second"), ("assistant", "Third")]
    one = sbx.run("conversations.items.retrieve", {"conversation_id": conv["id"], "item_id": listed[1]["id"]})
    assert one == listed[1]
    after = sbx.run("conversations.items.delete", {"conversation_id": conv["id"], "item_id": listed[1]["id"]})
    assert after["id"] == conv["id"] and after["object"] == "conversation"
    assert len(sbx.run("conversations.items.list", {"conversation_id": conv["id"]})["data"]) == 2
    other = sbx.run("conversations.create", {})
    with pytest.raises(engine.NotFoundError):  # an item is found only in its own conversation
        sbx.run("conversations.items.retrieve", {"conversation_id": other["id"], "item_id": listed[0]["id"]})
    assert sbx.run("conversations.delete", {"conversation_id": conv["id"]})["deleted"] is True
    with pytest.raises(engine.NotFoundError):
        sbx.run("conversations.retrieve", {"conversation_id": conv["id"]})



# --- every action ---------------------------------------------------------------------------

# What a schema's smallest value cannot say: ids of stored objects in body fields, and text the API wants.
GIVEN = {
    "batches.create": lambda ids: {"input_file_id": ids["/files/{file_id}"], "endpoint": "/v1/responses",
                                   "completion_window": "24h"},
    "fine_tuning.jobs.create": lambda ids: {"model": "gpt-4o-mini", "training_file": ids["/files/{file_id}"]},
    "realtime.calls.create": lambda ids: {"sdp": "v=0\r\n"},
    "conversations.items.create": lambda ids: {"items": [{"type": "message", "role": "user", "content": "Hi"}]},
    "organization.users.roles.create": lambda ids: {"user_id": ids["/organization/users/{user_id}"], "role_id": "r"},
}


def _order(action, items):
    """Creates first (outer before inner), then reads, updates and verbs, then deletes (inner before outer)."""
    segs = action.path.strip("/").split("/")
    if action.method == "DELETE":
        return (3, -len(segs))
    creates = action.method == "POST" and any(p.startswith(action.path + "/{") for p in items)
    return (0 if creates else 1 if action.method == "GET" else 2, len(segs))


@pytest.mark.slow
def test_every_action_of_the_2026_surface_answers_with_its_declared_shape(sbx, m26):
    """All 288, each once (deletes on objects of their own), with params built from their schemas."""
    synth = Synth(m26.schemas, {})
    segments = [a.path.strip("/").split("/") for a in m26.actions.values()]
    items = {"/" + "/".join(segs[:i + 1]) for segs in segments for i, seg in enumerate(segs) if HOLE.match(seg)}
    ids: dict[str, str] = {"/models/{model}": "gpt-4o-mini"}
    makers: dict[str, tuple[str, dict]] = {}
    ids["/organization/users/{user_id}"] = sbx.run("organization.users.list")["data"][0]["id"]
    ids["/files/{file_id}"] = sbx.run("files.create", {"file": ("a.jsonl", b"{}\n"), "purpose": "batch"})["id"]
    answered = []

    def params_for(action):
        params, segs = {}, action.path.strip("/").split("/")
        for i, seg in enumerate(segs):
            hole = HOLE.match(seg)
            if hole:
                name = next(p.name for p in action.params if p.wire == hole.group(1))
                params[name] = ids.get("/" + "/".join(segs[:i + 1]), "gpt-4o-mini")
        for p in action.params:
            # A field named like a path parameter names an object of the outermost path that has it.
            named = sorted((k for k in ids if k.endswith("/{" + p.wire + "}")), key=len)
            if p.location != "path" and p.required:
                params[p.name] = PNG if p.file is not None else ids[named[0]] if named else \
                    synth.value(p.schema, p.wire, {}, want=True)
        return {**params, **GIVEN.get(action.name, lambda ids: {})(ids)}

    def keep(action, params, result):
        """The new object's id, under each item path below the path that made it."""
        data = result.get("data") if isinstance(result, dict) else None
        made = data[0] if action.method == "POST" and isinstance(data, list) and data else result
        for path in items:
            if path.startswith(action.path + "/{") and isinstance(made, dict):
                hole = HOLE.match(path[len(action.path) + 1:].split("/")[0]).group(1)
                ident = made.get("id") or params.get(hole)
                if isinstance(ident, str):
                    key = path[:len(action.path) + 2 + len(hole) + 1]
                    ids[key] = ident
                    makers[key] = (action.name, params)

    for action in sorted(m26.actions.values(), key=lambda a: _order(a, items)):
        if action.method == "DELETE" and action.path in makers:  # a fresh object, so each delete has its own
            name, params = makers[action.path]
            keep(m26.actions[name], params, sbx.run(name, params))
        params = params_for(action)
        result = sbx.run(action.name, params)
        if action.response_kind == "binary":
            assert isinstance(result, bytes), action.name
        elif action.output_schema():
            jsonschema.Draft202012Validator(action.output_schema()).validate(result)
        if action.method == "POST" and not action.pagination:
            keep(action, params, result)
        elif action.pagination and result.get("data") and isinstance(result["data"][0], dict):
            for path in items:  # an object no action creates appears when first listed
                if path.rsplit("/", 1)[0] == action.path and "id" in result["data"][0]:
                    ids.setdefault(path, result["data"][0]["id"])
        answered.append(action.name)
    assert sorted(answered) == sorted(m26.actions) and len(answered) == 288
