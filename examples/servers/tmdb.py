"""A loopback stand-in for The Movie Database API v3 (api.themoviedb.org/3), for tests and demos.

It plays what TMDB documents: the v3 key in the `api_key` query param, 401 with `{"status_code": 7, "status_message":
"Invalid API key: You must be granted a valid key.", "success": false}` without it,
numbered pages of 20 (`{page, results, total_pages, total_results}`, page 1..500, a page
past the last one empty), 400 with status_code 22 for a page above 500, 404 with
status_code 34, and 429 with `Retry-After` (status_code 25) when `fail_next` queues it.

    with TMDBServer(api_key="k", movies=60) as api:
        engine.Engine(manifest="examples/tmdb.yaml", base_url=api.url + "/3", api_key="k")

Only 127.0.0.1, an ephemeral port; `stop()` (or the end of the `with`) joins its thread.
"""
from __future__ import annotations

import json
import math
import re
from typing import Any

from ._base import Injected, LoopbackServer, Request

PAGE_SIZE = 20
GENRES = ({"id": 28, "name": "Action"}, {"id": 35, "name": "Comedy"}, {"id": 18, "name": "Drama"})
INVALID_KEY = {"status_code": 7, "status_message": "Invalid API key: You must be granted a valid key.",
               "success": False}
NOT_FOUND = {"status_code": 34, "status_message": "The resource you requested could not be found.", "success": False}
INVALID_PAGE = {"status_code": 22, "status_message": "Invalid page: Pages start at 1 and max at 500. "
                                                     "They are expected to be an integer.", "success": False}


def rate_limited(retry_after: int = 1) -> tuple[int, Any, dict[str, str]]:
    """The 429 TMDB answers above its request rate (for `fail_next`)."""
    return 429, {"status_code": 25, "status_message": "Your request count (51) is over the allowed limit of (50).",
                 "success": False}, {"Retry-After": str(retry_after)}


