"""A loopback Zendesk Support API (v2) for the example connector's tests.

Plays what Zendesk documents: HTTP Basic with `{email}/token` and an API token (a 401
`{"error": "Couldn't authenticate you"}` otherwise), cursor pages with `meta.has_more` and
`links.next` (a whole URL), offset pages with `next_page` for the user search, bodies nested
under `ticket`, raw uploads (`POST /uploads.json?filename=...`), `{"error", "description",
"details"}` error bodies, idempotent ticket creation, and 429 with `Retry-After` (seconds).

    with ZendeskServer() as zd:
        eng = engine.Engine(manifest="examples/zendesk.yaml", base_url=zd.url, api_token=zd.login)

Binds 127.0.0.1 on an ephemeral port; `stop()` (or leaving the `with`) shuts it down and joins
its thread. Every request is kept in `requests` for the tests to inspect.
"""
from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import quote, urlencode

from ._base import LoopbackServer, Request

__all__ = ["ZendeskServer"]

EMAIL = "agent@example.com"
API_TOKEN = "zd-test-SECRET-api-token-7d3f"
STAMP = "2024-05-01T12:00:00Z"


def _error(status: int, error: Any, description: str | None = None, **extra: Any) -> tuple[int, dict, dict]:
    body: dict[str, Any] = {"error": error}
    if description is not None:
        body["description"] = description
    body.update(extra)
    return status, body, {}


def _cursor(index: int) -> str:
    return base64.urlsafe_b64encode(f"i{index}".encode()).decode().rstrip("=")


def _uncursor(text: str) -> int | None:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
        return int(raw[1:]) if raw.startswith("i") else None
    except (ValueError, UnicodeDecodeError):
        return None


