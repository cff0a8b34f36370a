"""The offline sandbox: every action answers in process, statefully, with the API's shapes and errors.

Expected values (id prefixes, error bodies, status sequences, list fields)
are written from the API reference, not read back from the sandbox.
"""
from __future__ import annotations

import json
import os
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


pytestmark = pytest.mark.usefixtures("no_network")  # the sandbox answers in process (conftest)


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


def test_embeddings_are_usable_vectors(sbx):
    """Never all zeros (a cosine similarity would divide by zero), the same for the same request."""
    params = {"model": "text-embedding-3-small", "input": ["a", "b"], "dimensions": 8}
    first = [d["embedding"] for d in sbx.run("embeddings.create", params)["data"]]
    again = [d["embedding"] for d in sbx.run("embeddings.create", params)["data"]]
    assert first == again
    assert all(len(v) == 8 and any(x != 0 for x in v) and all(-1 <= x <= 1 for x in v) for v in first)
    assert first[0] != first[1]


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
    train = sbx.run("files.create", {"file": ("train.jsonl", b'{"prompt": "a"}\n'), "purpose": "fine-tune"})
    job = sbx.run("fine_tuning.jobs.create", {"model": "gpt-4o-mini", "training_file": train["id"]})
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
    content = b"".join(b'{"n": %07d}\n' % n for n in range(800_000))  # 12.8 MB: three parts of 5 MB
    path.write_bytes(content)
    file = sbx.run("uploads.upload_file", {"file": path, "purpose": "fine-tune", "mime_type": "text/jsonl",
                                           "part_size": 5 * 1024 * 1024, "concurrency": 3})
    assert file["id"].startswith("file-") and file["object"] == "file"
    assert (file["filename"], file["purpose"], file["bytes"]) == ("train.jsonl", "fine-tune", len(content))
    # Retrieving moves a file on from `uploaded` to `processed`, as the API's processing does.
    assert sbx.run("files.retrieve", {"file_id": file["id"]}) == {**file, "status": "processed"}
    assert sbx.run("files.content", {"file_id": file["id"]}) == content


def test_completing_an_upload_joins_its_parts_in_the_order_named(sbx):
    upload = sbx.run("uploads.create", {"filename": "notes.txt", "purpose": "assistants", "bytes": 11,
                                        "mime_type": "text/plain"})
    first = sbx.run("uploads.parts.create", {"upload_id": upload["id"], "data": b"world"})
    second = sbx.run("uploads.parts.create", {"upload_id": upload["id"], "data": b"hello "})
    assert (first["object"], first["upload_id"]) == ("upload.part", upload["id"])
    done = sbx.run("uploads.complete", {"upload_id": upload["id"], "part_ids": [second["id"], first["id"]]})
    assert done["status"] == "completed"
    file = done["file"]
    assert (file["object"], file["filename"], file["purpose"], file["bytes"]) == ("file", "notes.txt", "assistants", 11)
    assert sbx.run("files.content", {"file_id": file["id"]}) == b"hello world"
    # A part of another upload is not this upload's.
    other = sbx.run("uploads.create", {"filename": "x.txt", "purpose": "assistants", "bytes": 5,
                                       "mime_type": "text/plain"})
    with pytest.raises(engine.NotFoundError) as info:
        sbx.run("uploads.complete", {"upload_id": other["id"], "part_ids": [first["id"]]})
    assert info.value.body["error"]["message"] == f"No part found with id '{first['id']}'."


def test_a_batch_of_an_uploaded_file_runs_its_lines(sbx, tmp_path):
    lines = [{"custom_id": f"r{n}", "method": "POST", "url": "/v1/embeddings",
              "body": {"model": "text-embedding-3-small", "input": f"x{n}"}} for n in range(3)]
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    file = sbx.run("uploads.upload_file", {"file": path, "purpose": "batch", "mime_type": "text/jsonl"})
    batch = sbx.run("batches.create", {"input_file_id": file["id"], "endpoint": "/v1/embeddings",
                                       "completion_window": "24h"})
    batch = sbx.run("batches.wait", {"batch_id": batch["id"]})
    assert batch["status"] == "completed"
    assert batch["request_counts"] == {"total": 3, "completed": 3, "failed": 0}


