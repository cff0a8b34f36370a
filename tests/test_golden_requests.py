"""Every plain action's request stays byte-identical to the one recorded in tests/data/golden_requests.json.

The record was taken from the engine before its rewrite (issue 11) by tools/record_golden.py, for the
fixed params in tests/data/golden_params.json: method, full URL, every header in order and the body's
bytes (multipart boundaries replaced by a fixed token). When a change to a request is intended,
re-record with `python tools/record_golden.py` and review the diff.
"""
from __future__ import annotations

import base64
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import record_golden  # noqa: E402

GOLDEN = json.loads(record_golden.GOLDEN_FILE.read_text(encoding="utf-8"))
PARAMS = record_golden.load_params()


@pytest.fixture(scope="module")
def golden_eng(manifest):
    with record_golden.make_engine(manifest) as eng:
        yield eng


def test_the_record_covers_exactly_the_110_plain_actions(golden_eng):
    names = record_golden.plain_actions(golden_eng)
    assert len(names) == 110
    assert sorted(GOLDEN) == names
    assert sorted(PARAMS) == names


def test_the_record_holds_only_the_fake_credentials():
    auth = {v for r in GOLDEN.values() for k, v in r["headers"] if k.lower() == "authorization"}
    assert auth == {"Bearer sk-golden-project", "Bearer sk-golden-admin"}
    text = record_golden.GOLDEN_FILE.read_text(encoding="utf-8").encode("utf-8")
    text += b"".join(_bytes(r["body_base64"]) or b"" for r in GOLDEN.values())
    assert text.count(b"sk-") == text.count(b"sk-golden-")


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_request_is_byte_identical(golden_eng, name):
    want = GOLDEN[name]
    got = record_golden.record(golden_eng, name, record_golden.decode(PARAMS[name]))
    assert got["method"] == want["method"]
    assert got["url"] == want["url"]
    assert got["headers"] == want["headers"]
    # Compared as bytes, so a failure shows where the bodies differ.
    assert _bytes(got["body_base64"]) == _bytes(want["body_base64"])
    assert got == want  # nothing else in the record differs either


def _bytes(b64: str | None) -> bytes | None:
    return None if b64 is None else base64.b64decode(b64)
