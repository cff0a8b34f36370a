"""A loopback stand-in for the spoonacular food API (api.spoonacular.com), for tests and demos.

It plays what spoonacular documents: the key in the `apiKey` query param (or the
`x-api-key` header), 401 with `{"status": "failure", "code": 401, "message": ...}`
without it, a daily quota of points reported in `X-API-Quota-Request`, `-Used` and
`-Left` on every answer and a 402 once it is used up, offset/number paging with
`{results, offset, number, totalResults}` (number 1..100, default 10), and the
top-level-array answers of findByIngredients and informationBulk.

    with SpoonacularServer(api_key="k", recipes=120) as api:
        engine.Engine(manifest="examples/spoonacular.yaml", base_url=api.url, api_key="k")

Only 127.0.0.1, an ephemeral port; `stop()` (or the end of the `with`) joins its thread.
"""
from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs

from ._base import Injected, LoopbackServer, Request

KINDS = (("Pasta", "italian", "vegetarian"), ("Tacos", "mexican", "gluten free"), ("Curry", "thai", "vegan"))
INGREDIENTS = ("apple", "banana", "butter", "carrot", "cheddar cheese", "chicken breast", "flour",
               "garlic", "olive oil", "onion", "pineapple", "tomato")
UNAUTHORIZED = "You are not authorized. Please read https://spoonacular.com/food-api/docs#Authentication"


