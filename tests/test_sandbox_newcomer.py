"""The batch command and the sandbox as a newcomer tries them (issue 13): what was rough, now right.

Expected values come from the API reference and the README, not from the sandbox.
"""
from __future__ import annotations

import io
import json

import pytest
import requests

import engine
from engine import cli

CHATS = [{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}]} for text in ("Hi", "Bye")]


pytestmark = pytest.mark.usefixtures("no_network")  # the sandbox answers in process (conftest)


@pytest.fixture
def sbx(manifest):
    e = engine.Engine(manifest, sandbox=True, max_retries=0)
    e.transport.sleep = lambda seconds: None
    yield e
    e.close()


def _batch(tmp_path, *args: str) -> tuple[int, str]:
    err = io.StringIO()
    code = cli.main(["--sandbox-state", str(tmp_path / "s.json"), "batch", "chat.completions.create",
                     "--output", str(tmp_path / "results.jsonl"), "--handle", str(tmp_path / "job.json"), *args],
                    io.StringIO(), err)
    return code, err.getvalue()


# -- batch --------------------------------------------------------------------------------------------

def test_resuming_a_finished_batch_says_so_and_writes_nothing(tmp_path):
    (tmp_path / "params.jsonl").write_text("".join(json.dumps(p) + "\n" for p in CHATS))
    code, err = _batch(tmp_path, "--input", str(tmp_path / "params.jsonl"))
    assert code == cli.EXIT_OK, err
    results = (tmp_path / "results.jsonl").read_bytes()
    assert [json.loads(x)["index"] for x in results.splitlines()] == [0, 1]
    state = (tmp_path / "s.json").read_bytes()

    code, err = _batch(tmp_path)  # the handle alone: the job is finished
    assert code == cli.EXIT_OK, err
    assert "is finished" in err and "results.jsonl holds them" in err
    assert (tmp_path / "results.jsonl").read_bytes() == results  # not emptied, not appended to
    assert (tmp_path / "s.json").read_bytes() == state  # nothing was asked of the API

    # Resumed into another output, the job is still finished: no empty file appears, and it says so.
    err = io.StringIO()
    other = tmp_path / "other.jsonl"
    assert cli.main(["--sandbox-state", str(tmp_path / "s.json"), "batch", "chat.completions.create", "--output",
                     str(other), "--handle", str(tmp_path / "job.json")], io.StringIO(), err) == cli.EXIT_OK
    assert "is finished" in err.getvalue() and "does not hold them" in err.getvalue()
    assert not other.exists()


def test_batch_messages_number_inputs_from_zero_as_the_results_file_does(tmp_path):
    lines = [json.dumps(CHATS[0]), "", json.dumps(CHATS[1]), json.dumps({"model": "gpt-4o-mini"}), "{oops"]
    (tmp_path / "bad.jsonl").write_text("\n".join(lines) + "\n")
    code, err = _batch(tmp_path, "--input", str(tmp_path / "bad.jsonl"))
    # The blank line is no input: the unreadable line is input 3 (it is on line 5).
    assert code == cli.EXIT_USAGE and "input 3 is not JSON" in err and "line" not in err, err

    (tmp_path / "bad.jsonl").write_text("\n".join(lines[:4]) + "\n")
    code, err = _batch(tmp_path, "--input", str(tmp_path / "bad.jsonl"))
    assert code == cli.EXIT_INVALID and "input 2: " in err and "messages" in err, err


# -- the sandbox ----------------------------------------------------------------------------------------

def _files(sbx, n: int) -> list[str]:
    return [sbx.run("files.create", {"file": (f"f{i}.txt", b"text"), "purpose": "assistants"})["id"] for i in range(n)]


def _counts(total: int, in_progress: int = 0, completed: int = 0, cancelled: int = 0) -> dict:
    return {"total": total, "in_progress": in_progress, "completed": completed, "failed": 0, "cancelled": cancelled}


def test_a_vector_store_created_with_file_ids_holds_and_counts_them(sbx):
    ids = _files(sbx, 2)
    store = sbx.run("vector_stores.create", {"name": "docs", "file_ids": ids})
    assert store["file_counts"] == _counts(2, in_progress=2)
    listed = sbx.run("vector_stores.files.list", {"vector_store_id": store["id"]})["data"]
    assert sorted(f["id"] for f in listed) == sorted(ids)
    assert all(f["object"] == "vector_store.file" and f["vector_store_id"] == store["id"] for f in listed)
    assert sbx.run("vector_stores.files.retrieve", {"vector_store_id": store["id"], "file_id": ids[0]})["id"] == ids[0]
    # Polled to completion, the store takes its files along, and its counts say so (in lists too).
    done = sbx.run("vector_stores.retrieve", {"vector_store_id": store["id"]})
    assert done["status"] == "completed" and done["file_counts"] == _counts(2, completed=2)
    assert sbx.run("vector_stores.list", {})["data"][0]["file_counts"] == _counts(2, completed=2)
    with pytest.raises(engine.NotFoundError):  # unknown ids are the API's 404, as before
        sbx.run("vector_stores.create", {"name": "x", "file_ids": ["file-nope"]})
    assert sbx.run("vector_stores.create", {"name": "empty"})["file_counts"] == _counts(0)


