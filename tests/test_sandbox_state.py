"""The sandbox state file under hostile conditions: many writers at once, a symlink, a file not ours."""
from __future__ import annotations

import fcntl
import json
import multiprocessing
import os
import stat
import threading

import pytest

import engine

WRITERS, EACH = 8, 25


def _create_many(manifest: engine.Manifest, state: str, start: multiprocessing.Event) -> list[str]:
    with engine.Engine(manifest, sandbox_state=state) as eng:
        start.wait(30)
        return [eng.run("assistants.create", {"model": "gpt-4o-mini"})["id"] for _ in range(EACH)]


def _writer(manifest: engine.Manifest, state: str, start: multiprocessing.Event, out: multiprocessing.Queue) -> None:
    try:
        out.put(_create_many(manifest, state, start))
    except BaseException as exc:  # the parent reports what went wrong, not a silent missing answer
        out.put(repr(exc))


def test_eight_processes_sharing_a_state_file_lose_no_object(manifest, tmp_path):
    state = str(tmp_path / "state.json")
    ctx = multiprocessing.get_context("fork")  # the children start with the manifest already loaded
    start, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_writer, args=(manifest, state, start, out)) for _ in range(WRITERS)]
    for p in procs:
        p.start()
    start.set()
    answers = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(30)
    made = [ident for ids in answers for ident in ids]
    assert all(isinstance(ids, list) for ids in answers), answers
    assert len(set(made)) == WRITERS * EACH
    stored = json.loads(open(state, encoding="utf-8").read())["objects"]["assistant"]
    assert set(made) <= set(stored)
    with engine.Engine(manifest, sandbox_state=state) as eng:
        listed = {a["id"] for a in eng.paginate("assistants.list", {"limit": 100})}
    assert listed == set(made)


def test_a_symlinked_state_file_stays_a_link_and_its_target_is_written(manifest, tmp_path):
    real_dir, link_dir = tmp_path / "real", tmp_path / "links"
    real_dir.mkdir(), link_dir.mkdir()
    target, link = real_dir / "state.json", link_dir / "state.json"
    link.symlink_to(target)  # dangling at first: the first write creates the target
    with engine.Engine(manifest, sandbox_state=link) as eng:
        first = eng.run("assistants.create", {"model": "gpt-4o-mini"})
        second = eng.run("assistants.create", {"model": "gpt-4o-mini"})
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert {first["id"], second["id"]} <= set(json.loads(target.read_text())["objects"]["assistant"])
    assert [p.name for p in link_dir.iterdir()] == ["state.json"]  # no temp or lock file beside the link
    with engine.Engine(manifest, sandbox_state=target) as eng:
        assert eng.run("assistants.retrieve", {"assistant_id": first["id"]})["id"] == first["id"]


@pytest.mark.parametrize("content", [
    b"[]", b"null", b"42", b'"text"', b"{not json", b"\xff\xfe garbage", b"[" * 100_000 + b"]" * 100_000,
    b'{"a": ' * 100_000 + b"1" + b"}" * 100_000, b'{"seq": 0, "objects": [], "listed": []}',
    b'{"seq": "x", "objects": {}, "listed": []}', b'{"seq": 1, "objects": {"assistant": []}, "listed": []}',
    b'{"seq": 1, "objects": {"assistant": {"asst_1": 5}}, "listed": []}',
    b'{"seq": 1, "objects": {"assistant": {"asst_1": {"data": {}, "scope": {}, "seq": 1}}}, "listed": []}',
    b'{"seq": 1, "objects": {}, "listed": {}}',
], ids=["list", "null", "number", "string", "not-json", "not-utf8", "deep-list", "deep-object", "objects-list",
        "seq-text", "type-list", "record-number", "record-no-id", "listed-object"])
def test_a_state_file_not_in_the_sandbox_shape_is_an_engine_error_naming_it(manifest, tmp_path, content):
    state = tmp_path / "odd.json"
    state.write_bytes(content)
    with engine.Engine(manifest, sandbox_state=state) as eng:
        for name, params in (("assistants.create", {"model": "gpt-4o-mini"}), ("assistants.list", {})):
            with pytest.raises(engine.Error, match="odd.json") as info:
                eng.run(name, params)
            assert not isinstance(info.value, engine.APIError)
    assert state.read_bytes() == content  # left as it was found


def test_a_fifo_or_folder_named_as_the_state_is_refused_not_waited_on(manifest, tmp_path):
    fifo, folder = tmp_path / "state.fifo", tmp_path / "state.dir"
    os.mkfifo(fifo)
    folder.mkdir()
    outcome: list[BaseException] = []

    def call(state) -> None:
        try:
            with engine.Engine(manifest, sandbox_state=state) as eng:
                eng.run("assistants.create", {"model": "gpt-4o-mini"})
        except BaseException as exc:  # the test asserts on what was raised
            outcome.append(exc)

    for state in (fifo, folder):
        worker = threading.Thread(target=call, args=(state,), daemon=True)
        worker.start()
        worker.join(5)
        stuck = worker.is_alive()
        if stuck:  # waiting for a writer to open the FIFO: one lets it go, and the test fails
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
            worker.join(5)
        assert not stuck and isinstance(outcome.pop(), engine.Error) and not outcome
    assert stat.S_ISFIFO(fifo.stat().st_mode) and folder.is_dir()


def test_a_state_locked_by_another_process_for_too_long_is_a_read_timeout(manifest, tmp_path):
    state = tmp_path / "state.json"
    with engine.Engine(manifest, sandbox_state=state) as eng:
        made = eng.run("assistants.create", {"model": "gpt-4o-mini"})
    with open(f"{state}.lock", "rb") as held:  # another open file: flock holds it against this process too
        fcntl.flock(held, fcntl.LOCK_EX)
        with engine.Engine(manifest, sandbox_state=state, timeout=0.3, max_retries=0) as eng:
            with pytest.raises(engine.APITimeoutError) as info:
                eng.run("assistants.retrieve", {"assistant_id": made["id"]})
    assert info.value.phase == "read"
    with engine.Engine(manifest, sandbox_state=state) as eng:  # let go, the state answers again
        assert eng.run("assistants.retrieve", {"assistant_id": made["id"]})["id"] == made["id"]


def test_an_empty_state_file_starts_a_fresh_state(manifest, tmp_path):
    state = tmp_path / "made-by-mktemp.json"
    state.write_bytes(b"")
    with engine.Engine(manifest, sandbox_state=state) as eng:
        made = eng.run("assistants.create", {"model": "gpt-4o-mini"})
    assert made["id"] in json.loads(state.read_text())["objects"]["assistant"]
