"""Paginators: how a list is walked page after page, and when the walk ends.

Declared under `definitions.paginations` (named, and referenced by an action's
`pagination: NAME`) or inline as the action's `pagination` block. The walker
(`engine.pagination.Walk`) fetches; a paginator only reads a page and says what
to fetch next. Every paginator ends a walk on a declared has-more flag that is
false, a stop template that is true, or an empty page; a page without its
declared items, or a walk that cannot go on although the server says there is
more, is a `PaginationError`, never a short result.
"""
from __future__ import annotations

import abc

from typing import Any, ClassVar, Mapping
from urllib.parse import urljoin

from ..errors import PaginationError
from . import Component, builtin
from .paths import MISSING, PATH_SCHEMA, Path
from .values import VALUE_SCHEMA, Value

__all__ = ["Page", "PageRequest", "Paginator", "CursorPaginator", "OffsetPaginator", "PageNumberPaginator",
           "SinglePaginator", "TEMPLATE_NAMES"]

TEMPLATE_NAMES = ("response", "params", "items", "page")


class Page:
    """One fetched page: decoded body, headers, status and the URL it came from."""

    __slots__ = ("body", "headers", "status", "url", "number")

    def __init__(self, body: Any, headers: Mapping[str, str], status: int, url: str, number: int) -> None:
        self.body, self.headers, self.status, self.url, self.number = body, headers, status, url, number

    def context(self, params: Mapping[str, Any], items: list[Any]) -> dict[str, Any]:
        return {"response": {"body": self.body, "headers": self.headers, "status": self.status},
                "params": params, "items": items, "page": self.number}


class PageRequest:
    """How to fetch one page: the action's params, values put on the wire unvalidated, or a whole URL.

    Plain JSON both ways, so a checkpoint can be saved and resumed in another process.
    """

    __slots__ = ("params", "inject", "url")

    def __init__(self, params: Mapping[str, Any], inject: Mapping[str, Mapping[str, Any]] | None = None,
                 url: str | None = None) -> None:
        self.params = dict(params)
        self.inject = {k: dict(v) for k, v in (inject or {}).items() if v}
        self.url = url

    def with_value(self, send: Mapping[str, Any], value: Any) -> "PageRequest":
        """A copy with `value` sent where `send` says: a param, a query/body/header field, or the URL."""
        if send.get("url"):
            return PageRequest(self.params, self.inject, str(value))
        if "param" in send:
            return PageRequest({**self.params, send["param"]: value}, self.inject, None)
        where = next(k for k in ("query", "body", "header") if k in send)
        inject = {k: dict(v) for k, v in self.inject.items()}
        inject.setdefault(where, {})[send[where]] = value
        return PageRequest(self.params, inject, None)

    def sent_value(self, send: Mapping[str, Any]) -> Any:
        """The value this request sends where `send` says (None on the first page)."""
        if send.get("url"):
            return self.url
        if "param" in send:
            return self.params.get(send["param"])
        where = next(k for k in ("query", "body", "header") if k in send)
        return self.inject.get(where, {}).get(send[where])

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"params": dict(self.params)}
        if self.inject:
            out["inject"] = {k: dict(v) for k, v in self.inject.items()}
        if self.url:
            out["url"] = self.url
        return out


_SEND = {
    "description": "Where the next value goes: an action param (`param`, sent wherever that param goes), "
                   "a raw `query`, `body` or `header` field, or `url: true` to follow it as the next URL "
                   "(which must be on the base URL's origin).",
    "type": "object",
    "minProperties": 1,
    "maxProperties": 1,
    "additionalProperties": False,
    "properties": {"param": {"type": "string"}, "query": {"type": "string"}, "body": {"type": "string"},
                   "header": {"type": "string"}, "url": {"const": True}},
}
_NEXT = {
    "description": "Where the next value is read; the first of these that gives one wins.",
    "type": "object",
    "minProperties": 1,
    "additionalProperties": False,
    "properties": {
        "body": {**VALUE_SCHEMA, "description": "A path into the page's body (or a template); a path that "
                                                "does not resolve, null and the empty string all mean no value."},
        "header": {"type": "string", "description": "A response header holding the value."},
        "link": {"type": "string", "description": "A `rel` of the RFC 8288 `Link` header, e.g. `next`; "
                                                  "its URL is resolved against the page's URL."},
        "last_item": {**PATH_SCHEMA, "description": "A field of the page's last item (first, when walking "
                                                    "in reverse), e.g. `id`."},
    },
}
_COMMON = {
    "items": {**PATH_SCHEMA, "description": "Where the page's items are: a path to a list, or `$` when the "
                                            "body is the list. A page without it is a PaginationError."},
    "has_more": {**VALUE_SCHEMA, "description": "A boolean that says whether more pages follow (a path into "
                                                "the body, or a template); false ends the walk."},
    "stop_when": {"type": "string", "pattern": r"\{\{", "description": "A template over `response`, "
                  "`params`, `items` and `page`; when it is true the walk ends after this page."},
    "empty_pages": {"enum": ["end", "follow"], "default": "end",
                    "description": "`end`: an empty page ends the walk. `follow`: an empty page that still names "
                                   "a next page is followed (APIs that page by time windows); the loop guard "
                                   "and `max_pages` still bound the walk."},
}


