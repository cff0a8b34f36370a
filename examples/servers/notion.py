"""A loopback stand-in for the Notion API (api.notion.com/v1, Notion-Version 2022-06-28), for tests and demos.

It plays what Notion documents: an integration token as `Authorization: Bearer`, and a
`Notion-Version` header on every call (400 `missing_version` without one it knows); errors as
`{"object": "error", "status": N, "code": "...", "message": "..."}` (401 `unauthorized`,
400 `validation_error`, 404 `object_not_found`, 429 `rate_limited` with `Retry-After`);
lists as `{"object": "list", "results", "next_cursor", "has_more", "type"}`, `page_size` at
most 100 (default 100), the cursor being the next item's id. databases.query and search are
POSTs with the cursor in the JSON body (`start_cursor`); blocks.children.list and users.list
are GETs with it in the query. An exactly full last page says `has_more: false`, and an empty
list is one page of no results.

    with NotionServer(token="secret_1") as api:
        engine.Engine(manifest="examples/notion.yaml", base_url=api.url + "/v1", token="secret_1")

Only 127.0.0.1, an ephemeral port; `stop()` (or the end of the `with`) joins its thread.
"""
from __future__ import annotations

import re
import uuid
from typing import Any

from ._base import Injected, LoopbackServer, Request

DATABASE_ID = "8e2c2b76-9e1e-4b1d-8f0a-6d1c3c9a0001"
PAGE_ID = "59833787-2cf9-4fdf-8782-e53db20768a5"
VERSIONS = ("2021-08-16", "2022-02-22", "2022-06-28")
EPOCH = "2026-01-01T00:00:00.000Z"
ID = re.compile(r"^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$")