@pytest.mark.parametrize("name, params, field", [
    ("batches.create", {"input_file_id": "file-nope", "endpoint": "/v1/chat/completions", "completion_window": "24h"},
     "input_file_id"),
    ("fine_tuning.jobs.create", {"model": "gpt-4o-mini", "training_file": "file-nope"}, "training_file"),
    ("vector_stores.files.create", {"file_id": "file-nope"}, "file_id"),
    ("vector_stores.file_batches.create", {"file_ids": ["KEEP", "file-nope"]}, "file_ids"),
])
def test_ids_in_the_body_must_name_stored_objects(sbx, name, params, field):
    kept = sbx.run("files.create", {"file": ("a.jsonl", b"{}\n"), "purpose": "batch"})["id"]
    if name.startswith("vector_stores."):
        params = {**params, "vector_store_id": sbx.run("vector_stores.create", {"name": "v"})["id"]}
    params = {k: [kept if i == "KEEP" else i for i in v] if isinstance(v, list) else v for k, v in params.items()}
    with pytest.raises(engine.NotFoundError) as info:
        sbx.run(name, params)
    assert info.value.body["error"]["message"] == "No file found with id 'file-nope'."
    sbx.run(name, {**params, field: [kept] if isinstance(params[field], list) else kept})  # a stored one is fine


# A user's manifest layered over the bundled one (README "Worked example"): actions with no response schema.
UNDESCRIBED = """
actions:
  - name: models.permissions.list
    group: models
    summary: List a model's permissions
    method: GET
    path: /models/{model}/permissions
    credential: api_key
    params:
      - {name: model, in: path, required: true, schema: {type: string}}
      - use: limit
      - use: after
    response: {type: json}
    pagination: cursor
  - name: models.permissions.grant
    group: models
    summary: Grant a permission
    method: POST
    path: /models/{model}/permissions
    credential: api_key
    body: json
    params:
      - {name: model, in: path, required: true, schema: {type: string}}
      - {name: role, in: body, required: true, schema: {type: string}}
    response: {type: json}
  - name: models.permissions.revoke
    group: models
    summary: Revoke a permission
    method: DELETE
    path: /models/{model}/permissions/{permission_id}
    credential: api_key
    params:
      - {name: model, in: path, required: true, schema: {type: string}}
      - {name: permission_id, in: path, required: true, schema: {type: string}}
    response: {type: json}
  - name: models.usage_pages
    group: models
    summary: Page-token list
    method: GET
    path: /models/{model}/usage
    credential: api_key
    params:
      - {name: model, in: path, required: true, schema: {type: string}}
      - {name: page, in: query, schema: {type: string}}
    response: {type: json}
    pagination: page
  - name: assistants.list
    group: assistants
    summary: List assistants, the answer left undescribed
    method: GET
    path: /assistants
    credential: api_key
    params:
      - use: limit
      - use: after
    response: {type: json}
    pagination: cursor
"""


