"""The offline sandbox: every action answers in process, statefully, with the API's shapes and errors.

Expected values (id prefixes, error bodies, status sequences, list fields)
are written from the API reference, not read back from the sandbox.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

import engine

ROOT = Path(__file__).resolve().parent.parent
PNG = b"\x89PNG\r\n\x1a\n" + bytes(48)
WAV = b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(24)
START = 1730419200  # 2024-11-01T00:00:00Z


@pytest.fixture(autouse=True)
def _no_network(monkeypatch):
    """Any attempt to open a socket fails the test: the sandbox must answer in process."""
    def refuse(*args, **kwargs):
        raise AssertionError(f"the sandbox touched the network: {args!r}")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


@pytest.fixture
def sbx(manifest):
    e = engine.Engine(manifest, sandbox=True, max_retries=0)
    e.transport.sleep = lambda seconds: None  # polls wait for nothing
    yield e
    e.close()


# Every action once, in an order where each finds what it needs; `save` names the id to keep.
SCENARIO = [
    ("models.list", lambda i: {}, None),
    ("models.retrieve", lambda i: {"model": "gpt-4o-mini"}, None),
    ("chat.completions.create", lambda i: {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]},
     None),
    ("completions.create", lambda i: {"model": "gpt-3.5-turbo-instruct", "prompt": "Say hi"}, None),
    ("embeddings.create", lambda i: {"model": "text-embedding-3-small", "input": "hello"}, None),
    ("moderations.create", lambda i: {"input": "hello"}, None),
    ("images.generate", lambda i: {"prompt": "a cat", "n": 2}, None),
    ("images.edit", lambda i: {"image": PNG, "prompt": "add a hat"}, None),
    ("images.create_variation", lambda i: {"image": PNG}, None),
    ("audio.speech.create", lambda i: {"model": "tts-1", "input": "Hi", "voice": "alloy"}, None),
    ("audio.transcriptions.create", lambda i: {"file": ("hi.wav", WAV), "model": "whisper-1"}, None),
    ("audio.translations.create", lambda i: {"file": ("hi.wav", WAV), "model": "whisper-1"}, None),
    ("realtime.sessions.create", lambda i: {"model": "gpt-4o-realtime-preview"}, None),
    ("files.create", lambda i: {"file": ("train.jsonl", b'{"prompt": "a"}\n'), "purpose": "fine-tune"}, "file_id"),
    ("files.list", lambda i: {"purpose": "fine-tune"}, None),
    ("files.retrieve", lambda i: {"file_id": i["file_id"]}, None),
    ("files.content", lambda i: {"file_id": i["file_id"]}, None),
    ("uploads.create", lambda i: {"filename": "big.jsonl", "purpose": "fine-tune", "bytes": 10,
                                  "mime_type": "text/jsonl"}, "upload_id"),
    ("uploads.parts.create", lambda i: {"upload_id": i["upload_id"], "data": b"0123456789"}, "part_id"),
    ("uploads.complete", lambda i: {"upload_id": i["upload_id"], "part_ids": [i["part_id"]]}, None),
    ("uploads.cancel", lambda i: {"upload_id": i["upload_id"]}, None),
    ("batches.create", lambda i: {"input_file_id": i["file_id"], "endpoint": "/v1/chat/completions",
                                  "completion_window": "24h"}, "batch_id"),
    ("batches.list", lambda i: {}, None),
    ("batches.retrieve", lambda i: {"batch_id": i["batch_id"]}, None),
    ("batches.cancel", lambda i: {"batch_id": i["batch_id"]}, None),
    ("fine_tuning.jobs.create", lambda i: {"model": "gpt-4o-mini", "training_file": i["file_id"]},
     "fine_tuning_job_id"),
    ("fine_tuning.jobs.list", lambda i: {}, None),
    ("fine_tuning.jobs.retrieve", lambda i: {"fine_tuning_job_id": i["fine_tuning_job_id"]}, None),
    ("fine_tuning.jobs.checkpoints.list", lambda i: {"fine_tuning_job_id": i["fine_tuning_job_id"]}, None),
    ("fine_tuning.jobs.list_events", lambda i: {"fine_tuning_job_id": i["fine_tuning_job_id"]}, None),
    ("fine_tuning.jobs.cancel", lambda i: {"fine_tuning_job_id": i["fine_tuning_job_id"]}, None),
    ("assistants.create", lambda i: {"model": "gpt-4o-mini", "name": "Helper"}, "assistant_id"),
    ("assistants.list", lambda i: {}, None),
    ("assistants.retrieve", lambda i: {"assistant_id": i["assistant_id"]}, None),
    ("assistants.update", lambda i: {"assistant_id": i["assistant_id"], "name": "Renamed"}, None),
    ("threads.create", lambda i: {}, "thread_id"),
    ("threads.retrieve", lambda i: {"thread_id": i["thread_id"]}, None),
    ("threads.update", lambda i: {"thread_id": i["thread_id"], "metadata": {"k": "v"}}, None),
    ("threads.messages.create", lambda i: {"thread_id": i["thread_id"], "role": "user", "content": "Hi"},
     "message_id"),
    ("threads.messages.list", lambda i: {"thread_id": i["thread_id"]}, None),
    ("threads.messages.retrieve", lambda i: {"thread_id": i["thread_id"], "message_id": i["message_id"]}, None),
    ("threads.messages.update", lambda i: {"thread_id": i["thread_id"], "message_id": i["message_id"],
                                           "metadata": {"k": "v"}}, None),
    ("threads.runs.create", lambda i: {"thread_id": i["thread_id"], "assistant_id": i["assistant_id"]}, "run_id"),
    ("threads.runs.list", lambda i: {"thread_id": i["thread_id"]}, None),
    ("threads.runs.retrieve", lambda i: {"thread_id": i["thread_id"], "run_id": i["run_id"]}, None),
    ("threads.runs.update", lambda i: {"thread_id": i["thread_id"], "run_id": i["run_id"],
                                       "metadata": {"k": "v"}}, None),
    ("threads.runs.steps.list", lambda i: {"thread_id": i["thread_id"], "run_id": i["run_id"]}, "step_id"),
    ("threads.runs.steps.retrieve", lambda i: {"thread_id": i["thread_id"], "run_id": i["run_id"],
                                               "step_id": i["step_id"]}, None),
    ("threads.runs.submit_tool_outputs", lambda i: {"thread_id": i["thread_id"], "run_id": i["run_id"],
                                                    "tool_outputs": [{"tool_call_id": "call_1", "output": "42"}]},
     None),
    ("threads.runs.cancel", lambda i: {"thread_id": i["thread_id"], "run_id": i["run_id"]}, None),
    ("threads.create_and_run", lambda i: {"assistant_id": i["assistant_id"]}, None),
    ("vector_stores.create", lambda i: {"name": "docs"}, "vector_store_id"),
    ("vector_stores.list", lambda i: {}, None),
    ("vector_stores.retrieve", lambda i: {"vector_store_id": i["vector_store_id"]}, None),
    ("vector_stores.update", lambda i: {"vector_store_id": i["vector_store_id"], "name": "documents"}, None),
    ("vector_stores.files.create", lambda i: {"vector_store_id": i["vector_store_id"], "file_id": i["file_id"]},
     None),
    ("vector_stores.files.list", lambda i: {"vector_store_id": i["vector_store_id"]}, None),
    ("vector_stores.files.retrieve", lambda i: {"vector_store_id": i["vector_store_id"], "file_id": i["file_id"]},
     None),
    ("vector_stores.file_batches.create", lambda i: {"vector_store_id": i["vector_store_id"],
                                                     "file_ids": [i["file_id"]]}, "vs_batch_id"),
    ("vector_stores.file_batches.retrieve", lambda i: {"vector_store_id": i["vector_store_id"],
                                                       "batch_id": i["vs_batch_id"]}, None),
    ("vector_stores.file_batches.list_files", lambda i: {"vector_store_id": i["vector_store_id"],
                                                         "batch_id": i["vs_batch_id"]}, None),
    ("vector_stores.file_batches.cancel", lambda i: {"vector_store_id": i["vector_store_id"],
                                                     "batch_id": i["vs_batch_id"]}, None),
    ("vector_stores.files.delete", lambda i: {"vector_store_id": i["vector_store_id"], "file_id": i["file_id"]},
     None),
    ("vector_stores.delete", lambda i: {"vector_store_id": i["vector_store_id"]}, None),
    ("threads.messages.delete", lambda i: {"thread_id": i["thread_id"], "message_id": i["message_id"]}, None),
    ("threads.delete", lambda i: {"thread_id": i["thread_id"]}, None),
    ("assistants.delete", lambda i: {"assistant_id": i["assistant_id"]}, None),
    ("organization.admin_api_keys.create", lambda i: {"name": "ops"}, "admin_key_id"),
    ("organization.admin_api_keys.list", lambda i: {}, None),
    ("organization.admin_api_keys.retrieve", lambda i: {"key_id": i["admin_key_id"]}, None),
    ("organization.admin_api_keys.delete", lambda i: {"key_id": i["admin_key_id"]}, None),
    ("organization.audit_logs.list", lambda i: {}, None),
    ("organization.costs", lambda i: {"start_time": START}, None),
    ("organization.usage.audio_speeches", lambda i: {"start_time": START}, None),
    ("organization.usage.audio_transcriptions", lambda i: {"start_time": START}, None),
    ("organization.usage.code_interpreter_sessions", lambda i: {"start_time": START}, None),
    ("organization.usage.completions", lambda i: {"start_time": START, "limit": 3}, None),
    ("organization.usage.embeddings", lambda i: {"start_time": START}, None),
    ("organization.usage.images", lambda i: {"start_time": START}, None),
    ("organization.usage.moderations", lambda i: {"start_time": START}, None),
    ("organization.usage.vector_stores", lambda i: {"start_time": START}, None),
    ("organization.invites.create", lambda i: {"email": "a@example.com", "role": "reader"}, "invite_id"),
    ("organization.invites.list", lambda i: {}, None),
    ("organization.invites.retrieve", lambda i: {"invite_id": i["invite_id"]}, None),
    ("organization.invites.delete", lambda i: {"invite_id": i["invite_id"]}, None),
    ("organization.users.list", lambda i: {}, "user_id"),
    ("organization.users.retrieve", lambda i: {"user_id": i["user_id"]}, None),
    ("organization.users.update", lambda i: {"user_id": i["user_id"], "role": "reader"}, None),
    ("organization.projects.create", lambda i: {"name": "Sandbox"}, "project_id"),
    ("organization.projects.list", lambda i: {}, None),
    ("organization.projects.retrieve", lambda i: {"project_id": i["project_id"]}, None),
    ("organization.projects.update", lambda i: {"project_id": i["project_id"], "name": "Renamed"}, None),
    ("organization.projects.api_keys.list", lambda i: {"project_id": i["project_id"]}, "key_id"),
    ("organization.projects.api_keys.retrieve", lambda i: {"project_id": i["project_id"], "key_id": i["key_id"]},
     None),
    ("organization.projects.api_keys.delete", lambda i: {"project_id": i["project_id"], "key_id": i["key_id"]},
     None),
    ("organization.projects.rate_limits.list", lambda i: {"project_id": i["project_id"]}, "rate_limit_id"),
    ("organization.projects.rate_limits.update", lambda i: {"project_id": i["project_id"],
                                                            "rate_limit_id": i["rate_limit_id"],
                                                            "max_requests_per_1_minute": 100}, None),
    ("organization.projects.service_accounts.create", lambda i: {"project_id": i["project_id"], "name": "bot"},
     "service_account_id"),
    ("organization.projects.service_accounts.list", lambda i: {"project_id": i["project_id"]}, None),
    ("organization.projects.service_accounts.retrieve", lambda i: {"project_id": i["project_id"],
                                                                   "service_account_id": i["service_account_id"]},
     None),
    ("organization.projects.service_accounts.delete", lambda i: {"project_id": i["project_id"],
                                                                 "service_account_id": i["service_account_id"]},
     None),
    ("organization.projects.users.create", lambda i: {"project_id": i["project_id"], "user_id": i["user_id"],
                                                      "role": "member"}, None),
    ("organization.projects.users.list", lambda i: {"project_id": i["project_id"]}, None),
    ("organization.projects.users.retrieve", lambda i: {"project_id": i["project_id"], "user_id": i["user_id"]},
     None),
    ("organization.projects.users.update", lambda i: {"project_id": i["project_id"], "user_id": i["user_id"],
                                                      "role": "owner"}, None),
    ("organization.projects.users.delete", lambda i: {"project_id": i["project_id"], "user_id": i["user_id"]},
     None),
    ("organization.projects.archive", lambda i: {"project_id": i["project_id"]}, None),
    ("organization.users.delete", lambda i: {"user_id": i["user_id"]}, None),
    ("models.delete", lambda i: {"model": "gpt-4o"}, None),
    ("files.delete", lambda i: {"file_id": i["file_id"]}, None),
]

# Id prefixes of the API reference's examples, for the objects the scenario creates.
PREFIXES = {"files.create": "file-", "uploads.create": "upload_", "uploads.parts.create": "part_",
            "batches.create": "batch_", "fine_tuning.jobs.create": "ftjob-", "assistants.create": "asst_",
            "threads.create": "thread_", "threads.messages.create": "msg_", "threads.runs.create": "run_",
            "vector_stores.create": "vs_", "chat.completions.create": "chatcmpl-", "threads.create_and_run": "run_",
            "organization.projects.create": "proj_", "organization.invites.create": "invite-"}


def test_the_scenario_covers_every_action(manifest):
    assert sorted(name for name, _, _ in SCENARIO) == sorted(manifest.actions)
    assert len(SCENARIO) == 110


def test_every_action_answers_in_the_sandbox_with_its_declared_shape(sbx):
    ids: dict[str, str] = {}
    for name, make, save in SCENARIO:
        action = sbx.action(name)
        result = sbx.run(name, make(ids))
        if action.response_kind == "binary":
            assert isinstance(result, bytes) and result, name
        else:
            jsonschema.Draft202012Validator(action.output_schema()).validate(result)
            assert isinstance(result, dict), name
        if name in PREFIXES:
            assert result["id"].startswith(PREFIXES[name]), (name, result["id"])
        if save:
            ids[save] = result["data"][0]["id"] if action.pagination else result["id"]
        if name.endswith(".delete"):
            assert result["deleted"] is True and result["id"] == list(make(ids).values())[-1], name


def test_answers_echo_the_request(sbx):
    chat = sbx.run("chat.completions.create", {"model": "gpt-4o-mini", "n": 3,
                                               "messages": [{"role": "user", "content": "Hi"}]})
    assert chat["object"] == "chat.completion" and chat["model"] == "gpt-4o-mini"
    assert [c["index"] for c in chat["choices"]] == [0, 1, 2]
    assert all(c["message"]["role"] == "assistant" and c["message"]["content"] for c in chat["choices"])
    emb = sbx.run("embeddings.create", {"model": "text-embedding-3-small", "input": ["a", "b"], "dimensions": 4})
    assert emb["model"] == "text-embedding-3-small"
    assert [len(d["embedding"]) for d in emb["data"]] == [4, 4]
    images = sbx.run("images.generate", {"prompt": "a cat", "n": 2})
    assert len(images["data"]) == 2
    file = sbx.run("files.create", {"file": ("notes.txt", b"hello"), "purpose": "assistants"})
    assert (file["filename"], file["bytes"], file["purpose"], file["object"]) == ("notes.txt", 5, "assistants", "file")
    assert sbx.run("files.content", {"file_id": file["id"]}) == b"hello"
    msg = sbx.run("threads.messages.create", {"thread_id": sbx.run("threads.create")["id"], "role": "user",
                                              "content": "What is 2+2?"})
    assert msg["content"][0]["type"] == "text" and msg["content"][0]["text"]["value"] == "What is 2+2?"


def test_stateful_flow_polls_to_completion_and_pages_with_real_cursors(sbx):
    asst = sbx.run("assistants.create", {"model": "gpt-4o-mini", "name": "Math tutor"})
    thread = sbx.run("threads.create")
    assert thread["id"].startswith("thread_")
    sent = [sbx.run("threads.messages.create", {"thread_id": thread["id"], "role": "user", "content": f"m{n}"})["id"]
            for n in range(5)]
    assert all(m.startswith("msg_") for m in sent)
    run = sbx.run("threads.runs.create_and_poll", {"thread_id": thread["id"], "assistant_id": asst["id"]})
    assert run["status"] == "completed" and run["thread_id"] == thread["id"] and run["assistant_id"] == asst["id"]
    # The completed run left the assistant's reply in the thread, linked to the run.
    reply = sbx.run("threads.messages.list", {"thread_id": thread["id"], "limit": 1})["data"][0]
    assert (reply["role"], reply["run_id"], reply["assistant_id"]) == ("assistant", run["id"], asst["id"])
    assert reply["content"][0]["text"]["value"]
    sent.append(reply["id"])
    sent = sent[1:]  # five newest: m1..m4 and the reply
    # Default order is newest first (desc); pages of 2 chain through after=last_id.
    page = sbx.run("threads.messages.list", {"thread_id": thread["id"], "limit": 2})
    assert [m["id"] for m in page["data"]] == sent[::-1][:2]
    assert (page["first_id"], page["last_id"], page["has_more"]) == (sent[4], sent[3], True)
    page2 = sbx.run("threads.messages.list", {"thread_id": thread["id"], "limit": 2, "after": page["last_id"]})
    assert [m["id"] for m in page2["data"]] == [sent[2], sent[1]] and page2["has_more"] is True
    back = sbx.run("threads.messages.list", {"thread_id": thread["id"], "limit": 2, "before": page2["first_id"]})
    assert [m["id"] for m in back["data"]] == [sent[4], sent[3]] and back["has_more"] is False
    asc = sbx.run("threads.messages.list", {"thread_id": thread["id"], "order": "asc", "limit": 4})
    assert [m["id"] for m in asc["data"]][1:] == sent[:3] and asc["has_more"] is True
    walked = [m["id"] for m in sbx.paginate("threads.messages.list", {"thread_id": thread["id"], "limit": 2})]
    assert walked[:5] == sent[::-1] and len(walked) == 6
    # Lists are scoped to their parent: another thread's messages are not here.
    other = sbx.run("threads.create")
    assert sbx.run("threads.messages.list", {"thread_id": other["id"]})["data"] == []


def test_runs_move_from_queued_to_completed_over_polls(sbx):
    asst = sbx.run("assistants.create", {"model": "gpt-4o-mini"})
    thread = sbx.run("threads.create")
    run = sbx.run("threads.runs.create", {"thread_id": thread["id"], "assistant_id": asst["id"]})
    seen = [run["status"]] + [sbx.run("threads.runs.retrieve", {"thread_id": thread["id"], "run_id": run["id"]})
                              ["status"] for _ in range(3)]
    assert seen == ["queued", "in_progress", "completed", "completed"]
    done = sbx.run("threads.runs.retrieve", {"thread_id": thread["id"], "run_id": run["id"]})
    assert isinstance(done["started_at"], int) and isinstance(done["completed_at"], int)
    assert done["cancelled_at"] is None and done["failed_at"] is None
    job = sbx.run("fine_tuning.jobs.create", {"model": "gpt-4o-mini", "training_file": "file-abc"})
    done = sbx.run("fine_tuning.jobs.wait", {"fine_tuning_job_id": job["id"]})
    assert done["status"] == "succeeded"


def test_a_run_takes_model_and_instructions_from_its_assistant(sbx):
    asst = sbx.run("assistants.create", {"model": "gpt-4o", "instructions": "Be brief.",
                                         "tools": [{"type": "code_interpreter"}]})
    thread = sbx.run("threads.create")
    run = sbx.run("threads.runs.create", {"thread_id": thread["id"], "assistant_id": asst["id"]})
    assert (run["model"], run["instructions"], run["tools"]) == ("gpt-4o", "Be brief.", [{"type": "code_interpreter"}])
    own = sbx.run("threads.runs.create", {"thread_id": thread["id"], "assistant_id": asst["id"],
                                          "model": "gpt-4o-mini"})
    assert own["model"] == "gpt-4o-mini"  # what the request says wins
    with pytest.raises(engine.NotFoundError) as info:
        sbx.run("threads.runs.create", {"thread_id": thread["id"], "assistant_id": "asst_missing"})
    assert info.value.body["error"]["message"] == "No assistant found with id 'asst_missing'."


def test_verbs_set_the_declared_status(sbx):
    thread = sbx.run("threads.create")
    asst = sbx.run("assistants.create", {"model": "gpt-4o-mini"})
    run = sbx.run("threads.runs.create", {"thread_id": thread["id"], "assistant_id": asst["id"]})
    cancelled = sbx.run("threads.runs.cancel", {"thread_id": thread["id"], "run_id": run["id"]})
    assert cancelled["status"] == "cancelled" and isinstance(cancelled["cancelled_at"], int)
    assert cancelled["completed_at"] is None
    proj = sbx.run("organization.projects.create", {"name": "p"})
    assert sbx.run("organization.projects.archive", {"project_id": proj["id"]})["status"] == "archived"
    assert sbx.run("organization.projects.retrieve", {"project_id": proj["id"]})["status"] == "archived"


def test_chunked_upload_completes_into_a_retrievable_file(sbx, tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_bytes(b'{"a": 1}\n' * 10)
    file = sbx.run("uploads.upload_file", {"file": path, "purpose": "fine-tune", "mime_type": "text/jsonl"})
    assert file["id"].startswith("file-") and file["object"] == "file"
    assert sbx.run("files.retrieve", {"file_id": file["id"]})["id"] == file["id"]


def test_unknown_ids_give_the_api_404_body(sbx):
    with pytest.raises(engine.NotFoundError) as info:
        sbx.run("assistants.retrieve", {"assistant_id": "asst_missing"})
    assert info.value.status_code == 404
    assert info.value.body == {"error": {"message": "No assistant found with id 'asst_missing'.",
                                         "type": "invalid_request_error", "param": None, "code": None}}
    # A missing parent is reported as the parent.
    with pytest.raises(engine.NotFoundError) as info:
        sbx.run("threads.messages.list", {"thread_id": "thread_missing"})
    assert info.value.body["error"]["message"] == "No thread found with id 'thread_missing'."
    # A message retrieved under the wrong thread does not exist there.
    t1, t2 = sbx.run("threads.create"), sbx.run("threads.create")
    msg = sbx.run("threads.messages.create", {"thread_id": t1["id"], "role": "user", "content": "x"})
    with pytest.raises(engine.NotFoundError):
        sbx.run("threads.messages.retrieve", {"thread_id": t2["id"], "message_id": msg["id"]})


def test_delete_then_retrieve_is_404(sbx):
    asst = sbx.run("assistants.create", {"model": "gpt-4o-mini"})
    gone = sbx.run("assistants.delete", {"assistant_id": asst["id"]})
    assert gone == {"id": asst["id"], "object": "assistant.deleted", "deleted": True}
    with pytest.raises(engine.NotFoundError):
        sbx.run("assistants.retrieve", {"assistant_id": asst["id"]})
    assert asst["id"] not in [a["id"] for a in sbx.run("assistants.list")["data"]]


def test_bad_bodies_get_the_api_400(sbx):
    """The engine validates first; a raw request past it meets the sandbox's own check."""
    url = sbx.base_url + "/chat/completions"
    missing = sbx.session.post(url, json={"messages": [{"role": "user", "content": "x"}]})
    assert missing.status_code == 400
    assert missing.json() == {"error": {"message": "Missing required parameter: 'model'.",
                                        "type": "invalid_request_error", "param": "model",
                                        "code": "missing_required_parameter"}}
    unknown = sbx.session.post(url, json={"model": "m", "messages": [], "colour": "red"})
    assert unknown.status_code == 400 and unknown.json()["error"]["param"] == "colour"
    assert unknown.json()["error"]["message"] == "Unrecognized request argument supplied: colour"
    wrong = sbx.session.post(sbx.base_url + "/assistants", json={"model": "gpt-4o", "temperature": "hot"})
    assert wrong.status_code == 400
    assert wrong.json()["error"]["param"] == "temperature" and wrong.json()["error"]["code"] == "invalid_value"
    garbled = sbx.session.post(sbx.base_url + "/assistants", data=b"{not json",
                               headers={"Content-Type": "application/json"})
    assert garbled.status_code == 400 and garbled.json()["error"]["type"] == "invalid_request_error"
    nowhere = sbx.session.get(sbx.base_url + "/no/such/path")
    assert nowhere.status_code == 404 and nowhere.json()["error"]["message"] == "Invalid URL (GET /v1/no/such/path)."
    # Multipart bodies are checked too: a file part is required.
    no_file = sbx.session.post(sbx.base_url + "/files", files={"purpose": (None, "fine-tune")})
    assert no_file.status_code == 400 and no_file.json()["error"]["param"] == "file"
    bad_purpose = sbx.session.post(sbx.base_url + "/files", files={"purpose": (None, "fun"), "file": ("a", b"x")})
    assert bad_purpose.status_code == 400 and bad_purpose.json()["error"]["param"] == "purpose"


