"""A loopback stand-in for the Slack Web API (slack.com/api), for tests and demos.

It plays what Slack documents: a Bearer token (`xoxb-...`); every answer is HTTP 200 with
`{"ok": true, ...}` or `{"ok": false, "error": "<code>"}` (`not_authed` without a token,
`invalid_auth` with a wrong one, `channel_not_found`, `user_not_found`, `invalid_cursor`,
`already_reacted`, `no_text`, ...), except a rate limit: HTTP 429 with `Retry-After` seconds.
Lists page by cursor: `limit` and `cursor` in, `response_metadata.next_cursor` out, an empty
string on the last page. conversations.list filters `types` after cutting the page, as Slack
does, so a page may hold fewer items than `limit`, even none, while a cursor still follows.
conversations.history says `has_more` and leaves `response_metadata` out on its last page.
chat.postMessage and reactions.add take a JSON body (`application/json; charset=utf-8`).

    with SlackServer(token="xoxb-1") as api:
        engine.Engine(manifest="examples/slack.yaml", base_url=api.url + "/api", token="xoxb-1")

Only 127.0.0.1, an ephemeral port; `stop()` (or the end of the `with`) joins its thread.
"""
from __future__ import annotations

import base64
import itertools
from typing import Any, Callable

from ._base import Injected, LoopbackServer, Request


def _cursor(offset: int) -> str:
    return base64.b64encode(f"next:{offset}".encode()).decode()


def _offset(cursor: str) -> int | None:
    try:
        kind, _, number = base64.b64decode(cursor, validate=True).decode().partition(":")
        return int(number) if kind == "next" else None
    except (ValueError, UnicodeDecodeError):
        return None


