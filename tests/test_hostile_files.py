"""Odd files on both ends of a transfer: FIFOs, devices, symlinks, shared targets and pipes as uploads.

Every case uses real files in a temporary folder and a loopback server; the FIFO tests feed or drain
the FIFO from a thread, with bounded joins, so a regression fails instead of hanging the suite.
"""
from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import engine
from engine import cli
from conftest import API_KEY, run_cli
from loopback import Reply

ROOT = Path(__file__).resolve().parents[1]
PAYLOAD = bytes(range(256)) * 800  # 200 KiB: more than a pipe buffer, so nothing fits in one write


@pytest.fixture
def leng(loopback_engine):
    return loopback_engine()


def serve(srv, body: bytes, file_id: str = "file-1") -> None:
    srv.route("GET", f"/v1/files/{file_id}/content",
              lambda req: Reply(200, body, {"Content-Type": "application/octet-stream"}))


class Drain:
    """Reads a FIFO to its end in a thread; `release()` unblocks it if nothing ever opened the FIFO."""

    def __init__(self, fifo: Path, keep: Path) -> None:
        os.link(fifo, keep)  # a second name for the FIFO, still there if the first is replaced
        self.keep, self.data = keep, b""
        self.thread = threading.Thread(target=self._read, args=(fifo,), daemon=True)
        self.thread.start()

    def _read(self, fifo: Path) -> None:
        with open(fifo, "rb") as fh:
            self.data = fh.read()

    def release(self) -> None:
        try:  # a writer that opens and closes: the blocked reader sees the end
            os.close(os.open(self.keep, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            pass  # ENXIO: the reader is not waiting any more, which is what release() is for
        self.thread.join(10)
        assert not self.thread.is_alive()


# --- output files -------------------------------------------------------------------


def test_output_into_a_fifo_writes_through_it_and_leaves_it_a_fifo(srv, leng, tmp_path):
    serve(srv, PAYLOAD)
    fifo = tmp_path / "out"
    os.mkfifo(fifo)
    (tmp_path / "keep").mkdir()
    drain = Drain(fifo, tmp_path / "keep" / "fifo")
    try:
        assert leng.run("files.content", {"file_id": "file-1"}, output=fifo) == len(PAYLOAD)
    finally:
        drain.release()
    assert drain.data == PAYLOAD
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep", "out"]


def test_output_into_a_character_device_keeps_the_device(srv, leng, tmp_path):
    null = tmp_path / "null"
    try:
        os.mknod(null, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # the kernel's null device, under a new name
    except PermissionError:
        pytest.skip("making a device node needs root")
    serve(srv, PAYLOAD)
    assert leng.run("files.content", {"file_id": "file-1"}, output=null) == len(PAYLOAD)
    assert stat.S_ISCHR(os.lstat(null).st_mode)
    assert os.listdir(tmp_path) == ["null"]


def test_the_cli_writes_into_dev_null_and_leaves_it_a_device(srv, monkeypatch):
    if not stat.S_ISCHR(os.stat(os.devnull).st_mode):
        pytest.skip("no character device at /dev/null")
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    serve(srv, PAYLOAD)
    code, _, err = run_cli("--base-url", srv.url + "/v1", "run", "files.content", "-p", "file_id=file-1",
                           "-o", os.devnull)
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)
    assert code == 0, err
    assert f"wrote {len(PAYLOAD)} bytes to {os.devnull}" in err


def test_two_downloads_to_one_path_give_one_whole_body(srv, leng, tmp_path):
    """Both answers are written at once, a chunk each in turn; the file ends up as one of them."""
    both_started = threading.Barrier(2, timeout=10)

    def interleaved(fill: bytes):
        def reply(req):
            def chunks():
                yield fill * 70000
                both_started.wait()
                yield fill * 70000
            return Reply(200, chunks=chunks())
        return reply

    srv.route("GET", "/v1/files/file-a/content", interleaved(b"a"))
    srv.route("GET", "/v1/files/file-b/content", interleaved(b"b"))
    target = tmp_path / "same.bin"
    results: dict[str, object] = {}

    def fetch(file_id: str) -> None:
        try:
            results[file_id] = leng.run("files.content", {"file_id": file_id}, output=target)
        except BaseException as exc:  # reported by the assertion below, with its type
            results[file_id] = exc

    threads = [threading.Thread(target=fetch, args=(f,)) for f in ("file-a", "file-b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert results == {"file-a": 140000, "file-b": 140000}
    assert target.read_bytes() in (b"a" * 140000, b"b" * 140000)
    assert os.listdir(tmp_path) == ["same.bin"]


def test_a_cut_download_removes_only_its_own_temporary_file(srv, leng, tmp_path):
    srv.route("GET", "/v1/files/file-2/content", lambda req: Reply(200, chunks=[b"x" * 70000, None]))
    (tmp_path / "cut.bin.part").write_bytes(b"the user's own file")
    (tmp_path / "cut.bin").write_bytes(b"the previous download")
    with pytest.raises(engine.APIConnectionError, match="connection dropped while downloading"):
        leng.run("files.content", {"file_id": "file-2"}, output=tmp_path / "cut.bin")
    assert sorted(os.listdir(tmp_path)) == ["cut.bin", "cut.bin.part"]
    assert (tmp_path / "cut.bin.part").read_bytes() == b"the user's own file"
    assert (tmp_path / "cut.bin").read_bytes() == b"the previous download"


def test_output_through_a_symlink_replaces_the_file_it_points_to(srv, leng, tmp_path):
    serve(srv, PAYLOAD)
    (tmp_path / "real").mkdir()
    real = tmp_path / "real" / "data.bin"
    real.write_bytes(b"old")
    link = tmp_path / "link.bin"
    link.symlink_to(real)
    assert leng.run("files.content", {"file_id": "file-1"}, output=link) == len(PAYLOAD)
    assert link.is_symlink() and real.read_bytes() == PAYLOAD
    assert os.listdir(tmp_path / "real") == ["data.bin"]


def test_a_new_output_file_gets_the_usual_permissions(srv, leng, tmp_path):
    serve(srv, PAYLOAD)
    umask = os.umask(0o022)
    try:
        leng.run("files.content", {"file_id": "file-1"}, output=tmp_path / "new.bin")
    finally:
        os.umask(umask)
    assert stat.S_IMODE(os.stat(tmp_path / "new.bin").st_mode) == 0o644


def test_output_to_a_folder_is_a_typed_error_and_leaves_nothing(srv, leng, tmp_path):
    serve(srv, PAYLOAD)
    (tmp_path / "dir").mkdir()
    with pytest.raises(engine.OutputError, match="is a folder"):
        leng.run("files.content", {"file_id": "file-1"}, output=tmp_path / "dir")
    assert os.listdir(tmp_path) == ["dir"] and os.listdir(tmp_path / "dir") == []


def test_the_cli_refuses_a_folder_as_output_before_sending(srv, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    code, _, err = run_cli("--base-url", srv.url + "/v1", "run", "files.content", "-p", "file_id=file-1",
                           "-o", str(tmp_path))
    assert code == cli.EXIT_USAGE and "is a folder" in err
    assert srv.requests == []


# --- uploads from pipes -------------------------------------------------------------


class Feed:
    """Writes `data` into a FIFO from a thread, once, then closes it.

    A watchdog gives a reader still waiting in open() after 10 s an empty writer, so a reader that
    opens the FIFO twice fails its test instead of hanging it; done() likewise frees a writer that
    nobody read.
    """

    def __init__(self, fifo: Path, data: bytes) -> None:
        self.fifo, self.error = fifo, None
        self.thread = threading.Thread(target=self._write, args=(data,), daemon=True)
        self.thread.start()
        self.watchdog = threading.Timer(10, self._unblock, args=(os.O_WRONLY,))
        self.watchdog.start()

    def _write(self, data: bytes) -> None:
        try:
            with open(self.fifo, "wb") as fh:
                fh.write(data)
        except BrokenPipeError as exc:  # the reader closed before the end: reported by done()
            self.error = exc

    def _unblock(self, flag: int) -> None:
        try:  # the other end, opened and closed at once
            os.close(os.open(self.fifo, flag | os.O_NONBLOCK))
        except OSError:
            pass  # ENXIO: no reader is waiting, so there is nobody to free

    def done(self) -> None:
        self.watchdog.cancel()
        self._unblock(os.O_RDONLY)
        self.thread.join(10)
        assert not self.thread.is_alive() and self.error is None


def uploads_route(srv) -> None:
    srv.route("POST", "/v1/files", lambda req: Reply(200, {"id": "file-1", "object": "file"}))


def uploaded(srv) -> tuple[bytes, dict[str, str]]:
    req = next(r for r in srv.requests if r.path == "/v1/files")
    return req.body, req.headers


@pytest.mark.parametrize("size", [3, len(PAYLOAD), (3 << 20) + 1])  # in memory, and past the spool's memory
def test_a_fifo_path_is_uploaded_whole_with_an_exact_length(srv, leng, tmp_path, size):
    uploads_route(srv)
    data = (PAYLOAD * (size // len(PAYLOAD) + 1))[:size]
    fifo = tmp_path / "in.jsonl"
    os.mkfifo(fifo)
    feed = Feed(fifo, data)
    try:
        leng.run("files.create", {"file": fifo, "purpose": "batch"})
    finally:
        feed.done()
    body, headers = uploaded(srv)
    assert b'filename="in.jsonl"\r\nContent-Type: application/octet-stream\r\n\r\n' + data + b"\r\n--" in body
    assert headers["content-length"] == str(len(body)) and "transfer-encoding" not in headers


def test_a_pipe_upload_is_sent_whole_again_on_a_retry(srv, loopback_engine, tmp_path):
    eng = loopback_engine(max_retries=1, record_waits=True)
    srv.script("POST", "/v1/files", Reply(503, {"error": {"message": "busy"}}), Reply(200, {"id": "file-1"}))
    r, w = os.pipe()
    feed = threading.Thread(target=lambda: (os.write(w, PAYLOAD), os.close(w)), daemon=True)
    feed.start()
    with os.fdopen(r, "rb") as pipe:
        res = eng.run("files.create", {"file": pipe, "purpose": "batch"}, raw=True)
    feed.join(10)
    assert res.attempts == 2
    bodies = [req.body for req in srv.requests if req.path == "/v1/files"]
    assert len(bodies) == 2 and bodies[0] == bodies[1] and PAYLOAD in bodies[0]
    assert srv.requests[0].headers["content-length"] == str(len(bodies[0]))


def test_a_seekable_device_is_read_for_what_it_holds_not_sized_by_seeking(srv, leng):
    """/dev/zero seeks to 0 for its end; a window onto it must still send every byte it gives."""
    uploads_route(srv)

    class Window:
        """The first n bytes of a file object that claims to be seekable."""

        mode, name = "rb", "zeros.bin"

        def __init__(self, fh, n: int) -> None:
            self.fh, self.left = fh, n

        def fileno(self) -> int:
            return self.fh.fileno()

        def seekable(self) -> bool:
            return True

        def tell(self) -> int:
            return 0

        def seek(self, pos: int, whence: int = 0) -> int:
            return self.fh.seek(pos, whence)

        def read(self, n: int = -1) -> bytes:
            block = self.fh.read(min(n, self.left) if n >= 0 else self.left)
            self.left -= len(block)
            return block

    with open("/dev/zero", "rb") as zero:
        leng.run("files.create", {"file": Window(zero, 5000), "purpose": "batch"})
    body, _ = uploaded(srv)
    assert b"\r\n\r\n" + b"\x00" * 5000 + b"\r\n--" in body


def test_a_proc_file_object_is_read_to_its_end(srv, leng):
    """A /proc file is regular, sized 0 and cannot seek to its end: its content is what it reads."""
    uploads_route(srv)
    with open("/proc/self/status", "rb") as fh:
        leng.run("files.create", {"file": fh, "purpose": "batch"})
    body, headers = uploaded(srv)
    assert b'filename="status"' in body and b"\r\n\r\nName:" in body
    assert headers["content-length"] == str(len(body))


def test_an_unreadable_source_is_an_upload_source_error(leng):
    with pytest.raises(engine.UploadSourceError, match="cannot read /proc/self/mem"):
        leng.prepare("files.create", {"file": Path("/proc/self/mem"), "purpose": "batch"})


def test_the_cli_uploads_a_fifo_named_with_at(srv, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    uploads_route(srv)
    fifo = tmp_path / "train.jsonl"
    os.mkfifo(fifo)
    feed = Feed(fifo, PAYLOAD)
    try:
        code, out, err = run_cli("--base-url", srv.url + "/v1", "run", "files.create", "-p", f"file=@{fifo}",
                                 "-p", "purpose=batch")
    finally:
        feed.done()
    assert code == 0, err
    body, headers = uploaded(srv)
    assert b'filename="train.jsonl"' in body and b"\r\n\r\n" + PAYLOAD + b"\r\n--" in body
    assert headers["content-length"] == str(len(body))


def test_the_cli_uploads_dev_stdin_from_a_pipe(srv):
    srv.route("POST", "/v1/files", lambda req: Reply(200, {"id": "file-1", "object": "file"}))
    proc = subprocess.run([sys.executable, "-m", "engine.cli", "--base-url", srv.url + "/v1", "run", "files.create",
                           "-p", "file=@/dev/stdin", "-p", "purpose=batch"], input=PAYLOAD, capture_output=True,
                          timeout=60, env={**os.environ, "OPENAI_API_KEY": API_KEY, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr
    body, headers = uploaded(srv)
    assert b"\r\n\r\n" + PAYLOAD + b"\r\n--" in body and headers["content-length"] == str(len(body))


def test_the_chunked_upload_refuses_a_pipe_instead_of_sending_nothing(srv, leng, tmp_path):
    fifo = tmp_path / "big.jsonl"
    os.mkfifo(fifo)
    with pytest.raises(engine.ValidationError, match="not a regular file"):
        leng.run("uploads.upload_file", {"file": fifo, "mime_type": "text/jsonl", "purpose": "batch"})
    assert srv.requests == []