def test_streaming_chat_yields_chunks_then_ends(sbx):
    events = list(sbx.run("chat.completions.create", {"model": "gpt-4o-mini", "stream": True,
                                                      "messages": [{"role": "user", "content": "Hi"}]}))
    assert len(events) >= 2 and all(e.data["object"] == "chat.completion.chunk" for e in events)
    assert len({e.data["id"] for e in events}) == 1 and events[0].data["id"].startswith("chatcmpl-")
    assert all(e.data["model"] == "gpt-4o-mini" for e in events)
    text = "".join(e.data["choices"][0]["delta"].get("content") or "" for e in events)
    assert text
    assert [e.data["choices"][0]["finish_reason"] for e in events][-1] == "stop"
    assert events[0].data["choices"][0]["finish_reason"] is None
    schema = sbx.manifest.self_contained({"$ref": "#/schemas/CreateChatCompletionStreamResponse"})
    for e in events:
        jsonschema.Draft202012Validator(schema).validate(e.data)


def test_streaming_a_run_sends_its_lifecycle_events(sbx):
    asst = sbx.run("assistants.create", {"model": "gpt-4o-mini"})
    events = list(sbx.run("threads.create_and_run", {"assistant_id": asst["id"], "stream": True}))
    names = [e.event for e in events]
    assert names == ["thread.created", "thread.run.created", "thread.run.queued", "thread.run.in_progress",
                     "thread.message.created", "thread.run.completed"]
    run = events[-1].data
    assert events[4].data["role"] == "assistant" and events[4].data["run_id"] == run["id"]
    assert run["status"] == "completed" and run["thread_id"] == events[0].data["id"]
    assert sbx.run("threads.runs.retrieve", {"thread_id": run["thread_id"], "run_id": run["id"]})["status"] \
        == "completed"


