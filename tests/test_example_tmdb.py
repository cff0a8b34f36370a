"""The TMDB v3 example connector (examples/tmdb.yaml) end to end, against its loopback server.

What it shows: an `api_key` query credential, numbered pages walked to `total_pages` (and
never past page 500, the last one TMDB serves), an empty page ending a walk, a page without
`results` raised rather than cut short, the `{"status_code", "status_message"}` error body,
a 429 waited out by its Retry-After, dotted wire names and comma/pipe lists, and a JSON body.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

import engine
from examples_support import cli_runner, engines, server_module

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = str(ROOT / "examples" / "tmdb.yaml")
KEY = "tmdb-SECRET-key-0123456789abcdef"
servers = server_module("tmdb")
run_cli = cli_runner("--manifest", MANIFEST)


@pytest.fixture
def api():
    with servers.TMDBServer(api_key=KEY, movies=60) as server:
        yield server


@pytest.fixture
def connect(api, monkeypatch):
    """Engines on the loopback server; retry waits are recorded in `.waits` instead of slept."""
    monkeypatch.delenv("TMDB_API_KEY", raising=False)
    monkeypatch.delenv("TMDB_BASE_URL", raising=False)
    yield from engines(MANIFEST, api.url + "/3", api_key=KEY)


def test_the_key_goes_in_the_api_key_query_param(api, connect):
    movie = connect().run("movie.details", {"movie_id": 105, "append_to_response": ["credits", "videos"],
                                            "language": "en-US"})
    assert movie["title"] == "Movie 5" and movie["credits"]["crew"][0]["job"] == "Director"
    (req,) = api.requests
    assert req.path == "/3/movie/105"
    assert req.query == {"api_key": [KEY], "append_to_response": ["credits,videos"], "language": ["en-US"]}
    assert "authorization" not in req.headers


def test_a_walk_of_three_pages_makes_exactly_three_requests(api, connect):
    titles = [m["title"] for m in connect().paginate("search.movie", {"query": "movie"})]
    assert titles == [f"Movie {i}" for i in range(60)]
    assert [r.one("page") for r in api.requests] == [None, "2", "3"]
    assert all(r.one("query") == "movie" and r.one("api_key") == KEY for r in api.requests)


def test_an_empty_page_ends_the_walk(api, connect):
    """The server said 5 pages but ran out after one (the list changed): the walk ends, it does not loop."""
    api.movies = api.movies[:20]
    api.total_pages = 5
    assert len(list(connect().paginate("movie.popular"))) == 20
    assert [r.one("page") for r in api.requests] == [None, "2"]


def test_a_search_without_results_is_one_empty_page(api, connect):
    assert list(connect().paginate("search.movie", {"query": "no such film"})) == []
    assert len(api.requests) == 1


def test_a_page_without_results_is_a_pagination_error(api, connect):
    api.pages[2] = {"page": 2, "total_pages": 3, "total_results": 60}
    walk = connect().paginate("movie.popular")
    got = []
    with pytest.raises(engine.PaginationError, match="results"):
        for movie in walk:
            got.append(movie)
    assert len(got) == 20 and len(api.requests) == 2


def test_walks_stop_at_page_500_whatever_total_pages_says(api, connect):
    for number in (499, 500):
        api.pages[number] = {"page": number, "results": api.movies[:20], "total_pages": 800, "total_results": 16000}
    movies = list(connect().paginate("trending.movie", {"time_window": "week", "page": 499}))
    assert [r.one("page") for r in api.requests] == ["499", "500"]
    assert len(movies) == 40


def test_a_page_above_500_is_refused_before_sending(api, connect):
    with pytest.raises(engine.ValidationError) as info:
        connect().run("movie.popular", {"page": 501})
    assert [p.param for p in info.value.problems] == ["page"]
    assert api.requests == []


def test_the_server_refusal_of_a_page_maps_its_status_code(api, connect):
    with pytest.raises(engine.BadRequestError) as info:
        connect().run("movie.popular", extra_query={"page": 501})
    assert info.value.code == 22
    assert info.value.message.startswith("HTTP 400: Invalid page: Pages start at 1 and max at 500.")


def test_a_429_is_waited_out_by_its_retry_after_then_succeeds(api, connect):
    api.fail_next(*servers.rate_limited(retry_after=1))
    eng = connect()
    page = eng.run("movie.popular", {"page": 2})
    assert page["page"] == 2 and len(page["results"]) == 20
    assert len(api.requests) == 2 and eng.waits == [1.0]
    assert api.requests[1].query == api.requests[0].query


def test_a_bad_key_is_a_401_with_the_api_message_and_code(api, connect):
    with pytest.raises(engine.AuthenticationError) as info:
        connect(api_key="tmdb-wrong-key-999999").run("search.movie", {"query": "x"})
    err = info.value
    assert err.status_code == 401 and err.code == 7
    assert err.message == "HTTP 401: Invalid API key: You must be granted a valid key."
    assert "tmdb-wrong-key-999999" not in str(err) + repr(err) + repr(err.body)


def test_an_unknown_movie_is_a_404_with_code_34(api, connect):
    with pytest.raises(engine.NotFoundError) as info:
        connect().run("movie.credits", {"movie_id": 99999})
    assert info.value.code == 34 and info.value.message == "HTTP 404: The resource you requested could not be found."


def test_discover_sends_dotted_names_and_lists_as_tmdb_reads_them(api, connect):
    eng = connect()
    page = eng.run("discover.movie", {"with_genres": "28|35", "vote_average_gte": 7.5, "include_adult": False,
                                      "sort_by": "vote_average.desc", "primary_release_date_gte": "2000-01-01",
                                      "with_watch_monetization_types": ["flatrate", "free"], "watch_region": "DE"})
    assert page["results"] and all(m["vote_average"] >= 7.5 and m["genre_ids"][0] in (28, 35)
                                   for m in page["results"])
    sent = api.requests[0].query
    assert sent["with_genres"] == ["28|35"] and sent["vote_average.gte"] == ["7.5"]
    assert sent["include_adult"] == ["false"] and sent["primary_release_date.gte"] == ["2000-01-01"]
    assert sent["with_watch_monetization_types"] == ["flatrate|free"] and sent["watch_region"] == ["DE"]
    with pytest.raises(engine.ValidationError):
        eng.run("discover.movie", {"with_genres": "28;35"})
    assert len(api.requests) == 1


def test_rating_a_movie_sends_a_json_body(api, connect):
    eng = connect()
    first = eng.run("movie.rating.add", {"movie_id": 101, "value": 8.5, "guest_session_id": "guest-1"})
    again = eng.run("movie.rating.add", {"movie_id": 101, "value": 9, "guest_session_id": "guest-1"})
    assert first == {"status_code": 1, "status_message": "Success.", "success": True}
    assert again["status_code"] == 12 and api.ratings == {101: 9}
    req = api.requests[0]
    assert req.method == "POST" and req.headers["content-type"].startswith("application/json")
    assert json.loads(req.body) == {"value": 8.5}
    assert req.query == {"api_key": [KEY], "guest_session_id": ["guest-1"]}
    with pytest.raises(engine.AuthenticationError) as info:
        eng.run("movie.rating.add", {"movie_id": 101, "value": 7})
    assert info.value.code == 3
    with pytest.raises(engine.ValidationError):
        eng.run("movie.rating.add", {"movie_id": 101, "value": 8.3})
    assert len(api.requests) == 3
    gone = eng.run("movie.rating.delete", {"movie_id": 101, "guest_session_id": "guest-1"})
    assert gone["status_code"] == 13 and api.ratings == {}
    assert api.requests[3].method == "DELETE" and api.requests[3].body == b""


def test_the_genre_list_is_a_single_page(api, connect):
    assert [g["name"] for g in connect().paginate("genre.movie.list")] == ["Action", "Comedy", "Drama"]
    assert len(api.requests) == 1


def test_cli_lists_describes_dry_runs_and_walks(api, monkeypatch):
    monkeypatch.setenv("TMDB_API_KEY", KEY)  # read only when allowed: the manifest is not bundled
    code, out, _ = run_cli("actions")
    assert code == 0
    for name in ("search.movie", "movie.details", "movie.popular", "discover.movie"):
        assert name in out
    code, out, _ = run_cli("describe", "discover.movie")
    assert code == 0 and "vote_average_gte" in out
    code, out, err = run_cli("--base-url", api.url + "/3", "run", "search.movie", "-p", "query=dune", "--dry-run")
    assert code == 0 and "/3/search/movie" in out and "api_key=" in out and KEY not in out + err
    assert api.requests == []
    code, out, err = run_cli("--allow-env", "TMDB_API_KEY", "--base-url", api.url + "/3", "run", "movie.popular",
                             "--all", "--max-items", "25")
    assert code == 0, err
    assert [json.loads(line)["id"] for line in out.splitlines() if line.strip()] == list(range(100, 125))
    assert [r.one("page") for r in api.requests] == [None, "2"]
