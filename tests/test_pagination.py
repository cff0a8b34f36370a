"""Pagination styles: cursor both ways, page tokens, single pages, loop guards, checkpoints."""
from __future__ import annotations

import json
from urllib.parse import parse_qs

import pytest

import engine
from conftest import BASE
from loopback import Loopback, Reply


def cursor_server(srv: Loopback, path: str, total: int, *, with_last_id: bool = True) -> None:
    """A list endpoint over ids obj_0000.. with `after`/`before`/`limit`/`order` like the API's."""
    ids = [f"obj_{i:04d}" for i in range(total)]

    def handler(req):
        q = {k: v[0] for k, v in parse_qs(req.query).items()}
        limit = int(q.get("limit", 20))
        order = q.get("order", "desc")
        seq = ids if order == "asc" else ids[::-1]
        if "after" in q:
            start = seq.index(q["after"]) + 1
            page = seq[start:start + limit]
            more = start + limit < len(seq)
        elif "before" in q:
            end = seq.index(q["before"])
            page = seq[max(0, end - limit):end]
            more = end - limit > 0
        else:
            page = seq[:limit]
            more = limit < len(seq)
        body = {"object": "list", "data": [{"id": i} for i in page], "has_more": more}
        if with_last_id:
            body.update(first_id=page[0] if page else None, last_id=page[-1] if page else None)
        return Reply(200, body)

    srv.route("GET", path, handler)


@pytest.fixture
def leng(loopback_engine):
    return loopback_engine()


def test_cursor_walk_forward_many_pages(srv, leng):
    cursor_server(srv, "/v1/assistants", 1000)
    walk = leng.paginate("assistants.list", {"limit": 7, "order": "asc"})
    ids = [a["id"] for a in walk]
    assert ids == [f"obj_{i:04d}" for i in range(1000)]
    assert walk.pages == 143 and len(srv.requests) == 143
    assert "after=obj_0006" in srv.requests[1].query


def test_cursor_walk_backward_with_before(srv, leng):
    cursor_server(srv, "/v1/threads/t/messages", 100)
    walk = leng.paginate("threads.messages.list", {"thread_id": "t", "order": "asc", "before": "obj_0050",
                                                    "limit": 10})
    ids = [m["id"] for m in walk]
    assert sorted(ids) == [f"obj_{i:04d}" for i in range(50)]
    assert len(ids) == 50 and "before=obj_0040" in srv.requests[1].query


def test_cursor_without_last_id_uses_the_last_items_id(srv, leng):
    cursor_server(srv, "/v1/fine_tuning/jobs", 45, with_last_id=False)
    ids = [j["id"] for j in leng.paginate("fine_tuning.jobs.list", {"limit": 20})]
    assert len(ids) == 45 and len(set(ids)) == 45


def test_lazy_one_page_at_a_time(srv, leng):
    cursor_server(srv, "/v1/batches", 100)
    walk = leng.paginate("batches.list", {"limit": 10})
    first = [next(walk) for _ in range(10)]
    assert len(first) == 10 and len(srv.requests) == 1
    next(walk)
    assert len(srv.requests) == 2


def test_max_items_and_max_pages(srv, leng):
    cursor_server(srv, "/v1/vector_stores", 100)
    assert len(list(leng.paginate("vector_stores.list", {"limit": 10}, max_items=25))) == 25
    assert len(srv.requests) == 3
    assert len(list(leng.paginate("vector_stores.list", {"limit": 10}, max_pages=2))) == 20


def test_checkpoint_resumes_in_a_new_engine_without_refetching(srv, leng, loopback_engine):
    cursor_server(srv, "/v1/assistants", 95)
    walk = leng.paginate("assistants.list", {"limit": 10, "order": "asc"})
    got = [next(walk)["id"] for _ in range(33)]
    mark = walk.checkpoint
    before = len(srv.requests)
    fresh = loopback_engine()
    rest = [a["id"] for a in fresh.paginate("assistants.list", resume=mark)]
    assert got + rest == [f"obj_{i:04d}" for i in range(95)]
    assert "after=obj_0032" in srv.requests[before].query



def test_a_checkpoint_taken_walking_backwards_resumes_where_it_stopped(srv, leng, loopback_engine):
    """A `before` page lists its items in the list's order, not the walk's: the items after the one just
    handed out are not the ones `before=<it>` names, so the checkpoint keeps the page and a skip count."""
    cursor_server(srv, "/v1/threads/t/messages", 100)
    params = {"thread_id": "t", "order": "asc", "before": "obj_0050", "limit": 10}
    walk = leng.paginate("threads.messages.list", params)
    got = [next(walk)["id"] for _ in range(13)]
    rest = [m["id"] for m in loopback_engine().paginate("threads.messages.list", resume=walk.checkpoint)]
    assert got + rest == [m["id"] for m in loopback_engine().paginate("threads.messages.list", params)]