class SpoonacularServer(LoopbackServer):
    """The API's documented behaviour over a made-up catalogue of `recipes` recipes.

    `max_number` is the page size the server really serves (a plan that caps it below
    what was asked), `quota` the daily points; `fail_next(status, body, headers)` queues
    an answer given before the next normal one.
    """

    def __init__(self, api_key: str = "spoon-test-key-0123456789", *, recipes: int = 120,
                 max_number: int = 100, quota: float = 150.0) -> None:
        super().__init__()
        self.api_key = api_key
        self.recipes = [self._recipe(i) for i in range(recipes)]
        self.max_number = max_number
        self.quota = quota
        self.used = 0.0
        self._faults: Injected[tuple[int, Any, dict[str, str]]] = Injected()

    @staticmethod
    def _recipe(i: int) -> dict[str, Any]:
        dish, cuisine, diet = KINDS[i % 3]
        return {"id": 1000 + i, "title": f"{dish} no. {i}", "image": f"https://img.spoonacular.com/recipes/{1000 + i}-312x231.jpg",
                "imageType": "jpg", "cuisines": [cuisine], "diets": [diet], "servings": 2 + i % 4,
                "readyInMinutes": 15 + i % 40, "ingredients": [INGREDIENTS[i % 12], INGREDIENTS[(i + 5) % 12]]}

    def fail_next(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        self._faults.add((status, body, dict(headers or {})))

    # -- the API --------------------------------------------------------------
    def answer(self, req: Request) -> tuple[int, Any, dict[str, str]]:
        fault = self._faults.take()
        if fault is not None:
            return fault
        with self.lock:
            if (req.one("apiKey") or req.headers.get("x-api-key")) != self.api_key:
                return 401, _failure(401, UNAUTHORIZED), {}
            if self.used >= self.quota:
                return 402, _failure(402, f"Your daily points limit of {self.quota:g} has been reached. "
                                          "Please upgrade your plan to continue using the API."), self._quota(0)
        try:
            status, body = self._route(req)
        except ValueError as exc:
            return 400, _failure(400, str(exc)), {}
        with self.lock:
            cost = 1 + 0.01 * len(body.get("results", ())) if isinstance(body, dict) else 1 + 0.01 * len(body)
            cost = round(cost, 2) if status < 400 else 0
            self.used = round(self.used + cost, 2)
            return status, body, self._quota(cost)

    def _quota(self, cost: float) -> dict[str, str]:
        return {"X-API-Quota-Request": f"{cost:g}", "X-API-Quota-Used": f"{self.used:g}",
                "X-API-Quota-Left": f"{max(self.quota - self.used, 0):g}"}

    def _route(self, req: Request) -> tuple[int, Any]:
        path = req.path
        if req.method == "GET" and path == "/recipes/complexSearch":
            found = [r for r in self.recipes if _matches(r, req)]
            return 200, self._page(req, [_brief(r) for r in found])
        if req.method == "GET" and path == "/food/ingredients/search":
            query = (req.one("query") or "").lower()
            found = [{"id": 9000 + i, "name": n, "image": n.replace(" ", "-") + ".jpg"}
                     for i, n in enumerate(INGREDIENTS) if query in n]
            return 200, self._page(req, found)
        if req.method == "GET" and path == "/recipes/findByIngredients":
            wanted = [w.strip().lower() for w in (req.one("ingredients") or "").split(",") if w.strip()]
            number = _int(req.one("number"), 10, 1, 100)
            hits = []
            for r in self.recipes:
                used = [i for i in r["ingredients"] if i in wanted]
                if used:
                    hits.append({"id": r["id"], "title": r["title"], "image": r["image"], "imageType": "jpg",
                                 "usedIngredientCount": len(used),
                                 "missedIngredientCount": len(r["ingredients"]) - len(used),
                                 "usedIngredients": [{"name": i} for i in used],
                                 "missedIngredients": [{"name": i} for i in r["ingredients"] if i not in used],
                                 "unusedIngredients": [{"name": w} for w in wanted if w not in r["ingredients"]],
                                 "likes": r["id"] % 7})
            return 200, hits[:number]
        if req.method == "GET" and path == "/recipes/informationBulk":
            ids = [int(x) for x in (req.one("ids") or "").split(",") if x.strip()]
            return 200, [self._information(self.recipes[i - 1000]) for i in ids if 0 <= i - 1000 < len(self.recipes)]
        m = re.fullmatch(r"/recipes/(\d+)/information", path)
        if req.method == "GET" and m:
            index = int(m.group(1)) - 1000
            if not 0 <= index < len(self.recipes):
                return 404, _failure(404, f"A recipe with the id {m.group(1)} does not exist.")
            return 200, self._information(self.recipes[index])
        m = re.fullmatch(r"/food/ingredients/(\d+)/information", path)
        if req.method == "GET" and m:
            index = int(m.group(1)) - 9000
            if not 0 <= index < len(INGREDIENTS):
                return 404, _failure(404, f"An ingredient with the id {m.group(1)} does not exist.")
            return 200, {"id": 9000 + index, "name": INGREDIENTS[index], "amount": float(req.one("amount") or 1),
                         "unit": req.one("unit") or "", "possibleUnits": ["g", "oz", "piece"]}
        if req.method == "GET" and path == "/recipes/random":
            number = _int(req.one("number"), 1, 1, 100)
            return 200, {"recipes": [self._information(r) for r in self.recipes[:number]]}
        if req.method == "POST" and path == "/recipes/parseIngredients":
            if not req.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
                raise ValueError("The ingredientList must be sent as application/x-www-form-urlencoded.")
            form = parse_qs(req.body.decode(), keep_blank_values=True)
            lines = [line for line in form.get("ingredientList", [""])[0].split("\n") if line.strip()]
            out = []
            for n, line in enumerate(lines):
                amount, _, rest = line.partition(" ")
                unit, _, name = rest.partition(" ")
                out.append({"id": 9100 + n, "original": line, "name": name or unit, "amount": float(amount),
                            "unit": unit if name else ""})
            return 200, out
        return 404, _failure(404, f"The path {path} does not exist.")

    def _page(self, req: Request, found: list[Any]) -> dict[str, Any]:
        offset = _int(req.one("offset"), 0, 0, 900)
        number = min(_int(req.one("number"), 10, 1, 100), self.max_number)
        return {"results": found[offset:offset + number], "offset": offset, "number": number,
                "totalResults": len(found)}

    @staticmethod
    def _information(r: dict[str, Any]) -> dict[str, Any]:
        return {**{k: v for k, v in r.items() if k != "ingredients"},
                "extendedIngredients": [{"name": i, "amount": 1, "unit": ""} for i in r["ingredients"]],
                "sourceUrl": f"https://example.org/recipes/{r['id']}", "summary": f"A {r['cuisines'][0]} dish."}


def _failure(code: int, message: str) -> dict[str, Any]:
    return {"status": "failure", "code": code, "message": message}


def _brief(r: dict[str, Any]) -> dict[str, Any]:
    return {"id": r["id"], "title": r["title"], "image": r["image"], "imageType": r["imageType"]}


def _matches(r: dict[str, Any], req: Request) -> bool:
    query, cuisine, diet = req.one("query"), req.one("cuisine"), req.one("diet")
    return ((not query or query.lower() in r["title"].lower())
            and (not cuisine or any(c.strip() in r["cuisines"] for c in cuisine.lower().split(",")))
            and (not diet or diet.lower() in r["diets"]))


def _int(text: str | None, default: int, low: int, high: int) -> int:
    """A bounded integer query value; out of range is the 400 the API answers."""
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"'{text}' is not a valid number.") from None
    if not low <= value <= high:
        raise ValueError(f"The value {value} must be between {low} and {high}.")
    return value
