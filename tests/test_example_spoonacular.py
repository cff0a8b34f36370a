"""The spoonacular example connector (examples/spoonacular.yaml) end to end, against its loopback server.

What it shows: a key in the query string that never shows (errors, reprs, logs, dry runs),
offset paging until `totalResults` (also when the server serves fewer than asked), a
top-level list answer, a form body, the `{"status": "failure", "code", "message"}` error
body, and a used-up daily quota (402) raised at once, never retried.
"""
from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import parse_qs

import pytest

import engine
from examples_support import cli_runner, engines, server_module

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = str(ROOT / "examples" / "spoonacular.yaml")
KEY = "spoon-SECRET-key-0123456789abcdef"
servers = server_module("spoonacular")
run_cli = cli_runner("--manifest", MANIFEST)


@pytest.fixture
def api():
    with servers.SpoonacularServer(api_key=KEY, recipes=120) as server:
        yield server


@pytest.fixture
def connect(api, monkeypatch):
    """Engines on the loopback server; retry waits are recorded in `.waits` instead of slept."""
    monkeypatch.delenv("SPOONACULAR_API_KEY", raising=False)
    monkeypatch.delenv("SPOONACULAR_BASE_URL", raising=False)
    yield from engines(MANIFEST, api.url, api_key=KEY)


def test_the_key_goes_in_the_query_and_nowhere_else(api, connect):
    recipe = connect().run("recipes.information", {"id": 1004, "includeNutrition": False})
    assert recipe["title"] == "Tacos no. 4" and recipe["extendedIngredients"]
    (req,) = api.requests
    assert req.path == "/recipes/1004/information"
    assert req.query == {"apiKey": [KEY], "includeNutrition": ["false"]}
    assert not any(KEY in v for v in req.headers.values())


def test_complex_search_walks_120_results_in_three_pages_of_50(api, connect):
    ids = [r["id"] for r in connect().paginate("recipes.complex_search", {"number": 50})]
    assert ids == list(range(1000, 1120))
    assert [(r.one("offset"), r.one("number")) for r in api.requests] == [(None, "50"), ("50", "50"), ("100", "50")]


def test_the_page_size_defaults_to_the_api_maximum(api, connect):
    assert len(list(connect().paginate("recipes.complex_search"))) == 120
    assert [(r.one("offset"), r.one("number")) for r in api.requests] == [(None, "100"), ("100", "100")]


def test_a_server_serving_50_when_100_are_asked_loses_nothing(api, connect):
    api.max_number = 50
    ids = [r["id"] for r in connect().paginate("recipes.complex_search", {"number": 100})]
    assert ids == list(range(1000, 1120))
    assert [r.one("offset") for r in api.requests] == [None, "50", "100"]


def test_filters_go_on_the_wire_as_the_api_spells_them(api, connect):
    page = connect().run("recipes.complex_search", {"query": "pasta", "cuisine": ["italian", "french"],
                                                     "diet": "vegetarian", "intolerances": ["gluten", "tree nut"],
                                                     "number": 5})
    assert page["totalResults"] == 40 and len(page["results"]) == 5
    assert page["results"][0] == {"id": 1000, "title": "Pasta no. 0", "imageType": "jpg",
                                  "image": "https://img.spoonacular.com/recipes/1000-312x231.jpg"}
    sent = api.requests[0].query
    assert sent["cuisine"] == ["italian,french"] and sent["intolerances"] == ["gluten,tree nut"]
    assert sent["query"] == ["pasta"] and sent["diet"] == ["vegetarian"] and sent["number"] == ["5"]


def test_ingredient_search_pages_by_offset_too(api, connect):
    names = [i["name"] for i in connect().paginate("food.ingredients.search", {"query": "e", "number": 4})]
    assert names == ["apple", "butter", "cheddar cheese", "chicken breast", "olive oil", "pineapple"]
    assert [r.one("offset") for r in api.requests] == [None, "4"]


def test_search_by_ingredients_answers_a_top_level_list(api, connect):
    eng = connect()
    hits = eng.run("recipes.search_by_ingredients", {"ingredients": ["pineapple", "flour"], "number": 3,
                                                      "ranking": 2, "ignorePantry": True})
    assert isinstance(hits, list) and len(hits) == 3 and hits[0]["usedIngredientCount"] == 1
    assert api.requests[0].query["ingredients"] == ["pineapple,flour"]
    assert api.requests[0].query["ignorePantry"] == ["true"]
    walked = list(eng.paginate("recipes.search_by_ingredients", {"ingredients": ["pineapple"], "number": 100}))
    assert [h["id"] for h in walked] == [r["id"] for r in (api.recipes[i] for i in range(120))
                                         if "pineapple" in r["ingredients"]]
    assert len(api.requests) == 2


def test_parse_ingredients_sends_a_form(api, connect):
    parsed = connect().run("recipes.parse_ingredients", {"ingredientList": "1 cup flour\n2 tbsp olive oil",
                                                          "servings": 2, "language": "en"})
    assert [(p["amount"], p["unit"], p["name"]) for p in parsed] == [(1.0, "cup", "flour"),
                                                                     (2.0, "tbsp", "olive oil")]
    (req,) = api.requests
    assert req.headers["content-type"].startswith("application/x-www-form-urlencoded")
    assert parse_qs(req.body.decode()) == {"ingredientList": ["1 cup flour\n2 tbsp olive oil"], "servings": ["2"]}
    assert req.query == {"apiKey": [KEY], "language": ["en"]}