def test_binary_actions_answer_bytes(sbx, tmp_path):
    audio = sbx.run("audio.speech.create", {"model": "tts-1", "input": "Hi", "voice": "alloy"}, raw=True)
    assert isinstance(audio.data, bytes) and audio.data
    assert audio.headers["content-type"] == "application/octet-stream"
    file = sbx.run("files.create", {"file": ("a.jsonl", b'{"x": 1}\n'), "purpose": "batch"})
    out = tmp_path / "copy.jsonl"
    assert sbx.run("files.content", {"file_id": file["id"]}, output=out) == 9
    assert out.read_bytes() == b'{"x": 1}\n'
    with pytest.raises(engine.NotFoundError):
        sbx.run("files.content", {"file_id": "file-missing"})


def test_usage_lists_synthesize_buckets(sbx):
    usage = sbx.run("organization.usage.completions", {"start_time": START, "limit": 3})
    assert usage["object"] == "page" and len(usage["data"]) == 3 and usage["has_more"] is False
    assert all(b["object"] == "bucket" for b in usage["data"])


def test_state_file_survives_between_engines(manifest, tmp_path):
    state = tmp_path / "state.json"
    with engine.Engine(manifest, sandbox_state=state) as first:
        asst = first.run("assistants.create", {"model": "gpt-4o-mini", "name": "Kept"})
    assert json.loads(state.read_text())  # plain JSON on disk
    assert not [p for p in tmp_path.iterdir() if p.name != "state.json"]  # no temp file left behind
    with engine.Engine(manifest, sandbox_state=state) as second:
        assert second.run("assistants.retrieve", {"assistant_id": asst["id"]})["name"] == "Kept"
    with engine.Engine(manifest, sandbox=True) as fresh:  # no state file: a world of its own
        with pytest.raises(engine.NotFoundError):
            fresh.run("assistants.retrieve", {"assistant_id": asst["id"]})


