"""Shared fixtures: an Engine with fake keys, and no environment leaking in."""
from __future__ import annotations

import os
import tempfile

import pytest
import responses as responses_lib

# Manifest caches written by the suite go to a folder of its own, never the user's.
os.environ["OPENAI_CONNECTOR_CACHE"] = tempfile.mkdtemp(prefix="connector-cache-")

import engine

API_KEY = "sk-test-SECRET-api-key-0123456789"
ADMIN_KEY = "sk-admin-SECRET-admin-key-9876543210"
BASE = "https://api.openai.com/v1"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for name in ("OPENAI_API_KEY", "OPENAI_ADMIN_KEY", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def manifest():
    return engine.load()


@pytest.fixture
def eng(manifest):
    e = engine.Engine(manifest, api_key=API_KEY, admin_key=ADMIN_KEY, max_retries=0)
    yield e
    e.close()


@pytest.fixture
def mocked():
    with responses_lib.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        yield rsps
