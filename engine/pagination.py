"""The page walk: fetch a page, hand out its items, ask the action's paginator what comes next.

The paginators themselves are components (`engine.components.paging`): they read a
page and say what to fetch next, or that the walk is over. This walk is the same for
all of them, and is bounded: a cursor the walk already followed (a cycle of any
length), a page that is empty yet claims more, or a page without its declared items
ends it with `PaginationError` naming the action, never with a short result.
"""
from __future__ import annotations

from typing import Any, Callable, Iterator, Mapping

from .components.paging import Page, PageRequest
from .errors import PaginationError, Problem, ValidationError

__all__ = ["Paginator", "read_checkpoint"]


def read_checkpoint(resume: Any, action: str | None) -> PageRequest:
    """The page request and skip count of a `resume=` checkpoint, or `ValidationError` saying what is wrong.

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
    inject, url = resume.get("inject", {}), resume.get("url")
    if not isinstance(inject, Mapping) or not set(inject) <= {"query", "body", "header"} \
            or not all(isinstance(v, Mapping) for v in inject.values()):
        raise refuse("the checkpoint's inject is not a mapping of query/body/header fields")
    if url is not None and not isinstance(url, str):
        raise refuse("the checkpoint's url is not text")
    return PageRequest(params, inject, url), skip


class Paginator:
    """Iterates the items of every page, fetching each page only when it is needed.

    `checkpoint` says where the walk stands: pass it back as `resume=` to
    continue in another process without fetching any item twice. It names its
    action, and a checkpoint of another action is refused.
    """

    def __init__(self, fetch: Callable[[PageRequest, int], Page], style: Any, params: Mapping[str, Any], *,
                 max_items: int | None = None, max_pages: int | None = None,
                 resume: Mapping[str, Any] | None = None, action: str | None = None) -> None:
        self._fetch = fetch
        self.action = action
        self._style = style
        if resume is not None:
            self._start, self._skip = read_checkpoint(resume, action)
        else:
            self._start, self._skip = style.first(params), 0
        self.max_items, self.max_pages = max_items, max_pages
        self.pages = 0
        self.items = 0
        self._page = self._start
        self._in_page = self._skip
        self._last: Any = None
        self._iter = self._walk()

    @property
    def checkpoint(self) -> dict[str, Any]:
        """Where to continue after the last item yielded: plain JSON, for `resume=`."""
        if self._last is not None:
            mark = self._style.checkpoint(self._page, self._last)
            if mark is not None:
                return {"action": self.action, **mark[0].to_json(), "skip": mark[1]}
        return {"action": self.action, **self._page.to_json(), "skip": self._in_page}

    def __iter__(self) -> "Paginator":
        return self

    def __next__(self) -> Any:
        return next(self._iter)

    def _walk(self) -> Iterator[Any]:
        request: PageRequest | None = self._start
        skip = self._skip
        seen: set[Any] = set()
        while request is not None:
            if self.max_pages is not None and self.pages >= self.max_pages:
                return
            if self.max_items is not None and self.items >= self.max_items:
                return  # before fetching: a page whose items would all be thrown away costs a request
            page = self._fetch(request, self.pages + 1)
            self.pages += 1
            try:
                items = self._style.items(page)
            except PaginationError as exc:
                raise PaginationError(exc.message, action=self.action) from None
            self._page, self._in_page, self._last = request, skip, None
            for item in items[skip:]:
                if self.max_items is not None and self.items >= self.max_items:
                    return
                self.items += 1
                self._in_page += 1
                self._last = item
                yield item
            skip = 0
            try:
                request = self._style.next(request, page, items, seen)
            except PaginationError as exc:  # paginators know the rule that broke, the walk knows its action
                raise PaginationError(exc.message, action=self.action) from None
            if request is not None:
                self._page, self._in_page, self._last = request, 0, None