@pytest.fixture
def undescribed(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(UNDESCRIBED)
    e = engine.Engine([engine.manifest.BUNDLED, str(path)], sandbox=True, max_retries=0)
    yield e
    e.close()


def test_a_list_with_no_schema_answers_an_empty_page_in_its_style(undescribed):
    # The cursor style's page (API reference, "List messages"): data, first_id, last_id, has_more.
    page = undescribed.run("models.permissions.list", {"model": "gpt-4o"})
    assert page == {"data": [], "has_more": False, "first_id": None, "last_id": None}
    assert list(undescribed.paginate("models.permissions.list", {"model": "gpt-4o", "limit": 5})) == []
    assert undescribed.run("models.usage_pages", {"model": "gpt-4o"}) == {"data": [], "has_more": False,
                                                                           "next_page": None}
    with pytest.raises(engine.NotFoundError):  # the enclosing model must still exist
        undescribed.run("models.permissions.list", {"model": "no-such-model"})


def test_a_list_with_no_schema_pages_the_stored_objects_its_path_holds(undescribed):
    made = [undescribed.run("assistants.create", {"model": "gpt-4o-mini", "name": f"a{n}"})["id"] for n in range(3)]
    page = undescribed.run("assistants.list", {"limit": 2})
    assert [a["id"] for a in page["data"]] == made[:2]
    assert (page["has_more"], page["first_id"], page["last_id"]) == (True, made[0], made[1])
    assert [a["id"] for a in undescribed.paginate("assistants.list", {"limit": 2})] == made


def test_other_actions_with_no_schema_say_back_their_body(undescribed):
    assert undescribed.run("models.permissions.grant", {"model": "gpt-4o", "role": "reader"}) == {"role": "reader"}
    assert undescribed.run("models.permissions.revoke", {"model": "gpt-4o", "permission_id": "perm_1"}) == {}


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
    assert audio.headers["content-type"] == "audio/mpeg"  # the default format's type (mp3: a marked placeholder)
    file = sbx.run("files.create", {"file": ("a.jsonl", b'{"x": 1}\n'), "purpose": "batch"})
    out = tmp_path / "copy.jsonl"
    assert sbx.run("files.content", {"file_id": file["id"]}, output=out) == 9
    assert out.read_bytes() == b'{"x": 1}\n'
    with pytest.raises(engine.NotFoundError):
        sbx.run("files.content", {"file_id": "file-missing"})


def test_usage_pages_through_the_buckets_the_query_spans(sbx):
    day, hour = 86400, 3600
    query = {"start_time": START, "end_time": START + 10 * day, "limit": 4}
    pages, params = [], dict(query)
    while True:  # follow next_page by hand: the pages as the API sends them
        page = sbx.run("organization.usage.completions", params)
        jsonschema.Draft202012Validator(sbx.action("organization.usage.completions").output_schema()).validate(page)
        pages.append(page)
        if not page["has_more"]:
            break
        assert page["next_page"].startswith("page_")  # the reference's tokens look like page_AAAAAGdGxdEi...
        params = {**query, "page": page["next_page"]}
        assert len(pages) < 10
    assert [len(p["data"]) for p in pages] == [4, 4, 2]
    buckets = [b for p in pages for b in p["data"]]
    assert all(b["object"] == "bucket" for b in buckets)
    assert [(b["start_time"], b["end_time"]) for b in buckets] == [(START + i * day, START + (i + 1) * day)
                                                                   for i in range(10)]
    # paginate walks the same pages and stops; a token is good in any Engine (nothing is held).
    assert list(sbx.paginate("organization.usage.completions", query)) == buckets
    with engine.Engine(sbx.manifest, sandbox=True) as other:
        assert other.run("organization.usage.completions", {**query, "page": pages[1]["next_page"]})["data"] \
            == pages[2]["data"]
    # Without an end the series is still bounded; 1h buckets come 24 a page by default (API reference).
    hourly = sbx.run("organization.usage.completions", {"start_time": START, "bucket_width": "1h"})
    assert len(hourly["data"]) == 24 and hourly["data"][1]["start_time"] == START + hour
    walked = list(sbx.paginate("organization.usage.completions", {"start_time": START, "bucket_width": "1h"}))
    assert 24 < len(walked) < 100_000
    assert [b["start_time"] for b in walked] == [START + i * hour for i in range(len(walked))]
    # Costs: 1d buckets, 7 a page by default (the limit's documented default).
    assert len(sbx.run("organization.costs", {"start_time": START, "end_time": START + 30 * day})["data"]) == 7
    with pytest.raises(engine.BadRequestError) as info:
        sbx.run("organization.usage.completions", {**query, "page": "page_not-a-token"})
    assert info.value.body["error"]["param"] == "page"


def test_state_file_survives_between_engines(manifest, tmp_path):
    state = tmp_path / "state.json"
    with engine.Engine(manifest, sandbox_state=state) as first:
        asst = first.run("assistants.create", {"model": "gpt-4o-mini", "name": "Kept"})
    assert json.loads(state.read_text())  # plain JSON on disk
    # No temp file left behind; the lock file stays, as removing it would let two writers lock two files.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json", "state.json.lock"]
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
    train = sbx.run("files.create", {"file": ("train.jsonl", b'{"prompt": "a"}\n'), "purpose": "fine-tune"})
    job = sbx.run("fine_tuning.jobs.create", {"model": "gpt-4o-mini", "training_file": train["id"]})
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


# -- Batch API jobs: the sandbox runs each line of the input file against itself --------------------------
CHATS = [{"model": model, "messages": [{"role": "user", "content": text}]}
         for model, text in (("gpt-4o", "Hi"), ("gpt-4o-mini", "What is 2+2?"), ("o1-mini", "Bye"))]


def _lines(sbx, file_id: str) -> list[dict]:
    return [json.loads(line) for line in sbx.run("files.content", {"file_id": file_id}).splitlines()]


def test_a_batch_of_chat_completions_answers_every_input_in_order(sbx):
    job = sbx.batch("chat.completions.create", CHATS)
    results = list(job.results())
    assert [i for i, _ in results] == [0, 1, 2] and job.failed == 0
    schema = sbx.action("chat.completions.create").output_schema()
    for (_, answer), params in zip(results, CHATS):
        jsonschema.Draft202012Validator(schema).validate(answer)
        assert answer["object"] == "chat.completion" and answer["id"].startswith("chatcmpl-")
        assert answer["model"] == params["model"]
        assert answer["choices"][0]["message"]["role"] == "assistant"
    # The batch as the API reference describes a finished one.
    batch = sbx.run("batches.retrieve", {"batch_id": job.handle["batches"][0]["id"]})
    assert batch["status"] == "completed" and batch["endpoint"] == "/v1/chat/completions"
    assert batch["request_counts"] == {"total": 3, "completed": 3, "failed": 0}
    assert batch.get("error_file_id") is None  # nothing failed: no error file
    out = sbx.run("files.retrieve", {"file_id": batch["output_file_id"]})
    assert out["purpose"] == "batch_output" and out["object"] == "file"
    lines = _lines(sbx, batch["output_file_id"])
    assert out["bytes"] == len(sbx.run("files.content", {"file_id": batch["output_file_id"]}))
    prefix = job.handle["custom_id_prefix"]
    assert [line["custom_id"] for line in lines] == [f"{prefix}-{n}" for n in range(3)]
    for line, (_, answer) in zip(lines, results):  # BatchRequestOutput: id, custom_id, response, error
        assert line["id"].startswith("batch_req_") and line["error"] is None
        assert line["response"]["status_code"] == 200 and line["response"]["body"] == answer
        assert isinstance(line["response"]["request_id"], str) and line["response"]["request_id"]


def test_a_batch_of_embeddings_echoes_each_model_and_input(sbx):
    inputs = [{"model": "text-embedding-3-small", "input": ["a", "b"]},
              {"model": "text-embedding-3-large", "input": "c", "dimensions": 8}]
    results = list(sbx.batch("embeddings.create", inputs).results())
    assert [i for i, _ in results] == [0, 1]
    first, second = results[0][1], results[1][1]
    assert (first["object"], first["model"], len(first["data"])) == ("list", "text-embedding-3-small", 2)
    assert [d["index"] for d in first["data"]] == [0, 1] and all(d["object"] == "embedding" for d in first["data"])
    assert (second["model"], len(second["data"]), len(second["data"][0]["embedding"])) == \
        ("text-embedding-3-large", 1, 8)


def test_line_urls_are_relative_to_the_api_root_under_any_base_url(manifest):
    """A line says /v1/chat/completions; behind a gateway the base URL is https://host/openai/v1."""
    with engine.Engine(manifest, sandbox=True, base_url="https://gateway.example/openai/v1") as gw:
        gw.transport.sleep = lambda seconds: None
        results = list(gw.batch("chat.completions.create", CHATS[:2]).results())
    assert [(i, r["model"]) for i, r in results] == [(0, "gpt-4o"), (1, "gpt-4o-mini")]


def test_lines_the_sandbox_rejects_come_back_as_typed_errors(sbx, tmp_path):
    """Lines past the engine's own checks (written by hand) meet the sandbox's: 4xx answers go to the error file."""
    good = CHATS[0]
    lines = [
        {"custom_id": "t-0", "method": "POST", "url": "/v1/chat/completions", "body": good},
        {"custom_id": "t-1", "method": "POST", "url": "/v1/chat/completions", "body": {"model": good["model"]}},
        {"custom_id": "t-2", "method": "POST", "url": "/v1/chat/completions", "body": {**good, "stream": True}},
        {"custom_id": "t-3", "method": "POST", "url": "/v1/embeddings", "body": {"model": "m", "input": "x"}},
        {"custom_id": "t-4", "method": "POST", "url": "/v1/chat/completions", "body": {**good, "model": "o1-mini"}},
    ]
    data = b"".join(json.dumps(line).encode() + b"\n" for line in lines) + b"{not json\n"
    file = sbx.run("files.create", {"file": ("in.jsonl", data), "purpose": "batch"})
    batch = sbx.run("batches.create", {"input_file_id": file["id"], "endpoint": "/v1/chat/completions",
                                       "completion_window": "24h"})
    handle = {"format": 1, "action": "chat.completions.create", "custom_id_prefix": "t", "total": 5,
              "batches": [{"id": batch["id"], "first": 0, "count": 5}], "next": 0, "failed": 0,
              "dir": str(tmp_path / "job")}
    job = sbx.batch_results(handle)
    results = dict(job.results())
    assert results[0]["model"] == "gpt-4o" and results[4]["model"] == "o1-mini"
    missing = results[1]
    assert isinstance(missing, engine.BadRequestError) and missing.status_code == 400
    assert missing.body == {"error": {"message": "Missing required parameter: 'messages'.",
                                      "type": "invalid_request_error", "param": "messages",
                                      "code": "missing_required_parameter"}}
    assert isinstance(results[2], engine.BadRequestError) and results[2].body["error"]["param"] == "stream"
    assert isinstance(results[3], engine.BadRequestError) and results[3].body["error"]["param"] == "url"
    assert job.failed == 3
    done = sbx.run("batches.retrieve", {"batch_id": batch["id"]})
    assert done["request_counts"] == {"total": 6, "completed": 2, "failed": 4}
    errors = _lines(sbx, done["error_file_id"])
    assert [e["custom_id"] for e in errors] == ["t-1", "t-2", "t-3", None]  # the last line had none to give
    assert all(e["response"]["status_code"] == 400 and e["error"] is None for e in errors)
    assert errors[3]["response"]["body"]["error"]["type"] == "invalid_request_error"
    assert [o["custom_id"] for o in _lines(sbx, done["output_file_id"])] == ["t-0", "t-4"]


def test_batch_results_resume_in_a_new_engine_sharing_the_state_file(manifest, tmp_path):
    state = tmp_path / "state.json"
    with engine.Engine(manifest, sandbox_state=state) as first:
        first.transport.sleep = lambda seconds: None
        job = first.batch("chat.completions.create", CHATS)
        results = job.results()
        assert next(results)[1]["model"] == "gpt-4o"  # one delivered here, then the process "ends"
        saved = json.dumps(job.handle)
        results.close()
    with engine.Engine(manifest, sandbox_state=state) as second:
        second.transport.sleep = lambda seconds: None
        rest = list(second.batch_results(json.loads(saved)).results())
    assert [(i, r["model"]) for i, r in rest] == [(1, "gpt-4o-mini"), (2, "o1-mini")]
    with engine.Engine(manifest, sandbox=True) as fresh:  # another world knows no such batch
        with pytest.raises(engine.NotFoundError):
            list(fresh.batch_results(json.loads(saved)).results())


def test_cli_batch_runs_end_to_end_in_the_sandbox(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env["PYTHONPATH"] = str(ROOT)
    (tmp_path / "params.jsonl").write_text("".join(json.dumps(p) + "\n" for p in CHATS[:2]))
    proc = subprocess.run([sys.executable, "-m", "engine.cli", "--sandbox-state", str(tmp_path / "s.json"), "batch",
                           "chat.completions.create", "--input", "params.jsonl", "--output", "results.jsonl",
                           "--handle", "job.json"], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "2 results (0 failed) written to results.jsonl" in proc.stderr
    written = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert [(w["index"], w["result"]["object"], w["result"]["model"]) for w in written] == \
        [(0, "chat.completion", "gpt-4o"), (1, "chat.completion", "gpt-4o-mini")]
    handle = json.loads((tmp_path / "job.json").read_text())
    assert handle["next"] == 2 and handle["failed"] == 0
