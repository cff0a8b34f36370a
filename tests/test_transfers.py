"""Binary answers written in chunks, cut downloads, and flat memory for large ones."""
from __future__ import annotations

import io
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import engine
from loopback import Reply

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def leng(loopback_engine):
    return loopback_engine()


def test_binary_answer_to_a_path_and_a_file_object(srv, leng, tmp_path):
    payload = bytes(range(256)) * 1000
    srv.route("GET", "/v1/files/file-1/content", lambda req: Reply(200, payload, {"Content-Type": "application/octet-stream"}))
    target = tmp_path / "out.bin"
    assert leng.run("files.content", {"file_id": "file-1"}, output=target) == len(payload)
    assert target.read_bytes() == payload and not (tmp_path / "out.bin.part").exists()
    buf = io.BytesIO()
    assert leng.run("files.content", {"file_id": "file-1"}, output=buf) == len(payload)
    assert buf.getvalue() == payload
    assert leng.run("files.content", {"file_id": "file-1"}) == payload


def test_speech_is_bytes_and_can_go_to_a_file(srv, leng, tmp_path):
    srv.route("POST", "/v1/audio/speech", lambda req: Reply(200, b"ID3audio", {"Content-Type": "audio/mpeg"}))
    params = {"model": "tts-1", "input": "hello", "voice": "alloy"}
    assert leng.run("audio.speech.create", params) == b"ID3audio"
    assert leng.run("audio.speech.create", params, output=tmp_path / "a.mp3") == 8
    assert srv.requests[0].json() == params


def test_a_cut_download_raises_and_leaves_no_file(srv, leng, tmp_path):
    srv.route("GET", "/v1/files/file-2/content",
              lambda req: Reply(200, chunks=[b"x" * 70000, b"y" * 1000, None]))
    target = tmp_path / "cut.bin"
    with pytest.raises(engine.APIConnectionError, match="connection dropped while downloading"):
        leng.run("files.content", {"file_id": "file-2"}, output=target)
    assert os.listdir(tmp_path) == []  # neither the target nor a temporary file


def test_output_is_only_for_binary_answers(leng):
    with pytest.raises(engine.Error, match="output= does not apply"):
        leng.run("models.list", output="x")


def test_large_download_memory_stays_flat(tmp_path):
    """256 MiB streamed to disk in a subprocess whose peak RSS must not grow with the size."""
    script = textwrap.dedent(f"""
        import sys
        def hwm():  # peak RSS of this program since exec (ru_maxrss would include the parent's)
            return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
        sys.path[:0] = [{str(ROOT)!r}, {str(ROOT / 'tests')!r}]
        import engine
        from loopback import Loopback, Reply
        size = 256 << 20
        block = b"z" * (1 << 20)
        def chunks():
            for _ in range(size // len(block)):
                yield block
        with Loopback() as srv:
            srv.route("GET", "/v1/files/big/content", lambda req: Reply(200, chunks=chunks()))
            eng = engine.Engine(api_key="k", base_url=srv.url + "/v1")
            base = hwm()
            n = eng.run("files.content", {{"file_id": "big"}}, output={str(tmp_path / 'big.bin')!r})
            peak = hwm()
        print(n, peak - base)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    written, grew_kib = map(int, proc.stdout.split())
    assert written == 256 << 20
    assert (tmp_path / "big.bin").stat().st_size == 256 << 20
    assert grew_kib < 32 * 1024, f"peak RSS grew by {grew_kib} KiB for a 256 MiB download"