class Paginator(Component):
    """Base of the paginator family."""

    family: ClassVar[str] = "paginator"

    def __init__(self, spec: Mapping[str, Any], where: Any = None) -> None:
        super().__init__(spec, where)
        self.items_path = Path(spec.get("items", "$"))
        self.has_more = Value(spec["has_more"], base=("response", "body"), names=TEMPLATE_NAMES,
                              where=where) if spec.get("has_more") else None
        self.stop_when = Value(spec["stop_when"], base=(), names=TEMPLATE_NAMES,
                               where=where) if spec.get("stop_when") else None

    @classmethod
    def used_params(cls, spec: Mapping[str, Any]) -> list[str]:
        """Action params a block of this type writes: the manifest check wants them declared."""
        return []

    def first(self, params: Mapping[str, Any]) -> PageRequest:
        return PageRequest(params)

    def items(self, page: Page) -> list[Any]:
        found = self.items_path.get(page.body)
        if found is MISSING or not isinstance(found, list):
            what = "is missing" if found is MISSING else f"is {type(found).__name__}, not a list"
            where = "the body" if not self.items_path.steps else f"'{self.items_path.text}'"
            raise PaginationError(f"page {page.number}: {where} {what}; the declared items path does not fit "
                                  f"this answer")
        return found

    def ended(self, page: Page, request: PageRequest, items: list[Any]) -> tuple[bool, bool | None]:
        """(ended, more): the declared stop rules, and what the server said about more pages."""
        context = None
        more = None
        if self.has_more is not None:
            context = page.context(request.params, items)
            flag = self.has_more.get(context)
            more = flag if isinstance(flag, bool) else None
            if more is False:
                return True, more
        if self.stop_when is not None:
            if self.stop_when.get(context or page.context(request.params, items)):
                return True, more
        if not items:
            if self.spec.get("empty_pages") == "follow":
                return False, more  # the paginator's own rule (a next value, a total) decides
            if more is True:
                raise PaginationError("the server sent an empty page but says there is more")
            return True, more
        return False, more

    @abc.abstractmethod
    def next(self, request: PageRequest, page: Page, items: list[Any], seen: set[Any]) -> PageRequest | None:
        """Each type says how."""

    def checkpoint(self, request: PageRequest, item: Any) -> tuple[PageRequest, int] | None:
        """Where to resume right after `item`, when the item itself says (else: the page and a skip count)."""
        return None


