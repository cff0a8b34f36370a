#!/usr/bin/env python3
"""Record the exact request every plain action builds: tests/data/golden_requests.json.

    python tools/record_golden.py    # re-record after a change to the requests that is intended

For each of the bundled manifest's plain actions (composites make several calls and are left
out), `Engine.prepare` builds the request for the params in tests/data/golden_params.json with
fixed fake credentials; nothing is sent. The record keeps the method, the full URL, every header
in order and the body's bytes, so tests/test_golden_requests.py fails on any changed byte while
the engine is rewritten. The one thing that varies per call, the multipart boundary, is replaced
by a fixed token of the same length, in the header and in the body alike.

In golden_params.json, bytes are written `{"$bytes": "text"}` (UTF-8) or `{"$base64": "..."}`,
and a file tuple `{"$file": [filename, content, content_type]}` whose content is text or one of
those two.
"""
from __future__ import annotations

import base64
import json
import os
import re
import sys
from pathlib import Path
from typing import Any, Mapping

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # record this checkout's engine, whatever is installed

import engine  # noqa: E402

PARAMS_FILE = ROOT / "tests" / "data" / "golden_params.json"
GOLDEN_FILE = ROOT / "tests" / "data" / "golden_requests.json"

# Fake values only: the record is committed, and no real key may ever reach it.
CREDENTIALS = {"api_key": "sk-golden-project", "admin_key": "sk-golden-admin",
               "organization": "org-golden", "project": "proj-golden"}
# Read by the Engine when no base_url is given; unset while building so the manifest's own URL is recorded.
BASE_URL_ENV = "OPENAI_BASE_URL"

_BOUNDARY = re.compile(r"boundary=\"?([^\";,\s]+)")


def decode(value: Any) -> Any:
    """golden_params.json's JSON -> the params a caller passes (markers become bytes and file tuples)."""
    if isinstance(value, dict):
        if set(value) == {"$bytes"}:
            return value["$bytes"].encode("utf-8")
        if set(value) == {"$base64"}:
            return base64.b64decode(value["$base64"], validate=True)
        if set(value) == {"$file"}:
            name, content, *ctype = value["$file"]
            return (name, content.encode("utf-8") if isinstance(content, str) else decode(content), *ctype)
        return {k: decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode(v) for v in value]
    return value


def load_params() -> dict[str, Any]:
    """Action name -> its fixed params, as stored (decode each before use)."""
    return json.loads(PARAMS_FILE.read_text(encoding="utf-8"))


def make_engine(manifest: Any = None) -> engine.Engine:
    """An Engine on the bundled manifest (or an already loaded copy of it) and its default base URL,
    with the fake credentials."""
    saved = os.environ.pop(BASE_URL_ENV, None)
    try:
        return engine.Engine(manifest, max_retries=0, **CREDENTIALS)
    finally:
        if saved is not None:
            os.environ[BASE_URL_ENV] = saved


def plain_actions(eng: engine.Engine) -> list[str]:
    return sorted(a.name for a in eng.actions() if not a.composite)


def _body_bytes(body: Any) -> bytes | None:
    if body is None:
        return None
    if isinstance(body, str):
        return body.encode("utf-8")
    if isinstance(body, (bytes, bytearray, memoryview)):
        return bytes(body)
    if callable(getattr(body, "read", None)):
        return body.read()
    return b"".join(bytes(chunk) for chunk in body)  # a streamed body: read it whole


def record(eng: engine.Engine, name: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """The request `name` builds for `params` (already decoded), as a JSON-able dict."""
    req = eng.prepare(name, params)
    headers = list(req.headers.items())
    body = _body_bytes(req.body)
    found = _BOUNDARY.search(req.headers.get("Content-Type", ""))
    if found:
        boundary = found.group(1)
        token = ("GOLDEN-BOUNDARY-" * (len(boundary) // 16 + 1))[:len(boundary)]
        headers = [(k, v.replace(boundary, token)) for k, v in headers]
        if body is not None:
            body = body.replace(boundary.encode("ascii"), token.encode("ascii"))
    return {
        "method": req.method,
        "url": req.url,
        "headers": [[k, v] for k, v in headers],
        "body_base64": None if body is None else base64.b64encode(body).decode("ascii"),
    }


def record_all(eng: engine.Engine) -> dict[str, dict[str, Any]]:
    params = load_params()
    names = plain_actions(eng)
    if sorted(params) != names:
        missing, extra = sorted(set(names) - set(params)), sorted(set(params) - set(names))
        raise SystemExit(f"{PARAMS_FILE.name} must name every plain action once: missing {missing}, unknown {extra}")
    return {name: record(eng, name, decode(params[name])) for name in names}


def dumps(records: Mapping[str, Any]) -> str:
    return json.dumps(records, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main() -> None:
    with make_engine() as eng:
        text = dumps(record_all(eng))
    GOLDEN_FILE.write_text(text, encoding="utf-8")
    print(f"wrote {len(json.loads(text))} requests to {GOLDEN_FILE.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