@pytest.mark.parametrize("resume, says", [
    ({"junk": 1}, "not a checkpoint: it has no action, params, skip"),
    ({}, "not a checkpoint"),
    ("after=obj_0032", "a checkpoint is a mapping"),
    (["params", "skip"], "a checkpoint is a mapping"),
    (None, None),  # no checkpoint at all: a fresh walk
    ({"action": "assistants.list", "params": "after=x", "skip": 0}, "params are not a mapping"),
    ({"action": "assistants.list", "params": {}, "skip": -1}, "skip is not a count"),
    ({"action": "assistants.list", "params": {}, "skip": "3"}, "skip is not a count"),
    ({"action": "assistants.list", "params": {}, "skip": True}, "skip is not a count"),
    ({"action": ["assistants.list"], "params": {}, "skip": 0}, "from a walk of 'list'"),
])
def test_a_malformed_checkpoint_is_a_typed_error_and_nothing_is_fetched(srv, leng, resume, says):
    cursor_server(srv, "/v1/assistants", 5)
    if says is None:
        assert len(list(leng.paginate("assistants.list", resume=resume))) == 5
        return
    with pytest.raises(engine.ValidationError) as info:
        leng.paginate("assistants.list", resume=resume)
    assert info.value.problems[0].param == "resume" and says in info.value.problems[0].message
    assert srv.requests == []


def test_a_checkpoint_of_another_action_is_refused(srv, leng, loopback_engine):
    cursor_server(srv, "/v1/vector_stores", 30)
    walk = leng.paginate("vector_stores.list", {"limit": 10, "order": "asc"})
    got = [next(walk)["id"] for _ in range(12)]
    mark = json.loads(json.dumps(walk.checkpoint))  # as saved to a file and read back
    assert mark["action"] == "vector_stores.list"
    before = len(srv.requests)
    fresh = loopback_engine()
    with pytest.raises(engine.ValidationError, match="from a walk of 'vector_stores.list', not of 'assistants.list'"):
        fresh.paginate("assistants.list", resume=mark)
    assert len(srv.requests) == before
    rest = [v["id"] for v in fresh.paginate("vector_stores.list", resume=mark)]
    assert got + rest == [f"obj_{i:04d}" for i in range(30)]


def usage_pages(srv: Loopback, path: str, pages: int) -> None:
    def handler(req):
        q = parse_qs(req.query)
        n = int(q["page"][0].split("_")[1]) if "page" in q else 0
        last = n == pages - 1
        return Reply(200, {"object": "page", "data": [{"object": "bucket", "start_time": n * 86400 + i}
                                                       for i in range(3)],
                           "has_more": not last, "next_page": None if last else f"tok_{n + 1}"})

    srv.route("GET", path, handler)


def test_page_token_walk_yields_buckets(srv, leng):
    usage_pages(srv, "/v1/organization/costs", 5)
    buckets = list(leng.paginate("organization.costs", {"start_time": 0}))
    assert len(buckets) == 15 and [b["start_time"] for b in buckets][:4] == [0, 1, 2, 86400]
    assert "page=tok_1" in srv.requests[1].query and "start_time=0" in srv.requests[1].query


def test_page_token_checkpoint_skips_what_was_seen(srv, leng):
    usage_pages(srv, "/v1/organization/usage/completions", 3)
    walk = leng.paginate("organization.usage.completions", {"start_time": 0})
    seen = [next(walk)["start_time"] for _ in range(4)]
    rest = [b["start_time"] for b in leng.paginate("organization.usage.completions", resume=walk.checkpoint)]
    assert seen + rest == [n * 86400 + i for n in range(3) for i in range(3)]


def test_single_page_list(mocked, eng):
    mocked.get(f"{BASE}/models", json={"object": "list", "data": [{"id": "a"}, {"id": "b"}]})
    assert [m["id"] for m in eng.paginate("models.list")] == ["a", "b"]


def test_repeated_cursor_is_an_error_not_a_loop(mocked, eng):
    for _ in range(2):
        mocked.get(f"{BASE}/assistants", json={"data": [{"id": "x"}], "has_more": True, "last_id": "x"})
    walk = eng.paginate("assistants.list")
    with pytest.raises(engine.PaginationError, match="repeated the cursor"):
        list(walk)


def test_empty_page_claiming_more_is_an_error(mocked, eng):
    mocked.get(f"{BASE}/assistants", json={"data": [], "has_more": True})
    with pytest.raises(engine.PaginationError, match="empty page"):
        list(eng.paginate("assistants.list"))


def test_missing_has_more_stops_on_an_empty_page(mocked, eng):
    from responses import matchers

    mocked.get(f"{BASE}/fine_tuning/jobs/ft/events", match=[matchers.query_param_matcher({})],
               json={"object": "list", "data": [{"id": "e1"}, {"id": "e2"}]})
    mocked.get(f"{BASE}/fine_tuning/jobs/ft/events", match=[matchers.query_param_matcher({"after": "e2"})],
               json={"object": "list", "data": []})
    assert [e["id"] for e in eng.paginate("fine_tuning.jobs.list_events", {"fine_tuning_job_id": "ft"})] == ["e1", "e2"]


def test_paginate_validates_first_and_refuses_non_lists(mocked, eng):
    with pytest.raises(engine.ValidationError):
        eng.paginate("assistants.list", {"limit": 1000})
    with pytest.raises(engine.Error, match="no pagination"):
        eng.paginate("models.retrieve", {"model": "m"})
    assert len(mocked.calls) == 0