def _unvisited(seen: set[Any], current: Any, value: Any, noun: str) -> Any:
    """`value`, unless the walk already fetched a page with it: a server that cycles would loop forever."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise PaginationError(f"the server gave a {noun} that is not text or a number: {value!r}")
    if current is not None:
        seen.add(current)
    if value in seen:
        raise PaginationError(f"the server repeated the {noun} {value!r}: stopping instead of looping")
    return value


@builtin
class CursorPaginator(Paginator):
    """The next page is named by a value the server gives: a cursor, a page token, or a whole next URL.

    The value is read from the body, a header, the `Link` header or the last item,
    and sent back as a param, a query/body/header field, or followed as the next URL.
    The walk ends when the value is null or absent (an error if the server says
    there is more).
    """

    type = "cursor"
    schema = {
        "properties": {
            **_COMMON,
            "next": _NEXT,
            "send": _SEND,
            "reverse": {
                "description": "Walking backwards: when the caller gives this param (and not the forward one), "
                               "the value is read from `next` here and sent in this param.",
                "type": "object", "additionalProperties": False, "required": ["param", "next"],
                "properties": {"param": {"type": "string"}, "next": _NEXT},
            },
            "item_cursor": {**PATH_SCHEMA, "description": "A field of every item that is itself a cursor "
                            "(an id, with `after`-style cursors): a checkpoint then resumes right after any item."},
        },
        "required": ["items", "next", "send"],
    }
    example = {"type": "cursor", "items": "data", "next": {"body": "last_id", "last_item": "id"},
               "send": {"param": "after"}, "has_more": "has_more"}

    def __init__(self, spec: Mapping[str, Any], where: Any = None) -> None:
        super().__init__(spec, where)
        self.send = dict(spec["send"])
        self.forward = self._reader(spec["next"], where)
        reverse = spec.get("reverse")
        self.reverse_param = reverse["param"] if reverse else None
        self.backward = self._reader(reverse["next"], where) if reverse else None
        self.item_cursor = Path(spec["item_cursor"]) if spec.get("item_cursor") else None

    @staticmethod
    def _reader(spec: Mapping[str, Any], where: Any) -> dict[str, Any]:
        out: dict[str, Any] = dict(spec)
        if "body" in spec:
            out["body"] = Value(spec["body"], base=("response", "body"), names=TEMPLATE_NAMES, where=where)
        if "last_item" in spec:
            out["last_item"] = Path(spec["last_item"])
        return out

    @classmethod
    def used_params(cls, spec: Mapping[str, Any]) -> list[str]:
        return [spec["send"]["param"]] if "param" in spec["send"] else []  # `reverse` is used only when given

    def _direction(self, request: PageRequest) -> tuple[dict[str, Any], dict[str, Any], bool]:
        if self.backward is not None and self.reverse_param in request.params \
                and self.send.get("param") not in request.params:
            return self.backward, {"param": self.reverse_param}, True
        return self.forward, self.send, False

    def _read(self, reader: Mapping[str, Any], page: Page, request: PageRequest, items: list[Any],
              backwards: bool) -> Any:
        for source in ("body", "header", "link", "last_item"):
            if source not in reader:
                continue
            if source == "body":
                value = reader["body"].get(page.context(request.params, items))
            elif source == "header":
                value = page.headers.get(reader["header"])
            elif source == "link":
                value = _link(page, reader["link"])
            elif not items:
                continue  # an empty page (followed by `empty_pages: follow`) has no last item
            else:
                edge = items[0] if backwards else items[-1]
                value = reader["last_item"].get(edge)
            if value is not MISSING and value is not None and value != "":
                return value
        return None

    def next(self, request: PageRequest, page: Page, items: list[Any], seen: set[Any]) -> PageRequest | None:
        ended, more = self.ended(page, request, items)
        if ended:
            return None
        reader, send, backwards = self._direction(request)
        value = self._read(reader, page, request, items, backwards)
        if value is None:
            if more is True:
                raise PaginationError("the server says there is more but gave nothing to continue from")
            return None
        if send.get("url"):
            value = urljoin(page.url, str(value))
        return request.with_value(send, _unvisited(seen, request.sent_value(send), value, "cursor"))

    def checkpoint(self, request: PageRequest, item: Any) -> tuple[PageRequest, int] | None:
        if self.item_cursor is None:
            return None
        ident = self.item_cursor.get(item)
        if ident is MISSING or ident in (None, ""):
            return None
        _, send, backwards = self._direction(request)
        if backwards:
            # A backward page may list its items in the forward order (Stripe's `ending_before` pages are
            # newest first): the items after this one are then not the ones `before=<it>` names.
            return None
        return request.with_value(send, ident), 0


def _link(page: Page, rel: str) -> str | None:
    from requests.utils import parse_header_links

    raw = page.headers.get("link")
    if not raw:
        return None
    for link in parse_header_links(raw):
        if rel in str(link.get("rel", "")).split():
            return urljoin(page.url, link.get("url", "")) or None
    return None


_SIZE = {
    "description": "The page size: read from this action param when the caller gives it, else `default` "
                   "(sent in that param so the server uses the same size).",
    "type": "object", "additionalProperties": False, "required": ["param"],
    "properties": {"param": {"type": "string"}, "default": {"type": "integer", "minimum": 1}},
}


@builtin
class OffsetPaginator(Paginator):
    """Offset and limit: each page starts where the items received so far end.

    The offset grows by the number of items actually received, so a server that
    caps the page size below the one asked for loses nothing. The walk ends on an
    empty page, when the offset reaches `total`, or on the common stop rules.
    """

    type = "offset"
    schema = {
        "properties": {
            **_COMMON,
            "offset": {"type": "object", "additionalProperties": False, "required": ["param"],
                       "description": "The action param that carries the offset.",
                       "properties": {"param": {"type": "string"}}},
            "limit": _SIZE,
            "total": {**VALUE_SCHEMA, "description": "The total number of items (a path into the body, or a "
                                                     "template); the walk ends when the offset reaches it."},
        },
        "required": ["items", "offset"],
    }
    example = {"type": "offset", "items": "results", "offset": {"param": "offset"},
               "limit": {"param": "limit", "default": 50}, "total": "meta.total"}

    def __init__(self, spec: Mapping[str, Any], where: Any = None) -> None:
        super().__init__(spec, where)
        self.param = spec["offset"]["param"]
        self.limit = spec.get("limit")
        self.total = Value(spec["total"], base=("response", "body"), names=TEMPLATE_NAMES,
                           where=where) if spec.get("total") else None

    @classmethod
    def used_params(cls, spec: Mapping[str, Any]) -> list[str]:
        return [spec["offset"]["param"]] + ([spec["limit"]["param"]] if spec.get("limit") else [])

    def first(self, params: Mapping[str, Any]) -> PageRequest:
        if self.limit and "default" in self.limit and self.limit["param"] not in params:
            params = {**params, self.limit["param"]: self.limit["default"]}
        return PageRequest(params)

    def next(self, request: PageRequest, page: Page, items: list[Any], seen: set[Any]) -> PageRequest | None:
        ended, _ = self.ended(page, request, items)
        if ended:
            return None
        offset = int(request.params.get(self.param) or 0) + len(items)
        if self.total is not None:
            total = self.total.get(page.context(request.params, items))
            if isinstance(total, bool) or not isinstance(total, (int, float)):
                raise PaginationError(f"the total is {total!r}, not a number")
            if offset >= total:
                return None
        return PageRequest({**request.params, self.param: offset}, request.inject)


@builtin
class PageNumberPaginator(Paginator):
    """Numbered pages: 1, 2, 3... (or from `start`), until an empty page or the last page number."""

    type = "page_number"
    schema = {
        "properties": {
            **_COMMON,
            "page": {"type": "object", "additionalProperties": False, "required": ["param"],
                     "description": "The action param that carries the page number, and the first number.",
                     "properties": {"param": {"type": "string"}, "start": {"type": "integer", "default": 1}}},
            "total_pages": {**VALUE_SCHEMA, "description": "The number of pages (a path or a template); the "
                                                           "walk ends after that page."},
        },
        "required": ["items", "page"],
    }
    example = {"type": "page_number", "items": "data", "page": {"param": "page", "start": 1},
               "total_pages": "meta.pages"}

    def __init__(self, spec: Mapping[str, Any], where: Any = None) -> None:
        super().__init__(spec, where)
        self.param = spec["page"]["param"]
        self.start = int(spec["page"].get("start", 1))
        self.total = Value(spec["total_pages"], base=("response", "body"), names=TEMPLATE_NAMES,
                           where=where) if spec.get("total_pages") else None

    @classmethod
    def used_params(cls, spec: Mapping[str, Any]) -> list[str]:
        return [spec["page"]["param"]]

    def next(self, request: PageRequest, page: Page, items: list[Any], seen: set[Any]) -> PageRequest | None:
        ended, _ = self.ended(page, request, items)
        if ended:
            return None
        number = int(request.params.get(self.param) or self.start)
        if self.total is not None:
            total = self.total.get(page.context(request.params, items))
            if isinstance(total, bool) or not isinstance(total, (int, float)):
                raise PaginationError(f"the page count is {total!r}, not a number")
            if number - self.start + 1 >= total:
                return None
        return PageRequest({**request.params, self.param: number + 1}, request.inject)


@builtin
class SinglePaginator(Paginator):
    """A list that comes whole in one answer: its items are still read (and checked) at `items`."""

    type = "single"
    schema = {"properties": {"items": _COMMON["items"]}, "required": ["items"]}
    example = {"type": "single", "items": "data"}

    def next(self, request: PageRequest, page: Page, items: list[Any], seen: set[Any]) -> None:
        return None
