"""Every example loopback server (examples/servers/, on _base.py) binds 127.0.0.1 and stops leaving nothing behind."""
from __future__ import annotations

import http.client
import threading

import pytest

from examples_support import server_module

SERVERS = [("anthropic", "AnthropicServer", ()), ("github", "GitHubServer", ("ghp_test",)),
           ("hubspot", "HubSpotServer", ()), ("notion", "NotionServer", ()), ("slack", "SlackServer", ()),
           ("spoonacular", "SpoonacularServer", ()), ("stripe", "StripeServer", ()), ("tmdb", "TMDBServer", ()),
           ("twilio", "TwilioServer", ()),
           ("zendesk", "ZendeskServer", ())]


@pytest.mark.parametrize("module, name, args", SERVERS, ids=[s[0] for s in SERVERS])
def test_stop_closes_an_idle_keep_alive_connection_and_joins_every_thread(module, name, args):
    before = set(threading.enumerate())
    server = getattr(server_module(module), name)(*args).start()
    assert server.url.startswith(f"http://127.0.0.1:{server.port}")
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        conn.request("GET", "/")
        answer = conn.getresponse()
        answer.read()
        assert answer.status >= 200 and not answer.will_close     # the connection stays open, idle
        assert len(server.requests) == 1
        server.stop()
        assert set(threading.enumerate()) <= before
    finally:
        conn.close()
