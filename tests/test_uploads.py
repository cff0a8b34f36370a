"""Multipart uploads: encoding, every accepted input, replay on retry, flat memory, chunked Uploads."""
from __future__ import annotations

import email.parser
import email.policy
import io
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import engine
from conftest import API_KEY
from engine import UploadSourceError
from engine.multipart import MultipartBody, file_part
from loopback import Loopback, Reply

ROOT = Path(__file__).resolve().parents[1]


def parse(body: bytes, content_type: str) -> list[tuple[str, str | None, str | None, bytes]]:
    """(name, filename, content type, payload) per part, via the stdlib's MIME parser."""
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body)
    out = []
    for part in msg.iter_parts():
        out.append((part.get_param("name", header="content-disposition"), part.get_filename(),
                    part.get("Content-Type") if part.get("Content-Type") else None,
                    part.get_payload(decode=True)))
    return out


def encode(fields, files, boundary="b0undary"):
    body = MultipartBody(fields, files, boundary=boundary)
    data = b"".join(bytes(c) for c in body)
    return body, data


def test_exact_bytes():
    body, data = encode([("purpose", "batch"), ("x[]", "1")], [("file", file_part(("a.jsonl", b'{"a":1}\n')))])
    assert data == (b'--b0undary\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n'
                    b'--b0undary\r\nContent-Disposition: form-data; name="x[]"\r\n\r\n1\r\n'
                    b'--b0undary\r\nContent-Disposition: form-data; name="file"; filename="a.jsonl"\r\n'
                    b'Content-Type: application/octet-stream\r\n\r\n{"a":1}\n\r\n--b0undary--\r\n')
    assert body.length == len(data) == len(body)
    assert body.content_type == "multipart/form-data; boundary=b0undary"


def test_round_trips_through_a_mime_parser(tmp_path):
    p = tmp_path / "speech.mp3"
    p.write_bytes(b"ID3" + b"\x00" * 100)
    body, data = encode([("model", "whisper-1"), ("prompt", "héllo")],
                        [("file", file_part(p)), ("img", file_part(("pic", b"\x89PNG\r\n\x1a\nxx", "image/png")))])
    parts = parse(data, body.content_type)
    assert parts[0] == ("model", None, None, b"whisper-1")
    assert parts[1][3].decode() == "héllo"
    assert parts[2][:3] == ("file", "speech.mp3", "audio/mpeg") and parts[2][3] == p.read_bytes()
    assert parts[3] == ("img", "pic", "image/png", b"\x89PNG\r\n\x1a\nxx")


@pytest.mark.parametrize("make,filename,ctype", [
    (lambda tmp: b"plain bytes", "upload", "application/octet-stream"),
    (lambda tmp: bytearray(b"abc"), "upload", "application/octet-stream"),
    (lambda tmp: memoryview(b"abc"), "upload", "application/octet-stream"),
    (lambda tmp: b"\x89PNG\r\n\x1a\n....", "upload.png", "image/png"),          # sniffed
    (lambda tmp: b"RIFF\x00\x00\x00\x00WAVEfmt ", "upload.wav", "audio/wav"),
    (lambda tmp: b"%PDF-1.7 ...", "upload.pdf", "application/pdf"),
    (lambda tmp: io.BytesIO(b"ID3 in memory"), "upload.mp3", "audio/mpeg"),
    (lambda tmp: ("notes.txt", b"hi"), "notes.txt", "text/plain"),
    (lambda tmp: ("data.bin", b"hi", "application/jsonl"), "data.bin", "application/jsonl"),
    (lambda tmp: _disk(tmp, "batch.jsonl", b"{}"), "batch.jsonl", "application/octet-stream"),
    (lambda tmp: open(_disk(tmp, "img.jpeg", b"\xff\xd8\xffxx"), "rb"), "img.jpeg", "image/jpeg"),
])
def test_every_accepted_input_gets_a_filename_and_type(tmp_path, make, filename, ctype):
    part = file_part(make(tmp_path))
    assert (part.filename, part.content_type) == (filename, ctype)