def test_pagination_errors_name_their_action(mocked, eng):
    mocked.get(f"{BASE}/assistants", json={"object": "list", "data": [], "has_more": True})
    with pytest.raises(engine.PaginationError) as info:
        list(eng.paginate("assistants.list"))
    assert info.value.action == "assistants.list"
    assert str(info.value).startswith("assistants.list: the server sent an empty page but says there is more")
    mocked.get(f"{BASE}/organization/costs", json={"object": "page", "data": [], "has_more": True, "next_page": None})
    with pytest.raises(engine.PaginationError) as info:
        list(eng.paginate("organization.costs", {"start_time": 0}))
    assert info.value.action == "organization.costs"
    assert str(info.value).startswith("organization.costs: the server sent an empty page but says there is more")


def cycling_cursor_server(srv: Loopback, path: str) -> None:
    """Answers after=None -> a, a -> b, b -> a, each page claiming more: a cycle two cursors long."""
    follow = {None: "a", "a": "b", "b": "a"}

    def handler(req):
        after = parse_qs(req.query).get("after", [None])[0]
        nxt = follow[after]
        return Reply(200, {"object": "list", "data": [{"id": nxt}], "first_id": nxt, "last_id": nxt,
                           "has_more": True})

    srv.route("GET", path, handler)


def test_a_cursor_cycle_is_an_error_not_a_loop(srv, leng):
    cycling_cursor_server(srv, "/v1/assistants")
    walk = leng.paginate("assistants.list", max_pages=20)  # the bound only keeps a regression finite
    with pytest.raises(engine.PaginationError, match="repeated the cursor 'a'"):
        list(walk)
    assert [r.query for r in srv.requests] == ["", "after=a", "after=b"]


def test_a_resumed_walk_counts_its_starting_cursor_as_seen(srv, leng):
    cycling_cursor_server(srv, "/v1/assistants")
    walk = leng.paginate("assistants.list", resume={"action": "assistants.list", "params": {"after": "a"}, "skip": 0},
                         max_pages=20)
    with pytest.raises(engine.PaginationError, match="repeated the cursor 'a'"):
        list(walk)
    assert [r.query for r in srv.requests] == ["after=a", "after=b"]


def test_page_token_empty_page_claiming_more_is_an_error(srv, leng):
    def handler(req):
        n = int(parse_qs(req.query)["page"][0].split("_")[1]) if "page=" in req.query else 0
        data = [{"object": "bucket", "start_time": 0}] if n == 0 else []
        return Reply(200, {"object": "page", "data": data, "has_more": True, "next_page": f"tok_{n + 1}"})

    srv.route("GET", "/v1/organization/costs", handler)
    walk = leng.paginate("organization.costs", {"start_time": 0}, max_pages=20)
    with pytest.raises(engine.PaginationError, match="empty page but says there is more") as info:
        list(walk)
    assert info.value.action == "organization.costs" and len(srv.requests) == 2


def test_a_page_token_cycle_is_an_error_not_a_loop(srv, leng):
    follow = {None: "tok_a", "tok_a": "tok_b", "tok_b": "tok_a"}

    def handler(req):
        token = parse_qs(req.query).get("page", [None])[0]
        return Reply(200, {"object": "page", "data": [{"object": "bucket", "start_time": 0}], "has_more": True,
                           "next_page": follow[token]})

    srv.route("GET", "/v1/organization/usage/completions", handler)
    walk = leng.paginate("organization.usage.completions", {"start_time": 0}, max_pages=20)
    with pytest.raises(engine.PaginationError, match="repeated the cursor 'tok_a'"):
        list(walk)
    assert len(srv.requests) == 3


def test_max_items_reached_at_a_page_end_fetches_nothing_more(srv, leng, loopback_engine):
    cursor_server(srv, "/v1/vector_stores", 10)
    walk = leng.paginate("vector_stores.list", {"limit": 2, "order": "asc"}, max_items=2)
    assert [v["id"] for v in walk] == ["obj_0000", "obj_0001"]
    assert len(srv.requests) == 1
    rest = loopback_engine().paginate("vector_stores.list", resume=walk.checkpoint, max_items=2)
    assert [v["id"] for v in rest] == ["obj_0002", "obj_0003"]
    assert len(srv.requests) == 2 and "after=obj_0001" in srv.requests[1].query
    assert list(leng.paginate("vector_stores.list", {"limit": 2}, max_items=0)) == []
    assert len(srv.requests) == 2


def test_a_cursor_that_is_not_text_is_an_error(srv, leng):
    srv.route("GET", "/v1/assistants", lambda req: Reply(200, {"object": "list", "data": [{"id": "asst_1"}],
                                                               "last_id": {"id": "asst_1"}, "has_more": True}))
    with pytest.raises(engine.PaginationError, match="cursor that is not text") as info:
        list(leng.paginate("assistants.list", max_pages=5))
    assert info.value.action == "assistants.list" and len(srv.requests) == 1