def test_a_file_batch_attaches_counts_and_lists_only_its_own_files(sbx):
    ids = _files(sbx, 4)
    store = sbx.run("vector_stores.create", {"name": "docs", "file_ids": ids[:1]})
    first = sbx.run("vector_stores.file_batches.create", {"vector_store_id": store["id"], "file_ids": ids[1:3]})
    second = sbx.run("vector_stores.file_batches.create", {"vector_store_id": store["id"], "file_ids": ids[3:]})
    assert first["file_counts"] == _counts(2, in_progress=2) and second["file_counts"] == _counts(1, in_progress=1)
    walk = {"vector_store_id": store["id"], "batch_id": first["id"]}
    assert sorted(f["id"] for f in sbx.paginate("vector_stores.file_batches.list_files", walk)) == sorted(ids[1:3])
    assert [f["id"] for f in sbx.paginate("vector_stores.file_batches.list_files",
                                          {**walk, "batch_id": second["id"]})] == ids[3:]
    assert sorted(f["id"] for f in sbx.paginate("vector_stores.files.list", {"vector_store_id": store["id"]})) \
        == sorted(ids)
    # Cancelled while its files are on their way, a batch cancels them.
    cancelled = sbx.run("vector_stores.file_batches.cancel", {"vector_store_id": store["id"], "batch_id": second["id"]})
    assert cancelled["status"] == "cancelled" and cancelled["file_counts"] == _counts(1, cancelled=1)
    # Retrieved to completion (as poll helpers do), a batch completes its files.
    done = sbx.run("vector_stores.file_batches.retrieve", walk)
    assert done["status"] == "completed" and done["file_counts"] == _counts(2, completed=2)
    assert all(f["status"] == "completed" for f in sbx.paginate("vector_stores.file_batches.list_files", walk))
    # The store counts every file it holds, however it came.
    assert sbx.run("vector_stores.retrieve", {"vector_store_id": store["id"]})["file_counts"] \
        == _counts(4, completed=3, cancelled=1)
    with pytest.raises(engine.NotFoundError):
        sbx.run("vector_stores.file_batches.create", {"vector_store_id": store["id"], "file_ids": ["file-nope"]})


def test_a_succeeded_fine_tuning_job_names_its_model(sbx):
    training = _files(sbx, 1)[0]
    jobs = [sbx.run("fine_tuning.jobs.create", {"model": "gpt-4o-mini", "training_file": training, **extra})
            for extra in ({}, {"suffix": "tutor"})]
    for job in jobs:
        assert job["fine_tuned_model"] is None
        while job["status"] != "succeeded":
            job = sbx.run("fine_tuning.jobs.retrieve", {"fine_tuning_job_id": job["id"]})
            assert job["fine_tuned_model"] is None or job["status"] == "succeeded"
        name = job["fine_tuned_model"]
        assert name.startswith("ft:gpt-4o-mini:sandbox:") and name.endswith(":" + job["id"])
        assert sbx.run("models.retrieve", {"model": name})["id"] == name  # the new model exists
    assert ":tutor:" in job["fine_tuned_model"]
    cancelled = sbx.run("fine_tuning.jobs.create", {"model": "gpt-4o-mini", "training_file": training})
    cancelled = sbx.run("fine_tuning.jobs.cancel", {"fine_tuning_job_id": cancelled["id"]})
    assert cancelled["status"] == "cancelled" and cancelled["fine_tuned_model"] is None


def test_speech_is_real_audio_where_the_standard_library_writes_it(sbx):
    import wave

    def speak(text: str, **extra):
        return sbx.run("audio.speech.create", {"model": "tts-1", "input": text, "voice": "alloy", **extra}, raw=True)

    short, long = speak("Hello", response_format="wav"), speak("Hello there, world", response_format="wav")
    assert short.headers["content-type"] == "audio/wav"
    with wave.open(io.BytesIO(short.data)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 24000)
        frames = w.getnframes()
        assert frames > 0 and any(w.readframes(frames))  # a tone, not silence
    with wave.open(io.BytesIO(long.data)) as w:
        assert w.getnframes() > frames  # longer text, longer audio
    with wave.open(io.BytesIO(speak("Hello", response_format="wav", speed=2.0).data)) as w:
        assert w.getnframes() < frames
    pcm = speak("Hello", response_format="pcm")
    assert pcm.headers["content-type"] == "audio/pcm" and len(pcm.data) == 2 * frames  # 16-bit mono samples
    assert pcm.data == short.data[-len(pcm.data):]  # the same samples, without the WAV header
    for fmt, ctype in (("mp3", "audio/mpeg"), ("opus", "audio/opus"), ("aac", "audio/aac"), ("flac", "audio/flac")):
        placeholder = speak("Hello", response_format=fmt)
        assert placeholder.headers["content-type"] == ctype
        assert placeholder.data.startswith(b"SANDBOX PLACEHOLDER") and fmt.encode() in placeholder.data
    assert speak("Hello").headers["content-type"] == "audio/mpeg"  # the declared default format