def _disk(tmp: Path, name: str, data: bytes) -> Path:
    p = tmp / name
    p.write_bytes(data)
    return p


def test_declared_default_name_is_used_for_unnamed_content():
    part = file_part(b"\x89PNG\r\n\x1a\n", default_filename="image.png")
    assert (part.filename, part.content_type) == ("image.png", "image/png")


@pytest.mark.parametrize("bad,match", [
    ("a/path.txt", "ambiguous"), (io.StringIO("text"), "text-mode"), (42, "not int"),
    (("a",), "tuple"), ((1, b"x"), "strings"),
])
def test_rejected_inputs(bad, match):
    with pytest.raises(TypeError, match=match):
        file_part(bad)


def test_hostile_names_cannot_inject_headers():
    body, data = encode([('a"\r\nX-Evil: 1', "v")], [("f", file_part(('x"\r\nContent-Type: text/html\r\n\r\n', b"z")))])
    assert b"\r\nX-Evil" not in data and b'\r\nContent-Type: text/html' not in data
    assert b'name="a%22%0D%0AX-Evil: 1"' in data


def test_replays_identically_from_the_original_offset(tmp_path):
    fh = io.BytesIO(b"HEADERpayload")
    fh.seek(6)
    body = MultipartBody([], [("f", file_part(fh))], boundary="b")
    first = b"".join(bytes(c) for c in body)
    second = b"".join(bytes(c) for c in body)
    assert first == second and b"payload" in first and b"HEADER" not in first
    assert body.length == len(first)
    p = _disk(tmp_path, "d.bin", os.urandom(3 << 20))
    body = MultipartBody([("purpose", "batch")], [("file", file_part(p))])
    assert b"".join(bytes(c) for c in body) == b"".join(bytes(c) for c in body)


def test_an_unseekable_stream_is_spooled_to_an_exact_length_and_replays():
    r, w = os.pipe()
    os.write(w, b"streamed")
    os.close(w)
    with os.fdopen(r, "rb") as pipe:
        body = MultipartBody([], [("f", file_part(pipe))])
    first = b"".join(bytes(c) for c in body)
    assert b"\r\n\r\nstreamed\r\n" in first and body.length == len(first)
    assert b"".join(bytes(c) for c in body) == first


@pytest.fixture
def leng(loopback_engine):
    return loopback_engine(max_retries=2, record_waits=True)


def test_real_upload_has_an_exact_content_length(srv, leng, tmp_path):
    p = _disk(tmp_path, "train.jsonl", b'{"messages": []}\n' * 1000)
    srv.route("POST", "/v1/files", lambda req: Reply(200, {"id": "file-1", "object": "file", "got": len(req.body),
                                                           "cl": req.headers.get("content-length"),
                                                           "te": req.headers.get("transfer-encoding")}))
    out = leng.run("files.create", {"file": p, "purpose": "fine-tune"})
    assert out["cl"] == str(out["got"]) and out["te"] is None
    parts = parse(srv.requests[0].body, srv.requests[0].headers["content-type"])
    assert {(n, f) for n, f, _, _ in parts} == {("purpose", None), ("file", "train.jsonl")}


@pytest.mark.parametrize("kind", ["path", "file object", "bytes"])
def test_a_retry_resends_the_whole_body(srv, leng, tmp_path, kind):
    payload = os.urandom(200_000)
    p = _disk(tmp_path, "x.jsonl", payload)
    value = {"path": p, "file object": open(p, "rb"), "bytes": payload}[kind]
    srv.script("POST", "/v1/files", Reply(500, {"error": {"message": "flaky"}}), lambda req: req.reset(),
               Reply(200, {"id": "file-2", "object": "file"}))
    res = leng.run("files.create", {"file": value, "purpose": "batch"}, raw=True)
    assert res.attempts == 3
    bodies = [r.body for r in srv.requests if r.body]
    assert len(bodies) >= 2 and all(b == bodies[0] for b in bodies)
    assert payload in bodies[0]