class ZendeskServer(LoopbackServer):
    """The fake account: a few users, tickets and comments, and knobs for the edge cases."""

    methods = ("GET", "POST", "PUT", "DELETE")
    content_type = "application/json; charset=utf-8"

    def __init__(self, *, email: str = EMAIL, api_token: str = API_TOKEN, tickets: int = 5, users: int = 5) -> None:
        super().__init__()
        self.origin = self.url
        self.url = self.origin + "/api/v2"
        self.login = (f"{email}/token", api_token)
        self._expected = "Basic " + base64.b64encode(f"{email}/token:{api_token}".encode()).decode()
        # Knobs
        self.rate_limit: dict[str, int] = {}  # path -> how many 429s to answer first
        self.retry_after = "1"
        self.next_origin: str | None = None  # links.next on this origin instead of ours
        self.stale_next_on_last_page = False  # the last page keeps a next link (has_more is false)
        self.forbidden: set[str] = set()  # paths answered 403 (an end user's token on an agent endpoint)
        # Data
        self.users = [self._user(i) for i in range(1, users + 1)]
        self.tickets: dict[int, dict[str, Any]] = {}
        self.comments: dict[int, list[dict[str, Any]]] = {}
        for i in range(1, tickets + 1):
            self._new_ticket({"subject": f"Ticket {i}", "comment": {"body": f"Help {i}"}}, author=1)
        self.uploads: dict[str, dict[str, Any]] = {}
        self.idempotency: dict[str, tuple[bytes, dict[str, Any]]] = {}

    def calls(self, path: str) -> list[Request]:
        with self.lock:
            return [r for r in self.requests if r.path == path]

    # -- data ------------------------------------------------------------------------------------

    def _user(self, i: int) -> dict[str, Any]:
        role = "admin" if i == 1 else ("agent" if i % 2 == 0 else "end-user")
        return {"id": i, "url": f"/api/v2/users/{i}.json",
                "name": f"User {i}", "email": f"user{i}@example.com", "role": role,
                "external_id": f"ext-{i}", "active": True, "created_at": STAMP}

    def _new_ticket(self, fields: dict[str, Any], author: int) -> dict[str, Any]:
        ticket_id = len(self.tickets) + 1
        comment = fields.get("comment") or {}
        text = comment.get("body") or comment.get("html_body") or ""
        ticket = {"id": ticket_id, "url": f"/api/v2/tickets/{ticket_id}.json", "external_id": None,
                  "type": None, "subject": fields.get("subject") or text[:50], "description": text,
                  "priority": None, "status": "new", "requester_id": author, "submitter_id": author,
                  "assignee_id": None, "group_id": None, "tags": [], "custom_fields": [], "due_at": None,
                  "created_at": STAMP, "updated_at": STAMP}
        for key in ("external_id", "type", "priority", "status", "requester_id", "assignee_id", "group_id",
                    "tags", "custom_fields", "due_at"):
            if key in fields:
                ticket[key] = fields[key]
        self.tickets[ticket_id] = ticket
        self.comments[ticket_id] = []
        self._add_comment(ticket_id, comment, author)
        return ticket

    def _add_comment(self, ticket_id: int, comment: dict[str, Any], author: int) -> dict[str, Any]:
        attachments = []
        for token in comment.get("uploads", []):
            attachments.extend(self.uploads[token]["attachments"])
        text = comment.get("body") or comment.get("html_body") or ""
        out = {"id": 1000 + sum(len(c) for c in self.comments.values()) + 1, "type": "Comment",
               "author_id": comment.get("author_id", author), "body": text, "html_body": f"<p>{text}</p>",
               "plain_body": text, "public": comment.get("public", True), "attachments": attachments,
               "created_at": STAMP}
        self.comments[ticket_id].append(out)
        return out

    # -- paging ----------------------------------------------------------------------------------

    def _cursor_page(self, path: str, query: dict[str, list[str]], key: str, records: list[Any]) -> tuple:
        size_text = query.get("page[size]", ["100"])[0]
        if not size_text.isdigit() or not 1 <= int(size_text) <= 100:
            return _error(400, "InvalidPaginationParameter", f"page[size] is {size_text} but must be 1..100")
        size = int(size_text)
        start = 0
        if "page[after]" in query:
            found = _uncursor(query["page[after]"][0])
            if found is None:
                return _error(400, "InvalidPaginationParameter", "page[after] is not a valid cursor")
            start = found
        chunk = records[start:start + size]
        end = start + len(chunk)
        more = end < len(records)
        rest = [(k, v) for k, vs in query.items() if not k.startswith("page[") for v in vs]
        origin = self.next_origin or self.origin

        def link(side: str, at: int) -> str:
            return f"{origin}/api/v2{path}?" + urlencode(rest + [(f"page[{side}]", _cursor(at)),
                                                                  ("page[size]", str(size))])

        stale = self.stale_next_on_last_page and chunk
        body = {key: chunk,
                "meta": {"has_more": more, "after_cursor": _cursor(end) if chunk else None,
                         "before_cursor": _cursor(start) if chunk else None},
                "links": {"next": link("after", end) if (more or stale) else None,
                          "prev": link("before", start) if start else None}}
        return 200, body, {}

    # -- routes ----------------------------------------------------------------------------------

    def answer(self, req: Request) -> tuple[int, Any, dict[str, str]]:
        status, payload, extra = self._route(req.method, req.path, req.query, req.headers, req.body)
        return status, payload, {"X-Request-Id": f"req-{len(self.requests)}", "X-Rate-Limit": "700",
                                 "X-Rate-Limit-Remaining": "699", **extra}

    def _route(self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str],
               body: bytes) -> tuple[int, Any, dict[str, str]]:
        if headers.get("authorization") != self._expected:
            return 401, {"error": "Couldn't authenticate you"}, {"WWW-Authenticate": 'Basic realm="Web Password"'}
        with self.lock:
            left = self.rate_limit.get(path, 0)
            if left:
                self.rate_limit[path] = left - 1
        if left:
            return 429, {"error": "APIRateLimitExceeded",
                         "description": "Number of allowed API requests per minute exceeded"}, \
                {"Retry-After": self.retry_after, "X-Rate-Limit": "700", "X-Rate-Limit-Remaining": "0"}
        if path in self.forbidden:
            return 403, {"error": {"title": "Forbidden", "message": "You do not have access to this page. Please "
                                   "contact the account owner of this help desk for further help."}}, {}
        parts = path.removeprefix("/api/v2/").removesuffix(".json").split("/")
        if method == "GET" and parts == ["tickets"]:
            records = sorted(self.tickets.values(), key=lambda t: t["id"],
                             reverse=query.get("sort", [""])[0] == "-id")
            if "external_id" in query:
                records = [t for t in records if t["external_id"] == query["external_id"][0]]
            return self._cursor_page(path.removeprefix("/api/v2"), query, "tickets", records)
        if parts[0] == "tickets" and len(parts) >= 2:
            if not parts[1].isdigit() or int(parts[1]) not in self.tickets:
                return _error(404, "RecordNotFound", "Not found")
            ticket_id = int(parts[1])
            if method == "GET" and len(parts) == 2:
                return 200, {"ticket": self.tickets[ticket_id]}, {}
            if method == "PUT" and len(parts) == 2:
                return self._update(ticket_id, body)
            if method == "GET" and parts[2:] == ["comments"]:
                records = list(self.comments[ticket_id])
                if query.get("sort_order", ["asc"])[0] == "desc":
                    records.reverse()
                return self._cursor_page(path.removeprefix("/api/v2"), query, "comments", records)
        if method == "POST" and parts == ["tickets"]:
            return self._create(headers, body)
        if method == "GET" and parts == ["users"]:
            roles = query.get("role[]", []) + query.get("role", [])
            records = [u for u in self.users if not roles or u["role"] in roles]
            return self._cursor_page(path.removeprefix("/api/v2"), query, "users", records)
        if method == "GET" and parts == ["users", "search"]:
            return self._search(path, query)
        if method == "POST" and parts == ["uploads"]:
            return self._upload(query, headers, body)
        return _error(404, "InvalidEndpoint", "Not found")

    def _fields(self, body: bytes) -> dict[str, Any] | tuple:
        try:
            data = json.loads(body)
        except ValueError:
            return _error(400, "Unprocessable Entity", "Server could not parse JSON")
        if not isinstance(data, dict) or not isinstance(data.get("ticket"), dict):
            return _error(400, "ParameterMissing", "param is missing or the value is empty: ticket")
        return data["ticket"]

    def _invalid(self, fields: dict[str, Any], creating: bool) -> tuple | None:
        details: dict[str, list[dict[str, str]]] = {}
        comment = fields.get("comment")
        if creating and not (isinstance(comment, dict) and (comment.get("body") or comment.get("html_body"))):
            details["base"] = [{"description": "Description: cannot be blank", "error": "BlankValue"}]
        requester = fields.get("requester")
        if isinstance(requester, dict) and "@" not in str(requester.get("email", "@")):
            details["requester"] = [{"description": f"Requester: Email {requester['email']} is not properly "
                                                    "formatted", "error": "InvalidValue"}]
        for token in (comment or {}).get("uploads", []):
            if token not in self.uploads:
                details["uploads"] = [{"description": f"Uploads: {token} is not a valid upload token",
                                       "error": "InvalidValue"}]
        if details:
            return _error(422, "RecordInvalid", "Record validation errors", details=details)
        return None

    def _create(self, headers: dict[str, str], body: bytes) -> tuple:
        key = headers.get("idempotency-key")
        with self.lock:
            if key and key in self.idempotency:
                first_body, answer = self.idempotency[key]
                if first_body != body:
                    return _error(400, "IdempotentRequestError",
                                  "Request parameters do not match the original request for this key")
                return 201, answer, {"x-idempotency-lookup": "hit"}
        fields = self._fields(body)
        if isinstance(fields, tuple):
            return fields
        problem = self._invalid(fields, creating=True)
        if problem:
            return problem
        with self.lock:
            ticket = self._new_ticket(fields, author=1)
            answer = {"ticket": ticket, "audit": {"ticket_id": ticket["id"], "events": [{"type": "Create"}]}}
            if key:
                self.idempotency[key] = (body, answer)
        extra = {"Location": f"{self.url}/tickets/{ticket['id']}.json"}
        if key:
            extra["x-idempotency-lookup"] = "miss"
        return 201, answer, extra

    def _update(self, ticket_id: int, body: bytes) -> tuple:
        fields = self._fields(body)
        if isinstance(fields, tuple):
            return fields
        problem = self._invalid(fields, creating=False)
        if problem:
            return problem
        with self.lock:
            ticket = self.tickets[ticket_id]
            if fields.get("safe_update") and fields.get("updated_stamp") != ticket["updated_at"]:
                return _error(409, "UpdateConflict", "Safe Update prevented the update due to outdated ticket "
                                                     "data. Please fetch the latest ticket data and try again.")
            for key in ("subject", "priority", "status", "type", "assignee_id", "group_id", "tags",
                        "custom_fields", "external_id", "due_at", "requester_id"):
                if key in fields:
                    ticket[key] = fields[key]
            if isinstance(fields.get("comment"), dict):
                self._add_comment(ticket_id, fields["comment"], author=1)
            ticket["updated_at"] = "2024-05-01T12:30:00Z"
        return 200, {"ticket": ticket, "audit": {"ticket_id": ticket_id, "events": [{"type": "Change"}]}}, {}

    def _search(self, path: str, query: dict[str, list[str]]) -> tuple:
        if "query" not in query and "external_id" not in query:
            return _error(400, "InvalidParameter", "query or external_id is required")
        per_page = int(query.get("per_page", ["100"])[0])
        page = int(query.get("page", ["1"])[0])
        if "external_id" in query:
            found = [u for u in self.users if u["external_id"] == query["external_id"][0]]
        else:
            term = query["query"][0].lower().removeprefix("email:")
            found = [u for u in self.users if term in u["name"].lower() or term in u["email"]]
        chunk = found[(page - 1) * per_page:page * per_page]
        rest = [(k, v) for k, vs in query.items() if k not in ("page", "per_page") for v in vs]

        def link(n: int) -> str:
            return f"{self.origin}{path}?" + urlencode(rest + [("page", str(n)), ("per_page", str(per_page))])

        return 200, {"users": chunk, "count": len(found),
                     "next_page": link(page + 1) if page * per_page < len(found) else None,
                     "previous_page": link(page - 1) if page > 1 else None}, {}

    def _upload(self, query: dict[str, list[str]], headers: dict[str, str], body: bytes) -> tuple:
        if not query.get("filename"):
            return _error(400, "InvalidParameter", "filename is required")
        with self.lock:
            token = query.get("token", [None])[0] or f"tok{len(self.uploads) + 1:04d}"
            upload = self.uploads.setdefault(token, {"token": token, "expires_at": "2024-05-04T12:00:00Z",
                                                     "attachments": []})
            attachment = {"id": 5000 + sum(len(u["attachments"]) for u in self.uploads.values()),
                          "file_name": query["filename"][0],
                          "content_url": f"{self.origin}/attachments/token/{token}/?name={quote(query['filename'][0])}",
                          "content_type": headers.get("content-type", "application/binary"),
                          "size": len(body)}
            upload["attachments"].append(attachment)
            upload["data"] = upload.get("data", b"") + body
        answer = {key: value for key, value in upload.items() if key != "data"}
        answer["attachment"] = attachment
        return 201, {"upload": answer}, {}