SHOP = {"manifest_version": 2,
        "connector": {"name": "shop", "base_url": "http://127.0.0.1:9/v1",
                      "credentials": {"key": {"type": "header", "header": "Authorization", "prefix": "Bearer "}}},
        "schemas": {"Order": {"type": "object", "required": ["id", "object"], "properties": {
            "id": {"type": "string"}, "object": {"type": "string", "const": "order"}, "quantity": {"type": "integer"},
            "gift": {"type": "boolean"}, "note": {"type": "string"},
            "shipping": {"type": "object", "properties": {"city": {"type": "string"}, "floor": {"type": "integer"}}},
            "tags": {"type": "array", "items": {"type": "string"}},
            "lines": {"type": "array", "items": {"type": "object", "properties": {"sku": {"type": "string"},
                                                                                   "n": {"type": "integer"}}}}}}}}


def _shop(arrays: str = "brackets") -> dict:
    props = SHOP["schemas"]["Order"]["properties"]
    body = [{"name": k, "in": "body", "schema": props[k], **({"required": True} if k == "quantity" else {})}
            for k in ("quantity", "gift", "note", "shipping", "tags", "lines")]
    return {**SHOP, "actions": [
        {"name": "orders.create", "method": "POST", "path": "/orders", "body": {"type": "form", "arrays": arrays},
         "params": body, "response": {"type": "json", "schema": {"$ref": "#/schemas/Order"}}},
        {"name": "orders.retrieve", "method": "GET", "path": "/orders/{order_id}",
         "params": [{"name": "order_id", "in": "path", "required": True}],
         "response": {"type": "json", "schema": {"$ref": "#/schemas/Order"}}}]}


@pytest.mark.parametrize("arrays", ["brackets", "indexed", "repeat"])
def test_form_body_actions_are_read_as_their_fields(arrays):
    order = {"quantity": 3, "gift": True, "note": "a&b=c [x] é", "shipping": {"city": "Oslo", "floor": 2},
             "tags": ["a", "b"], "lines": [{"sku": "x", "n": 1}, {"sku": "y", "n": 2}]}
    with engine.Engine(_shop(arrays), sandbox=True, key="k") as shop:
        body = shop.prepare("orders.create", order).body
        assert b"shipping[city]=Oslo" in body  # nested brackets on the wire
        assert (b"tags[]=a" in body) == (arrays == "brackets") and (b"tags[0]=a" in body) == (arrays == "indexed")
        assert (b"lines[0][sku]=x" in body) == (arrays != "repeat")  # repeated, each item is a JSON text
        made = shop.run("orders.create", order)
        assert {k: made[k] for k in order} == order
        assert shop.run("orders.retrieve", {"order_id": made["id"]}) == made
        # A form is checked as any body is (here one the engine would not send): not a JSON parse error.
        session = requests.Session()
        session.mount("http://127.0.0.1:9/v1", shop.sandbox)
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        bad = session.post("http://127.0.0.1:9/v1/orders", data="quantity=1&extra=x", headers=form)
        assert bad.status_code == 400 and "extra" in bad.text and "JSON" not in bad.text
        bad = session.post("http://127.0.0.1:9/v1/orders", data="quantity=1&tags[]=a&tags[x]=b", headers=form)
        assert bad.status_code == 400 and "form body" in bad.text


def test_one_file_in_two_stores_is_two_store_files(sbx):
    file_id = _files(sbx, 1)[0]
    stores = [sbx.run("vector_stores.create", {"name": n, "file_ids": [file_id]})["id"] for n in ("a", "b")]
    for store in stores:
        listed = sbx.run("vector_stores.files.list", {"vector_store_id": store})["data"]
        assert [(f["id"], f["vector_store_id"]) for f in listed] == [(file_id, store)]
        assert sbx.run("vector_stores.retrieve", {"vector_store_id": store})["file_counts"]["total"] == 1
    sbx.run("vector_stores.files.delete", {"vector_store_id": stores[0], "file_id": file_id})
    assert sbx.run("vector_stores.files.list", {"vector_store_id": stores[0]})["data"] == []
    assert sbx.run("vector_stores.files.retrieve", {"vector_store_id": stores[1], "file_id": file_id})["id"] == file_id
    with pytest.raises(engine.NotFoundError):
        sbx.run("vector_stores.files.retrieve", {"vector_store_id": stores[0], "file_id": file_id})