def test_arrays_in_multipart_repeat_the_field(srv, leng):
    srv.route("POST", "/v1/audio/transcriptions", lambda req: Reply(200, {"text": "hi"}))
    leng.run("audio.transcriptions.create", {"file": b"ID3....", "model": "whisper-1", "response_format": "verbose_json",
                                             "timestamp_granularities": ["word", "segment"]})
    parts = parse(srv.requests[0].body, srv.requests[0].headers["content-type"])
    assert [(n, v) for n, f, _, v in parts if n.startswith("timestamp")] == [
        ("timestamp_granularities[]", b"word"), ("timestamp_granularities[]", b"segment")]
    assert ("file", "upload.mp3", "audio/mpeg") in [(n, f, t) for n, f, t, _ in parts]


def test_null_fields_are_left_out_of_a_form(srv, leng):
    """A form cannot say null; an empty field would read as "" and fail the server's type check."""
    srv.route("POST", "/v1/images/edits", lambda req: Reply(200, {"created": 1, "data": []}))
    leng.run("images.edit", {"image": b"\x89PNG\r\n\x1a\n", "prompt": "a hat", "n": None, "size": None,
                             "user": "u-1"})
    parts = parse(srv.requests[0].body, srv.requests[0].headers["content-type"])
    assert sorted(n for n, *_ in parts) == ["image", "prompt", "user"]