def test_params_are_checked_before_anything_is_sent(api, connect):
    with pytest.raises(engine.ValidationError) as info:
        connect().run("recipes.complex_search", {"number": 101, "cuisine": ["martian"], "offset": 901})
    assert sorted(p.param for p in info.value.problems) == ["cuisine[0]", "number", "offset"]
    assert api.requests == []


def test_a_bad_key_is_a_401_with_the_api_message(api, connect):
    with pytest.raises(engine.AuthenticationError) as info:
        connect(api_key="not-the-right-key-123").run("recipes.information", {"id": 1000})
    err = info.value
    assert err.status_code == 401 and err.code == 401
    assert err.message == "HTTP 401: " + servers.UNAUTHORIZED
    assert len(api.requests) == 1


def test_a_missing_key_is_refused_before_sending(api, connect):
    with pytest.raises(engine.MissingCredentialError) as info:
        connect(api_key=None).run("recipes.information", {"id": 1000})
    assert "SPOONACULAR_API_KEY" in str(info.value)
    assert api.requests == []


def test_a_used_up_quota_is_a_402_raised_at_once(api, connect):
    api.quota = 2
    eng = connect()
    eng.run("recipes.information", {"id": 1000})
    eng.run("recipes.information", {"id": 1001})
    with pytest.raises(engine.APIStatusError) as info:
        eng.run("recipes.information", {"id": 1002})
    err = info.value
    assert err.status_code == 402 and err.code == 402
    assert err.message == ("HTTP 402: Your daily points limit of 2 has been reached. Please upgrade your plan to "
                           "continue using the API. (not retried: the daily points are used up until midnight UTC)")
    assert len(api.requests) == 3 and eng.waits == []


def test_a_rate_limit_429_is_retried_with_backoff(api, connect):
    api.fail_next(429, {"status": "failure", "code": 429, "message": "You are not allowed to make more than "
                                                                     "1 requests per second."})
    eng = connect()
    assert eng.run("recipes.information", {"id": 1000})["id"] == 1000
    assert len(api.requests) == 2 and eng.waits == [0.5]


def test_quota_headers_are_shown_as_rate_limits(api, connect):
    result = connect().run("recipes.complex_search", {"number": 10}, raw=True)
    assert result.rate_limits == {"x-api-quota-request": "1.1", "x-api-quota-used": "1.1",
                                  "x-api-quota-left": "148.9"}


def test_a_404_maps_the_api_message(api, connect):
    with pytest.raises(engine.NotFoundError) as info:
        connect().run("recipes.information", {"id": 5})
    assert info.value.message == "HTTP 404: A recipe with the id 5 does not exist." and info.value.code == 404


def test_the_key_never_shows(api, connect, caplog):
    """Not in errors (message, str, repr, body), reprs, the engine's logs or dry runs, even when echoed."""
    caplog.set_level(logging.DEBUG, logger="engine")
    wrong = KEY[:-1] + "X"
    eng = connect()
    api.fail_next(400, {"status": "failure", "code": 400,
                        "message": f"Bad request to /recipes/complexSearch?apiKey={KEY}&number=0"})
    with pytest.raises(engine.BadRequestError) as echoed:
        eng.run("recipes.complex_search", {"query": "x"})
    with pytest.raises(engine.AuthenticationError) as refused:
        connect(api_key=wrong).run("recipes.complex_search", {"query": "y"})
    assert "apiKey=" in echoed.value.message
    logged = [r.getMessage() for r in caplog.records if r.name.startswith("engine")]
    assert any("recipes.complex_search" in line for line in logged)
    texts = [repr(eng), eng.prepare("recipes.complex_search", {"query": "z"}, redact=True).url, *logged]
    for err in (echoed.value, refused.value):
        texts += [err.message, str(err), repr(err), repr(err.body), repr(err.headers)]
    code, out, err = run_cli("--base-url", api.url, "run", "recipes.complex_search", "-p", "query=pasta",
                             "--dry-run")
    assert code == 0 and "apiKey=" in out
    texts += [out, err]
    for text in texts:
        assert KEY not in text and wrong not in text


def test_cli_lists_describes_and_walks(api, monkeypatch):
    monkeypatch.setenv("SPOONACULAR_API_KEY", KEY)  # read only when allowed: the manifest is not bundled
    code, out, _ = run_cli("actions")
    assert code == 0
    for name in ("recipes.complex_search", "recipes.information", "recipes.search_by_ingredients",
                 "food.ingredients.search"):
        assert name in out
    code, out, _ = run_cli("describe", "recipes.complex_search")
    assert code == 0 and "cuisine" in out and "offset" in out
    code, out, err = run_cli("--allow-env", "SPOONACULAR_API_KEY", "--base-url", api.url, "run", "food.ingredients.search", "-p", "query=ch",
                             "-p", "number=1", "--all")
    assert code == 0, err
    assert [line for line in out.splitlines() if line.strip()] == [
        '{"id": 9004, "name": "cheddar cheese", "image": "cheddar-cheese.jpg"}',
        '{"id": 9005, "name": "chicken breast", "image": "chicken-breast.jpg"}']
    assert KEY not in out + err