class SlackServer(LoopbackServer):
    """The Web API over made-up channels, users and messages, under the prefix `/api`.

    `channels` public channels (every third one archived), `users` members, `messages` in
    channel C000 (newest first). `rate_limit_next(method)` answers the next call of that
    method with a 429 once.
    """

    content_type = "application/json; charset=utf-8"

    def __init__(self, token: str = "xoxb-test", *, channels: int = 7, users: int = 5, messages: int = 5) -> None:
        super().__init__()
        self.token = token
        self.channels = [{"id": f"C{i:03d}", "name": f"channel-{i}", "is_channel": True, "is_private": False,
                          "is_archived": i % 3 == 2, "created": 1700000000 + i, "num_members": i + 1}
                         for i in range(channels)]
        self.users = [{"id": f"U{i:03d}", "team_id": "T001", "name": f"user{i}", "real_name": f"User {i}",
                       "deleted": False, "is_bot": False, "tz": "Europe/Paris"} for i in range(users)]
        self.messages = {"C000": [{"type": "message", "user": "U000", "text": f"message {i}",
                                   "ts": f"{1700000100 - i}.000100"} for i in range(messages)]}
        self.reactions: set[tuple[str, str, str]] = set()
        self._rate_limited: Injected[int] = Injected()
        self._ids = itertools.count(1)

    def rate_limit_next(self, method: str, retry_after: int = 1, after: int = 0) -> None:
        """A call of `method` (the next one, or the one after `after` more) gets Slack's 429, once."""
        self._rate_limited.add(retry_after, key=method, after=after)

    # -- the API --------------------------------------------------------------
    def answer(self, req: Request) -> tuple[int, Any, dict[str, str]]:
        status, body, headers = self._answer(req)
        return status, body, {"X-Slack-Req-Id": f"req-{next(self._ids)}", **headers}

    def _answer(self, req: Request) -> tuple[int, Any, dict[str, str]]:
        method = req.path.removeprefix("/api/")
        retry_after = self._rate_limited.take(key=method)
        if retry_after is not None:
            return 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(retry_after)}
        auth = req.headers.get("authorization", "")
        if not auth:
            return 200, {"ok": False, "error": "not_authed"}, {}
        if auth != f"Bearer {self.token}":
            return 200, {"ok": False, "error": "invalid_auth"}, {}
        route: Callable[[Request], dict[str, Any]] | None = getattr(self, "_" + method.replace(".", "_"), None)
        if route is None or not req.path.startswith("/api/"):
            return 404, {"ok": False, "error": "unknown_method", "req_method": method}, {}
        try:
            args = req.json() if req.body else {k: v[0] for k, v in req.query.items()}
        except ValueError:
            return 200, {"ok": False, "error": "invalid_json"}, {}
        if req.body and not req.headers.get("content-type", "").startswith("application/json"):
            return 200, {"ok": False, "error": "invalid_form_data"}, {}
        with self.lock:
            return 200, route(args), {}

    @staticmethod
    def _page(items: list[dict[str, Any]], args: dict[str, Any], default: int = 100) -> Any:
        """One page and the next cursor ("" on the last page), or an error answer."""
        try:
            limit = int(args.get("limit") or default)
        except ValueError:
            return None, {"ok": False, "error": "invalid_limit"}
        start = 0
        if args.get("cursor"):
            start = _offset(args["cursor"])
            if start is None or start > len(items):
                return None, {"ok": False, "error": "invalid_cursor"}
        end = len(items) if limit == 0 else start + min(max(limit, 1), 1000)  # users.list: 0 is all
        return items[start:end], _cursor(end) if end < len(items) else ""

    def _auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "url": "https://example.slack.com/", "team": "Example", "user": "bot",
                "team_id": "T001", "user_id": "U999", "bot_id": "B001"}

    def _conversations_list(self, args: dict[str, Any]) -> dict[str, Any]:
        page, cursor = self._page(self.channels, args)
        if page is None:
            return cursor
        # Slack filters after cutting the page: fewer than `limit`, even none, with a cursor after.
        types = (args.get("types") or "public_channel").split(",")
        page = [c for c in page if "public_channel" in types and
                not (args.get("exclude_archived") in ("true", "1") and c["is_archived"])]
        return {"ok": True, "channels": page, "response_metadata": {"next_cursor": cursor}}

    def _conversations_info(self, args: dict[str, Any]) -> dict[str, Any]:
        for channel in self.channels:
            if channel["id"] == args.get("channel"):
                return {"ok": True, "channel": channel}
        return {"ok": False, "error": "channel_not_found"}

    def _conversations_history(self, args: dict[str, Any]) -> dict[str, Any]:
        if args.get("channel") not in self.messages:
            return {"ok": False, "error": "channel_not_found"}
        messages = [m for m in self.messages[args["channel"]]
                    if float(m["ts"]) >= float(args.get("oldest") or 0)]
        page, cursor = self._page(messages, args)
        if page is None:
            return cursor
        answer = {"ok": True, "messages": page, "has_more": bool(cursor), "pin_count": 0}
        if cursor:
            answer["response_metadata"] = {"next_cursor": cursor}
        return answer

    def _users_list(self, args: dict[str, Any]) -> dict[str, Any]:
        page, cursor = self._page(self.users, args, default=0)
        if page is None:
            return cursor
        return {"ok": True, "members": page, "cache_ts": 1700000000, "response_metadata": {"next_cursor": cursor}}

    def _users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        for user in self.users:
            if user["id"] == args.get("user"):
                return {"ok": True, "user": user}
        return {"ok": False, "error": "user_not_found"}

    def _chat_postMessage(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = args.get("channel")
        if channel not in {c["id"] for c in self.channels}:
            return {"ok": False, "error": "channel_not_found"}
        if not args.get("text") and not args.get("blocks") and not args.get("attachments"):
            return {"ok": False, "error": "no_text"}
        ts = f"{1700000200 + len(self.messages.get(channel, []))}.000100"
        message = {"type": "message", "user": "U999", "bot_id": "B001", "text": args.get("text", ""), "ts": ts}
        if args.get("blocks"):
            message["blocks"] = args["blocks"]
        if args.get("thread_ts"):
            message["thread_ts"] = args["thread_ts"]
        self.messages.setdefault(channel, []).insert(0, message)
        return {"ok": True, "channel": channel, "ts": ts, "message": message}

    def _reactions_add(self, args: dict[str, Any]) -> dict[str, Any]:
        key = (args.get("channel"), args.get("timestamp"), args.get("name"))
        if key[0] not in self.messages:
            return {"ok": False, "error": "channel_not_found"}
        if key[1] not in {m["ts"] for m in self.messages[key[0]]}:
            return {"ok": False, "error": "message_not_found"}
        if key in self.reactions:
            return {"ok": False, "error": "already_reacted"}
        self.reactions.add(key)
        return {"ok": True}
