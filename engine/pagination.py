"""Pagination styles, declared per action in the manifest and walked lazily.

A style is a small object that says which params fetch the next page given
the current one, or that the walk is over. The registry `STYLES` maps the
manifest's `type` to the class; a new style is one class and one entry.

Every walk is bounded: a cursor the walk already followed (a cycle of any
length, not only the last one repeated), or a page that is empty yet claims
more, ends it with `PaginationError` (naming the action, as every API error
does) instead of looping forever.
"""
from __future__ import annotations

from typing import Any, Callable, Iterator, Mapping

from .errors import PaginationError, Problem, ValidationError

__all__ = ["Paginator", "STYLES", "CursorStyle", "PageTokenStyle", "SingleStyle", "read_checkpoint"]


def _items(body: Any, field: str) -> list[Any]:
    items = body.get(field) if isinstance(body, Mapping) else None
    return items if isinstance(items, list) else []


def _unvisited(seen: set[Any], current: Any, cursor: Any, noun: str) -> Any:
    """`cursor`, unless the walk already fetched a page with it: a server that cycles would loop forever.

    `seen` holds the cursor of every page fetched so far, `current` included,
    so it grows by one a page, and a resumed walk counts its starting cursor.
    """
    if not isinstance(cursor, str):  # an object or a list has no place in a query string (nor in a set)
        raise PaginationError(f"the server gave a {noun} that is not text: {cursor!r}")
    if current is not None:
        seen.add(current)
    if cursor in seen:
        raise PaginationError(f"the server repeated the {noun} {cursor!r}: stopping instead of looping")
    return cursor


class CursorStyle:
    """`after`/`before` cursors: object ids, with `has_more` and `last_id`/`first_id`."""

    def __init__(self, spec: Mapping[str, Any]) -> None:
        self.items = spec["items"]
        self.param = spec["cursor_param"]
        self.reverse_param = spec.get("reverse_param")
        self.next_field = spec.get("next_cursor")
        self.prev_field = spec.get("prev_cursor")
        self.item_id = spec["item_id"]
        self.has_more = spec.get("has_more")

    def direction(self, params: Mapping[str, Any]) -> tuple[str, str | None]:
        if self.reverse_param and self.reverse_param in params and self.param not in params:
            return self.reverse_param, self.prev_field
        return self.param, self.next_field

    def next_params(self, params: dict[str, Any], body: Any, items: list[Any],
                    seen: set[Any]) -> dict[str, Any] | None:
        more = body.get(self.has_more) if self.has_more and isinstance(body, Mapping) else None
        if more is False or not items:
            if more is True:
                raise PaginationError("the server sent an empty page but says there is more")
            return None
        param, field = self.direction(params)
        cursor = body.get(field) if field and isinstance(body, Mapping) else None
        if not cursor:
            edge = items[0] if param == self.reverse_param else items[-1]
            cursor = edge.get(self.item_id) if isinstance(edge, Mapping) else None
        if not cursor:
            if more is True:
                raise PaginationError("the server says there is more but gave no cursor to continue from")
            return None
        return {**params, param: _unvisited(seen, params.get(param), cursor, "cursor")}

    def checkpoint(self, params: Mapping[str, Any], item: Any) -> tuple[dict[str, Any], int] | None:
        """Resume right after `item`: its id is itself a cursor."""
        ident = item.get(self.item_id) if isinstance(item, Mapping) else None
        if not ident:
            return None
        param, _ = self.direction(params)
        return {**params, param: ident}, 0


class PageTokenStyle:
    """Opaque page tokens: `page` <- `next_page` (usage and costs)."""

    def __init__(self, spec: Mapping[str, Any]) -> None:
        self.items = spec["items"]
        self.param = spec["token_param"]
        self.next_field = spec["next_token"]
        self.has_more = spec.get("has_more")

    def next_params(self, params: dict[str, Any], body: Any, items: list[Any],
                    seen: set[Any]) -> dict[str, Any] | None:
        more = body.get(self.has_more) if self.has_more and isinstance(body, Mapping) else None
        token = body.get(self.next_field) if isinstance(body, Mapping) else None
        if more is False or not token or not items:
            if more is True:
                raise PaginationError("the server says there is more but gave no page token" if not token
                                      else "the server sent an empty page but says there is more")
            return None
        return {**params, self.param: _unvisited(seen, params.get(self.param), token, "page token")}

    def checkpoint(self, params: Mapping[str, Any], item: Any) -> None:
        return None