@pytest.mark.slow
def test_upload_memory_is_flat_for_a_1_gib_file(tmp_path):
    """A sparse 1 GiB file through the engine to a discarding server, in a fresh process."""
    big = tmp_path / "big.bin"
    with open(big, "wb") as fh:
        fh.truncate(1 << 30)
    script = textwrap.dedent(f"""
        import socket, sys, threading, pathlib
        sys.path.insert(0, {str(ROOT)!r})
        def hwm():  # peak RSS of this program since exec (ru_maxrss would include the parent's)
            return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
        import engine
        sock = socket.socket(); sock.bind(("127.0.0.1", 0)); sock.listen(1)
        port = sock.getsockname()[1]
        got = {{}}
        def serve():
            conn, _ = sock.accept()
            f = conn.makefile("rb")
            head = b""
            while not head.endswith(b"\\r\\n\\r\\n"):
                head += f.readline()
            length = int([l for l in head.split(b"\\r\\n") if l.lower().startswith(b"content-length")][0].split(b":")[1])
            left = length
            while left:
                left -= len(f.read(min(left, 1 << 20)))
            got["length"] = length
            body = b'{{"id": "file-big", "object": "file"}}'
            conn.sendall(b"HTTP/1.1 200 OK\\r\\nContent-Type: application/json\\r\\nContent-Length: %d\\r\\n\\r\\n%s" % (len(body), body))
            conn.close()
        t = threading.Thread(target=serve, daemon=True); t.start()
        eng = engine.Engine(api_key="k", base_url=f"http://127.0.0.1:{{port}}/v1")
        eng.prepare("files.create", {{"file": b"warm", "purpose": "batch"}})
        base = hwm()
        out = eng.run("files.create", {{"file": pathlib.Path({str(big)!r}), "purpose": "batch"}})
        peak = hwm()
        t.join(10)
        print(got["length"], peak - base, out["id"])
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    length, grew_kib, file_id = proc.stdout.split()
    assert file_id == "file-big" and int(length) > (1 << 30)
    assert int(grew_kib) < 32 * 1024, f"peak RSS grew by {grew_kib} KiB for a 1 GiB upload"


# --- the chunked Uploads composite --------------------------------------------------

def uploads_server(srv: Loopback, fail_part: int | None = None) -> dict:
    state = {"parts": {}, "order": [], "cancelled": False, "completed": None}

    def create(req):
        state["create"] = req.json()
        return Reply(200, {"id": "upload_1", "object": "upload", "status": "pending", "bytes": req.json()["bytes"]})

    def part(req):
        parts = parse(req.body, req.headers["content-type"])
        n = len(state["order"])
        if fail_part is not None and n == fail_part:
            return Reply(400, {"error": {"message": "bad part"}})
        pid = f"part_{n}"
        state["parts"][pid] = parts[0][3]
        state["order"].append(pid)
        return Reply(200, {"id": pid, "object": "upload.part"})

    def complete(req):
        state["completed"] = req.json()
        return Reply(200, {"id": "upload_1", "object": "upload", "status": "completed",
                           "file": {"id": "file-up", "object": "file", "bytes": state["create"]["bytes"]}})

    def cancel(req):
        state["cancelled"] = True
        return Reply(200, {"id": "upload_1", "object": "upload", "status": "cancelled"})

    srv.route("POST", "/v1/uploads", create)
    srv.route("POST", "/v1/uploads/upload_1/parts", part)
    srv.route("POST", "/v1/uploads/upload_1/complete", complete)
    srv.route("POST", "/v1/uploads/upload_1/cancel", cancel)
    return state


@pytest.mark.parametrize("concurrency", [1, 3])
def test_upload_file_in_parts(srv, leng, tmp_path, concurrency):
    data = os.urandom((5 << 20) * 2 + 12345)
    p = _disk(tmp_path, "training.jsonl", data)
    state = uploads_server(srv)
    out = leng.run("uploads.upload_file", {"file": p, "purpose": "fine-tune", "mime_type": "text/jsonl",
                                           "part_size": 5 << 20, "concurrency": concurrency})
    assert out == {"id": "file-up", "object": "file", "bytes": len(data)}
    assert state["create"] == {"filename": "training.jsonl", "purpose": "fine-tune", "bytes": len(data),
                               "mime_type": "text/jsonl"}
    ids = state["completed"]["part_ids"]
    assert len(ids) == 3 and b"".join(state["parts"][i] for i in ids) == data
    assert not state["cancelled"]


def test_a_failed_part_cancels_the_upload(srv, leng, tmp_path):
    p = _disk(tmp_path, "t.jsonl", os.urandom((5 << 20) * 2))
    state = uploads_server(srv, fail_part=1)
    with pytest.raises(engine.BadRequestError, match="bad part"):
        leng.run("uploads.upload_file", {"file": p, "purpose": "batch", "mime_type": "text/jsonl",
                                         "part_size": 5 << 20})
    assert state["cancelled"] and state["completed"] is None


def test_upload_file_validates_first(srv, leng, tmp_path):
    with pytest.raises(engine.ValidationError) as info:
        leng.run("uploads.upload_file", {"file": tmp_path / "missing", "purpose": "nope", "mime_type": "x"})
    assert {p.param for p in info.value.problems} == {"purpose"}
    with pytest.raises(engine.ValidationError, match="cannot read"):
        leng.run("uploads.upload_file", {"file": tmp_path / "missing", "purpose": "batch", "mime_type": "x"})
    assert srv.requests == []


# --- a file that changes between attempts: the body keeps the length it declared ------

def _first_503_then(srv, reply):
    srv.script("POST", "/v1/files", Reply(503, {"error": {"message": "busy"}}), reply)


@pytest.mark.parametrize("kind", ["path", "file object"])
def test_a_file_that_grows_before_a_retry_is_sent_at_its_declared_size(srv, loopback_engine, tmp_path, kind):
    payload = os.urandom(3 << 20)
    p = _disk(tmp_path, "train.jsonl", payload)
    _first_503_then(srv, lambda req: Reply(200, {"id": "file-1", "object": "file"}))
    srv.route("GET", "/v1/models", lambda req: Reply(200, {"object": "list", "data": []}))
    eng = loopback_engine(max_retries=2, timeout=(2, 2))

    def append(seconds):
        with open(p, "ab") as fh:
            fh.write(b"written during the backoff" * 1000)

    eng.transport.sleep = append
    with open(p, "rb") as fh:
        res = eng.run("files.create", {"file": p if kind == "path" else fh, "purpose": "batch"}, raw=True)
        assert res.attempts == 2
    uploads = [r for r in srv.requests if r.path == "/v1/files"]
    assert len(uploads) == 2
    for req in uploads:
        assert len(req.body) == int(req.headers["content-length"])
        parts = parse(req.body, req.headers["content-type"])
        assert [(n, v) for n, _, _, v in parts] == [("purpose", b"batch"), ("file", payload)]
        assert req.body.endswith(b"--\r\n")  # the closing boundary made it inside the declared length
    # Nothing spilled into the kept-alive connection: the next call on it is answered as itself.
    assert eng.run("models.list") == {"object": "list", "data": []}
    assert [r.path for r in srv.requests] == ["/v1/files", "/v1/files", "/v1/models"]


@pytest.mark.parametrize("kind", ["path", "file object"])
def test_a_file_that_shrinks_before_a_retry_fails_at_once_without_retrying(srv, loopback_engine, tmp_path, kind):
    p = _disk(tmp_path, "train.jsonl", os.urandom(3 << 20))
    _first_503_then(srv, lambda req: Reply(200, {"id": "file-1", "object": "file"}))
    eng = loopback_engine(max_retries=3, timeout=(2, 2))  # a body sent short would wait out the read timeout
    waits = []

    def truncate(seconds):
        waits.append(seconds)
        os.truncate(p, 1000)

    eng.transport.sleep = truncate
    with open(p, "rb") as fh, pytest.raises(engine.APIError) as info:
        eng.run("files.create", {"file": p if kind == "path" else fh, "purpose": "batch"})
    err = info.value
    assert isinstance(err, UploadSourceError) and not isinstance(err, engine.APIConnectionError)
    assert (err.action, err.attempts, len(waits)) == ("files.create", 2, 1)
    assert f"ended after 1000 of the {3 << 20} bytes" in str(err) and "changed" in str(err)
    assert API_KEY not in str(err) and API_KEY not in repr(err.args)
    assert not any(r.path == "/v1/files" and r.body.endswith(b"--\r\n") for r in srv.requests[1:])


def test_a_file_deleted_before_a_retry_is_an_engine_error_naming_it(srv, loopback_engine, tmp_path):
    p = _disk(tmp_path, "train.jsonl", b'{"custom_id": "1"}\n')
    _first_503_then(srv, lambda req: Reply(200, {"id": "file-1", "object": "file"}))
    eng = loopback_engine(max_retries=3, timeout=(2, 2))
    waits = []

    def delete(seconds):
        waits.append(seconds)
        p.unlink(missing_ok=True)  # a retry, if the engine wrongly made one, would call this again

    eng.transport.sleep = delete
    with pytest.raises(engine.Error) as info:
        eng.run("files.create", {"file": p, "purpose": "batch"})
    err = info.value
    assert isinstance(err, UploadSourceError) and not isinstance(err, engine.APIConnectionError)
    assert (err.action, err.attempts, len(waits)) == ("files.create", 2, 1)
    assert str(p) in str(err) and "No such file or directory" in str(err) and API_KEY not in str(err)
    assert not any(r.body.endswith(b"--\r\n") for r in srv.requests[1:])  # the retry was cut, never completed


def test_a_file_object_that_hands_out_more_than_asked_is_cut_at_the_declared_size():
    class Greedy(io.BytesIO):
        def read(self, size=-1):
            return super().read()  # everything left, whatever was asked

    fh = Greedy(b"declared")
    body = MultipartBody([], [("f", file_part(fh))], boundary="b")
    fh.seek(0, os.SEEK_END)
    fh.write(b"+appended")
    data = b"".join(bytes(c) for c in body)
    assert len(data) == body.length and b"declared\r\n--b--\r\n" in data and b"appended" not in data


def test_the_chunked_upload_shows_its_first_call_and_its_answer_in_the_catalogue(manifest):
    comp = engine.Engine(manifest, api_key=API_KEY).action("uploads.upload_file")
    assert (comp.method, comp.path, comp.credential) == ("POST", "/uploads", "api_key")
    out = comp.output_schema()
    assert {"$ref": "#/$defs/OpenAIFile"} in [{"$ref": b.get("$ref")} for b in out["anyOf"]]
    assert out["$defs"]["OpenAIFile"]["properties"]["object"]["enum"] == ["file"]