class TMDBServer(LoopbackServer):
    """The API's documented behaviour over `movies` made-up movies, under the prefix `/3`.

    `total_pages` overrides the count the server reports (a list that changes while it is
    walked); `pages` replaces whole page bodies by number (a malformed page);
    `fail_next(status, body, headers)` queues an answer given before the next normal one.
    """

    methods = ("GET", "POST", "DELETE")
    content_type = "application/json;charset=utf-8"

    def __init__(self, api_key: str = "tmdb-test-key-0123456789abcdef", *, movies: int = 60,
                 total_pages: int | None = None) -> None:
        super().__init__()
        self.api_key = api_key
        self.movies = [{"id": 100 + i, "title": f"Movie {i}", "original_title": f"Movie {i}",
                        "original_language": "en", "overview": f"The story of movie {i}.",
                        "release_date": f"{1990 + i % 30}-0{1 + i % 9}-15", "genre_ids": [GENRES[i % 3]["id"]],
                        "popularity": round(1000 / (i + 1), 3), "vote_average": round(5 + (i % 50) / 10, 1),
                        "vote_count": 10 * i, "adult": False, "video": False,
                        "poster_path": f"/poster{i}.jpg", "backdrop_path": f"/backdrop{i}.jpg"}
                       for i in range(movies)]
        self.total_pages = total_pages
        self.pages: dict[int, Any] = {}
        self.ratings: dict[int, float] = {}
        self._faults: Injected[tuple[int, Any, dict[str, str]]] = Injected()

    def fail_next(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        self._faults.add((status, body, dict(headers or {})))

    # -- the API --------------------------------------------------------------
    def answer(self, req: Request) -> tuple[int, Any, dict[str, str]]:
        fault = self._faults.take()
        if fault is not None:
            return fault
        if req.one("api_key") != self.api_key:
            return 401, INVALID_KEY, {}
        if not req.path.startswith("/3/"):
            return 404, NOT_FOUND, {}
        status, body = self._route(req, req.path[2:])
        return status, body, {}

    def _route(self, req: Request, path: str) -> tuple[int, Any]:
        if req.method == "GET" and path == "/search/movie":
            query = (req.one("query") or "").lower()
            return self._page(req, [m for m in self.movies if query in m["title"].lower()])
        if req.method == "GET" and path in ("/movie/popular", "/trending/movie/day", "/trending/movie/week"):
            return self._page(req, self.movies)
        if req.method == "GET" and path == "/discover/movie":
            found = self.movies
            genres = req.one("with_genres")
            if genres:  # commas: every genre (AND); pipes: any of them (OR)
                wanted = {int(g) for g in re.split(r"[,|]", genres)}
                test = wanted.issubset if "," in genres else wanted.intersection
                found = [m for m in found if test(m["genre_ids"])]
            floor = req.one("vote_average.gte")
            if floor:
                found = [m for m in found if m["vote_average"] >= float(floor)]
            if req.one("sort_by") == "vote_average.desc":
                found = sorted(found, key=lambda m: -m["vote_average"])
            return self._page(req, found)
        if req.method == "GET" and path == "/genre/movie/list":
            return 200, {"genres": list(GENRES)}
        m = re.fullmatch(r"/movie/(\d+)(/credits|/rating|/recommendations)?", path)
        movie = next((x for x in self.movies if m and x["id"] == int(m.group(1))), None)
        if m is None or movie is None:
            return 404, NOT_FOUND
        tail = m.group(2)
        if tail is None and req.method == "GET":
            details = {**{k: v for k, v in movie.items() if k != "genre_ids"},
                       "genres": [g for g in GENRES if g["id"] in movie["genre_ids"]], "runtime": 90 + movie["id"] % 60,
                       "status": "Released", "tagline": "", "imdb_id": f"tt{movie['id']:07d}"}
            for extra in (req.one("append_to_response") or "").split(","):
                if extra == "credits":
                    details["credits"] = self._credits(movie)
                elif extra == "videos":
                    details["videos"] = {"results": []}
            return 200, details
        if tail == "/credits" and req.method == "GET":
            return 200, {"id": movie["id"], **self._credits(movie)}
        if tail == "/recommendations" and req.method == "GET":
            return self._page(req, [x for x in self.movies if x["id"] != movie["id"]])
        if tail == "/rating" and req.method in ("POST", "DELETE"):
            if not req.one("guest_session_id") and not req.one("session_id"):
                return 401, {"status_code": 3, "status_message": "Authentication failed: You do not have "
                                                                 "permissions to access the service.", "success": False}
            if req.method == "DELETE":
                self.ratings.pop(movie["id"], None)
                return 200, {"status_code": 13, "status_message": "The item/record was deleted successfully.",
                             "success": True}
            try:
                value = json.loads(req.body)["value"]
            except (ValueError, KeyError, TypeError):
                return 400, {"status_code": 18, "status_message": "Validation failed.", "success": False}
            updated = movie["id"] in self.ratings
            self.ratings[movie["id"]] = value
            return 201, {"status_code": 12 if updated else 1, "success": True,
                         "status_message": "The item/record was updated successfully." if updated else "Success."}
        return 404, NOT_FOUND

    def _page(self, req: Request, found: list[Any]) -> tuple[int, Any]:
        try:
            number = int(req.one("page") or 1)
        except ValueError:
            return 400, INVALID_PAGE
        if not 1 <= number <= 500:
            return 400, INVALID_PAGE
        if number in self.pages:
            return 200, self.pages[number]
        start = (number - 1) * PAGE_SIZE
        total_pages = self.total_pages if self.total_pages is not None else math.ceil(len(found) / PAGE_SIZE)
        return 200, {"page": number, "results": found[start:start + PAGE_SIZE], "total_pages": total_pages,
                     "total_results": len(found) if self.total_pages is None else total_pages * PAGE_SIZE}

    @staticmethod
    def _credits(movie: dict[str, Any]) -> dict[str, Any]:
        return {"cast": [{"id": 1, "name": "Ann Actor", "character": "Lead", "order": 0}],
                "crew": [{"id": 2, "name": "Dan Director", "job": "Director", "department": "Directing"}]}