class SingleStyle:
    """A list that comes whole in one answer."""

    def __init__(self, spec: Mapping[str, Any]) -> None:
        self.items = spec["items"]

    def next_params(self, params: dict[str, Any], body: Any, items: list[Any], seen: set[Any]) -> None:
        return None

    def checkpoint(self, params: Mapping[str, Any], item: Any) -> None:
        return None


STYLES: dict[str, type] = {"cursor": CursorStyle, "page_token": PageTokenStyle, "single": SingleStyle}


def read_checkpoint(resume: Any, action: str | None) -> tuple[dict[str, Any], int]:
    """The params and skip count of a `resume=` checkpoint, or `ValidationError` saying what is wrong.

    Checkpoints come from files, so anything may arrive; one saved by a walk of
    another action would fetch that action's cursor from this one's list.
    """
    def refuse(why: str) -> ValidationError:
        return ValidationError(action or "paginate", [Problem("resume", "checkpoint", why)])

    if not isinstance(resume, Mapping):
        raise refuse(f"a checkpoint is a mapping (as `walk.checkpoint` gives), not {type(resume).__name__}")
    missing = [key for key in ("action", "params", "skip") if key not in resume]
    if missing:
        raise refuse(f"not a checkpoint: it has no {', '.join(missing)}")
    if resume["action"] != action:
        theirs = resume["action"][:100] if isinstance(resume["action"], str) else type(resume["action"]).__name__
        raise refuse(f"the checkpoint is from a walk of {theirs!r}, not of {action!r}")
    params, skip = resume["params"], resume["skip"]
    if not isinstance(params, Mapping) or not all(isinstance(k, str) for k in params):
        raise refuse("the checkpoint's params are not a mapping of names to values")
    if not isinstance(skip, int) or isinstance(skip, bool) or skip < 0:
        raise refuse(f"the checkpoint's skip is not a count of items: {skip!r}"[:200])
    return dict(params), skip


class Paginator:
    """Iterates the items of every page, fetching each page only when it is needed.

    `checkpoint` says where the walk stands: pass it back as `resume=` to
    continue in another process without fetching any item twice. It names its
    action, and a checkpoint of another action is refused.
    """

    def __init__(self, fetch: Callable[[dict[str, Any]], Any], style: Any, params: Mapping[str, Any], *,
                 max_items: int | None = None, max_pages: int | None = None,
                 resume: Mapping[str, Any] | None = None, action: str | None = None) -> None:
        self._fetch = fetch
        self.action = action
        self._style = style
        self._params, self._skip = read_checkpoint(resume, action) if resume is not None else (dict(params), 0)
        self.max_items, self.max_pages = max_items, max_pages
        self.pages = 0
        self.items = 0
        self._page_params: dict[str, Any] = dict(self._params)
        self._in_page = self._skip
        self._last: Any = None
        self._iter = self._walk()

    @property
    def checkpoint(self) -> dict[str, Any]:
        """Params (and items to skip) that continue the walk after the last item yielded."""
        if self._last is not None:
            mark = self._style.checkpoint(self._page_params, self._last)
            if mark is not None:
                return {"action": self.action, "params": mark[0], "skip": mark[1]}
        return {"action": self.action, "params": dict(self._page_params), "skip": self._in_page}

    def __iter__(self) -> "Paginator":
        return self

    def __next__(self) -> Any:
        return next(self._iter)

    def _walk(self) -> Iterator[Any]:
        params: dict[str, Any] | None = self._params
        skip = self._skip
        seen: set[Any] = set()
        while params is not None:
            if self.max_pages is not None and self.pages >= self.max_pages:
                return
            if self.max_items is not None and self.items >= self.max_items:
                return  # before fetching: a page whose items would all be thrown away costs a request
            body = self._fetch(params)
            self.pages += 1
            items = _items(body, self._style.items)
            self._page_params, self._in_page, self._last = params, skip, None
            for item in items[skip:]:
                if self.max_items is not None and self.items >= self.max_items:
                    return
                self.items += 1
                self._in_page += 1
                self._last = item
                yield item
            skip = 0
            try:
                params = self._style.next_params(params, body, items, seen)
            except PaginationError as exc:  # styles know the rule that broke, the walk knows its action
                raise PaginationError(exc.message, action=self.action) from None
            if params is not None:
                self._page_params, self._in_page, self._last = params, 0, None
