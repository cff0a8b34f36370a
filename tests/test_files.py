"""engine.files: one way to replace a file, shared by state, handles, caches and downloads."""
from __future__ import annotations

import os
import stat

import pytest

from engine.files import replace_file


def test_replaces_the_content_and_leaves_nothing_beside(tmp_path):
    target = tmp_path / "state.json"
    target.write_text("old")
    replace_file(target, b"new", durable=True)
    assert target.read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]


def test_through_a_symlink_the_link_stays_and_its_file_changes(tmp_path):
    real = tmp_path / "real.json"
    real.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(real)
    replace_file(link, b"new")
    assert link.is_symlink() and real.read_bytes() == b"new"


def test_an_existing_file_keeps_its_permissions_a_new_one_gets_the_mode(tmp_path):
    shared = tmp_path / "shared.json"
    shared.write_text("old")
    shared.chmod(0o640)
    replace_file(shared, b"new")
    assert stat.S_IMODE(shared.stat().st_mode) == 0o640
    private = tmp_path / "private.json"
    replace_file(private, b"new", mode=0o600)
    assert stat.S_IMODE(private.stat().st_mode) == 0o600


def test_a_planted_file_under_an_old_temporary_name_is_never_written(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("the user's")
    for planted in ("job.json.tmp", f".job.json.{os.getpid()}.tmp"):
        (tmp_path / planted).symlink_to(victim)
    replace_file(tmp_path / "job.json", b"{}")
    assert victim.read_text() == "the user's"
    assert (tmp_path / "job.json").read_bytes() == b"{}"


def test_a_failed_write_removes_its_temporary_and_keeps_the_old_file(tmp_path):
    target = tmp_path / "state.json"
    target.write_text("old")
    with pytest.raises(TypeError):
        replace_file(target, "not bytes")  # type: ignore[arg-type]
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]
