"""The batch command and the sandbox as a newcomer tries them (issue 13): what was rough, now right.

Expected values come from the API reference and the README, not from the sandbox.
"""
from __future__ import annotations

import io
import json
import socket

import pytest

import engine
from engine import cli

CHATS = [{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}]} for text in ("Hi", "Bye")]


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