def test_state_file_across_cli_processes(tmp_path):
    state = str(tmp_path / "s.json")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env["PYTHONPATH"] = str(ROOT)

    def cli(*args: str) -> dict:
        proc = subprocess.run([sys.executable, "-m", "engine.cli", "--sandbox-state", state, "run", *args],
                              capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    asst = cli("assistants.create", "-p", "model=gpt-4o-mini", "-p", "name=Tutor")
    thread = cli("threads.create")
    cli("threads.messages.create", "-p", f"thread_id={thread['id']}", "-p", "role=user", "-p", "content=Hi")
    run = cli("threads.runs.create_and_poll", "-p", f"thread_id={thread['id']}", "-p", f"assistant_id={asst['id']}")
    assert run["status"] == "completed"
    messages = cli("threads.messages.list", "-p", f"thread_id={thread['id']}", "-p", "order=asc")
    assert [m["role"] for m in messages["data"]] == ["user", "assistant"]
    assert messages["data"][0]["content"][0]["text"]["value"] == "Hi"
    assert messages["data"][1]["run_id"] == run["id"]
    missing = subprocess.run([sys.executable, "-m", "engine.cli", "--sandbox-state", state, "run",
                              "assistants.retrieve", "-p", "assistant_id=asst_nope"],
                             capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
    assert missing.returncode == 4 and "No assistant found with id 'asst_nope'." in missing.stderr


def test_objects_no_action_creates_appear_once_when_listed(sbx):
    users = sbx.run("organization.users.list")["data"]
    assert len(users) == 1 and users[0]["object"] == "organization.user"
    assert sbx.run("organization.users.list")["data"] == users  # the same user, not a new one
    assert sbx.run("organization.users.retrieve", {"user_id": users[0]["id"]}) == users[0]
    sbx.run("organization.users.delete", {"user_id": users[0]["id"]})
    assert sbx.run("organization.users.list")["data"] == []
    job = sbx.run("fine_tuning.jobs.create", {"model": "gpt-4o-mini", "training_file": "file-abc"})
    events = sbx.run("fine_tuning.jobs.list_events", {"fine_tuning_job_id": job["id"]})["data"]
    assert [e["object"] for e in events] == ["fine_tuning.job.event"]


def test_an_unwritable_state_file_is_an_engine_error(manifest, tmp_path):
    with engine.Engine(manifest, sandbox_state=tmp_path / "no" / "such" / "dir" / "s.json") as eng:
        with pytest.raises(engine.Error, match="cannot be written"):
            eng.run("threads.create")
    (tmp_path / "bad.json").write_text("{not json")
    with engine.Engine(manifest, sandbox_state=tmp_path / "bad.json") as eng:
        with pytest.raises(engine.Error, match="cannot be read"):
            eng.run("threads.create")


def test_threads_share_one_sandbox(sbx):
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(8) as pool:
        made = list(pool.map(lambda n: sbx.run("assistants.create", {"model": "gpt-4o-mini", "name": str(n)}),
                             range(40)))
    assert len({a["id"] for a in made}) == 40
    listed = sbx.run("assistants.list", {"limit": 100})["data"]
    assert {a["id"] for a in listed} == {a["id"] for a in made}