class NotionError(Exception):
    """An answer in Notion's error shape."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def body(self) -> dict[str, Any]:
        return {"object": "error", "status": self.status, "code": self.code, "message": self.message,
                "request_id": str(uuid.uuid4())}


def _id(n: int, kind: str) -> str:
    return str(uuid.UUID(int=("page", "block", "user").index(kind) + 1 << 64 | n))


def _plain_title(obj: dict[str, Any]) -> str:
    """The text of a page's (or a database's) title."""
    if obj["object"] == "database":
        return obj["title"][0]["plain_text"]
    title = next(p["title"] for p in obj["properties"].values() if "title" in p)
    return "".join(part.get("plain_text") or part.get("text", {}).get("content", "") for part in title)


def _title(text: str) -> list[dict[str, Any]]:
    return [{"type": "text", "text": {"content": text, "link": None}, "plain_text": text, "href": None}]


class NotionServer(LoopbackServer):
    """The API over one database of `rows` pages, a page with `blocks` children, and `users` people.

    `rate_limit_next()` answers the next call with Notion's 429 once.
    """

    methods = ("GET", "POST", "PATCH", "DELETE")
    content_type = "application/json; charset=utf-8"

    def __init__(self, token: str = "secret_test", *, rows: int = 5, blocks: int = 5, users: int = 3) -> None:
        super().__init__()
        self.token = token
        self.database = {"object": "database", "id": DATABASE_ID, "title": _title("Tasks"),
                         "properties": {"Name": {"id": "title", "type": "title", "title": {}},
                                        "Status": {"id": "st", "type": "select", "select": {}}}}
        self.pages: dict[str, dict[str, Any]] = {}
        for i in range(rows):
            self._add_page({"database_id": DATABASE_ID},
                           {"Name": {"title": _title(f"Task {i}")},
                            "Status": {"select": {"name": "Done" if i % 2 else "Todo"}}}, _id(i, "page"))
        self.pages[PAGE_ID] = self._page({"type": "workspace", "workspace": True},
                                         {"title": {"id": "title", "type": "title", "title": _title("Notes")}},
                                         PAGE_ID)
        self.blocks = {PAGE_ID: [{"object": "block", "id": _id(i, "block"), "type": "paragraph",
                                  "has_children": False, "paragraph": {"rich_text": _title(f"Line {i}")}}
                                 for i in range(blocks)]}
        self.users = [{"object": "user", "id": _id(i, "user"), "type": "person", "name": f"Person {i}",
                       "person": {"email": f"p{i}@example.com"}} for i in range(users)]
        self._limited: Injected[int] = Injected()

    def rate_limit_next(self, retry_after: int = 1) -> None:
        """The next call gets Notion's 429 `rate_limited` with `Retry-After` seconds, once."""
        self._limited.add(retry_after)

    # -- the API --------------------------------------------------------------
    def answer(self, req: Request) -> tuple[int, Any, dict[str, str]]:
        limited = self._limited.take()
        try:
            if limited is not None:
                raise NotionError(429, "rate_limited", "You have been rate limited. Please try again in a few minutes.")
            if req.headers.get("authorization") != f"Bearer {self.token}":
                raise NotionError(401, "unauthorized", "API token is invalid.")
            if req.headers.get("notion-version") not in VERSIONS:
                raise NotionError(400, "missing_version", "Notion-Version header failed validation: Notion-Version "
                                  f"header should be defined, instead was `{req.headers.get('notion-version')}`.")
            try:
                args = req.json() if req.body else {}
            except ValueError:
                raise NotionError(400, "invalid_json", "Error parsing JSON body.") from None
            with self.lock:
                return 200, self._route(req, args), {}
        except NotionError as exc:
            headers = {"Retry-After": str(limited)} if exc.status == 429 else {}
            return exc.status, exc.body(), headers

    def _route(self, req: Request, args: dict[str, Any]) -> Any:
        parts = req.path.removeprefix("/v1/").split("/")
        match req.method, parts:
            case "POST", ["databases", db, "query"]:
                if db.replace("-", "") != DATABASE_ID.replace("-", ""):
                    raise NotionError(404, "object_not_found", f"Could not find database with ID: {db}. Make sure "
                                      "the relevant pages and databases are shared with your integration.")
                rows = [p for p in self.pages.values() if p["parent"].get("database_id") == DATABASE_ID]
                wanted = (args.get("filter") or {}).get("select", {}).get("equals")
                if wanted is not None:
                    rows = [p for p in rows if p["properties"]["Status"]["select"]["name"] == wanted]
                return self._list(rows, args, "body", "page_or_database")
            case "POST", ["search"]:
                kinds = {args["filter"].get("value")} if args.get("filter") else {"page", "database"}
                found = [obj for obj in [self.database, *self.pages.values()] if obj["object"] in kinds
                         and (args.get("query") or "").lower() in _plain_title(obj).lower()]
                return self._list(found, args, "body", "page_or_database")
            case "GET", ["pages", page_id]:
                return self._find(page_id)
            case "POST", ["pages"]:
                return self._create(args)
            case "PATCH", ["pages", page_id]:
                page = self._find(page_id)
                page["properties"].update(args.get("properties") or {})
                if "icon" in args:
                    page["icon"] = args["icon"]
                if "archived" in args:
                    page["archived"] = page["in_trash"] = bool(args["archived"])
                return page
            case "GET", ["blocks", block_id, "children"]:
                if block_id not in self.blocks:
                    raise NotionError(404, "object_not_found", f"Could not find block with ID: {block_id}. Make "
                                      "sure the relevant pages and databases are shared with your integration.")
                return self._list(self.blocks[block_id], {k: v[0] for k, v in req.query.items()}, "query", "block")
            case "PATCH", ["blocks", block_id, "children"]:
                if block_id not in self.blocks:
                    raise NotionError(404, "object_not_found", f"Could not find block with ID: {block_id}. Make "
                                      "sure the relevant pages and databases are shared with your integration.")
                added = [{"object": "block", "id": str(uuid.uuid4()), "has_children": False, **child}
                         for child in args.get("children") or []]
                self.blocks[block_id].extend(added)
                return {"object": "list", "results": added, "next_cursor": None, "has_more": False,
                        "type": "block", "block": {}}
            case "GET", ["users"]:
                return self._list(self.users, {k: v[0] for k, v in req.query.items()}, "query", "user")
        raise NotionError(400, "invalid_request_url", "Invalid request URL.")

    @staticmethod
    def _list(items: list[dict[str, Any]], args: dict[str, Any], where: str, kind: str) -> dict[str, Any]:
        try:
            size = int(args.get("page_size", 100))
        except (TypeError, ValueError):
            raise NotionError(400, "validation_error", f"{where} failed validation: {where}.page_size should be "
                              f"a number, instead was `{args.get('page_size')!r}`.") from None
        if not 1 <= size <= 100:
            raise NotionError(400, "validation_error", f"{where} failed validation: {where}.page_size should be "
                              f"≤ `100`, instead was `{size}`.")
        start = 0
        if args.get("start_cursor") is not None:
            ids = [item["id"] for item in items]
            if args["start_cursor"] not in ids:
                raise NotionError(400, "validation_error", f"The start_cursor provided is invalid: {args['start_cursor']}")
            start = ids.index(args["start_cursor"])
        page = items[start:start + size]
        more = start + size < len(items)
        return {"object": "list", "results": page, "next_cursor": items[start + size]["id"] if more else None,
                "has_more": more, "type": kind, kind: {}, "request_id": str(uuid.uuid4())}

    def _find(self, page_id: str) -> dict[str, Any]:
        for page in self.pages.values():
            if page["id"].replace("-", "") == page_id.replace("-", ""):
                return page
        raise NotionError(404, "object_not_found", f"Could not find page with ID: {page_id}. Make sure the "
                          "relevant pages and databases are shared with your integration.")

    @staticmethod
    def _page(parent: dict[str, Any], properties: dict[str, Any], page_id: str) -> dict[str, Any]:
        return {"object": "page", "id": page_id, "created_time": EPOCH, "last_edited_time": EPOCH,
                "archived": False, "in_trash": False, "icon": None, "cover": None, "parent": parent,
                "properties": properties, "url": f"https://www.notion.so/{page_id.replace('-', '')}"}

    def _add_page(self, parent: dict[str, Any], properties: dict[str, Any], page_id: str) -> dict[str, Any]:
        page = self._page({"type": next(iter(parent)), **parent}, properties, page_id)
        self.pages[page_id] = page
        return page

    def _create(self, args: dict[str, Any]) -> dict[str, Any]:
        parent = args.get("parent")
        if not isinstance(parent, dict) or not ({"database_id", "page_id"} & parent.keys()):
            raise NotionError(400, "validation_error", "body failed validation. Fix one:\nbody.parent.page_id should "
                              "be defined, instead was `undefined`.\nbody.parent.database_id should be defined, "
                              "instead was `undefined`.")
        properties = args.get("properties") or {}
        if parent.get("database_id"):
            if parent["database_id"].replace("-", "") != DATABASE_ID.replace("-", ""):
                raise NotionError(404, "object_not_found", f"Could not find database with ID: "
                                  f"{parent['database_id']}. Make sure the relevant pages and databases are shared "
                                  "with your integration.")
            unknown = sorted(properties.keys() - self.database["properties"].keys())
            if unknown:
                raise NotionError(400, "validation_error",
                                  f"{unknown[0]} is not a property that exists.")
            if "title" not in properties.get("Name", {}):
                raise NotionError(400, "validation_error", "Title is not provided")
        page = self._add_page({k: v for k, v in parent.items() if k != "type"}, properties,
                              str(uuid.UUID(int=len(self.pages) + 1 << 32)))
        if args.get("children"):
            self.blocks[page["id"]] = [{"object": "block", "id": str(uuid.uuid4()), "has_children": False, **child}
                                       for child in args["children"]]
        for field in ("icon", "cover"):
            if args.get(field):
                page[field] = args[field]
        return page
