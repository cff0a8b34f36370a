"""examples/github.yaml end to end, against the loopback GitHub of examples/servers/github.py.

What is checked is what GitHub documents: the bearer token and the API version header on the wire,
paging by the Link header's rel="next" URL (whole, same origin only), the error body's message, the
primary rate limit (403/429 with x-ratelimit-remaining: 0, wait until x-ratelimit-reset) and the
secondary one (retry-after), raw README text, and the tarball's redirect to another origin.
"""
from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

import engine
from examples_support import cli_runner, engines, server_module

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = str(ROOT / "examples" / "github.yaml")
TOKEN = "ghp_SECRETtoken0123456789abcdefABCDEF01"

gh_server = server_module("github")


@pytest.fixture(autouse=True)
def _no_github_env(monkeypatch):
    for name in ("GITHUB_TOKEN", "GITHUB_API_URL", "GITHUB_API_VERSION"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def gh() -> Iterator[Any]:
    with gh_server.GitHubServer(TOKEN) as server:
        yield server


@pytest.fixture
def github(gh) -> Iterator[Callable[..., engine.Engine]]:
    """Engines on the loopback GitHub; retry waits are recorded in `.waits` instead of slept."""
    yield from engines(MANIFEST, gh.url, token=TOKEN)


HELLO = {"owner": "octocat", "repo": "hello-world"}


def single(values: dict[str, list[str]]) -> dict[str, str]:
    """A parsed query whose every key was sent exactly once."""
    assert all(len(v) == 1 for v in values.values()), values
    return {k: v[0] for k, v in values.items()}


# -- auth and headers ---------------------------------------------------------------------------

def test_token_and_api_version_on_the_wire(gh, github):
    user = github().run("user.get")
    assert user["login"] == "octocat"
    (req,) = gh.received("/user")
    assert req.headers["authorization"] == f"Bearer {TOKEN}"
    assert req.headers["x-github-api-version"] == "2022-11-28"
    assert req.headers["accept"] == "application/vnd.github+json"
    assert req.query == ""


def test_api_version_setting_is_sent_and_an_unknown_one_is_the_servers_400(gh, github):
    github(api_version="2026-03-10").run("user.get")
    assert gh.received("/user")[-1].headers["x-github-api-version"] == "2026-03-10"
    with pytest.raises(engine.BadRequestError) as info:
        github(api_version="2099-01-01").run("user.get")
    assert info.value.message == "HTTP 400: API version 2099-01-01 is not supported."
    assert info.value.body["documentation_url"].endswith("/api-versions")


def test_token_and_version_from_the_environment(gh, monkeypatch):
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    monkeypatch.setenv("GITHUB_API_VERSION", "2026-03-10")
    with engine.Engine(manifest=MANIFEST, base_url=gh.url, allow_env=["GITHUB_TOKEN", "GITHUB_API_VERSION"]) as eng:
        eng.run("user.get")
    assert gh.received("/user")[0].headers["x-github-api-version"] == "2026-03-10"


def test_no_token_is_refused_before_anything_is_sent(gh):
    with engine.Engine(manifest=MANIFEST, base_url=gh.url, allow_env=["GITHUB_TOKEN"]) as eng:
        with pytest.raises(engine.MissingCredentialError):
            eng.run("user.get")
    assert gh.received() == []


def test_bad_credentials_is_a_401_with_githubs_message_and_no_token_in_it(gh, github):
    wrong = "ghp_WRONGtoken9876543210zyxwvuZYXWVU98"
    with pytest.raises(engine.AuthenticationError) as info:
        github(token=wrong).run("repos.get", HELLO)
    err = info.value
    assert (err.status_code, err.message) == (401, "HTTP 401: Bad credentials")
    assert err.body == {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest",
                        "status": "401"}
    assert err.request_id.startswith("C0DE:")
    assert len(gh.received()) == 1  # a 401 is not retried
    assert wrong not in str(err) and wrong not in repr(err)


# -- errors ------------------------------------------------------------------------------------------

def test_not_found_maps_message_and_keeps_documentation_url(gh, github):
    with pytest.raises(engine.NotFoundError) as info:
        github().run("repos.get", {"owner": "octocat", "repo": "no-such-repo"})
    err = info.value
    assert err.message == "HTTP 404: Not Found"
    assert err.body["documentation_url"] == "https://docs.github.com/rest/repos/repos#get-a-repository"
    assert err.code is None and err.param is None  # no `errors` list on a 404


def test_validation_failed_maps_code_and_field(gh, github):
    with pytest.raises(engine.UnprocessableEntityError) as info:
        github().run("issues.create", {**HELLO, "title": "Hi", "assignees": ["nobody"]})
    err = info.value
    assert (err.message, err.code, err.param) == ("HTTP 422: Validation Failed", "invalid", "assignees")


def test_bad_params_are_refused_before_sending(gh, github):
    eng = github()
    with pytest.raises(engine.ValidationError) as info:
        eng.run("issues.list", {**HELLO, "per_page": 101, "state": "bogus"})
    assert "per_page" in str(info.value) and "state" in str(info.value)
    with pytest.raises(engine.ValidationError):
        eng.run("issues.create", {**HELLO, "body": "no title"})
    with pytest.raises(engine.ValidationError):
        eng.run("issues.comments.create", {**HELLO, "issue_number": 1, "body": "x" * 65537})
    assert gh.received() == []


# -- paging --------------------------------------------------------------------------------------------

def test_issues_walk_every_page_by_the_link_header(gh, github):
    issues = list(github().paginate("issues.list", {**HELLO, "state": "all", "per_page": 2}))
    assert [i["number"] for i in issues] == [5, 4, 3, 2, 1]
    assert "pull_request" in issues[0]  # the issues list returns pull requests too
    first, second, third = gh.received()
    assert first.path == "/repos/octocat/hello-world/issues"
    assert single(first.params) == {"state": "all", "per_page": "2"}
    # The next URLs are GitHub's own (another path), followed whole: nothing re-added, nothing doubled.
    assert second.path == third.path == "/repositories/1296269/issues"
    assert single(second.params) == {"state": "all", "per_page": "2", "page": "2"}
    assert single(third.params) == {"state": "all", "per_page": "2", "page": "3"}
    assert all(r.headers["authorization"] == f"Bearer {TOKEN}" for r in (first, second, third))
    assert all(r.headers["x-github-api-version"] == "2022-11-28" for r in (first, second, third))


def test_the_last_page_has_links_but_no_next(gh, github):
    """Page 3 of 3 carries rel="prev" and rel="first" only: the walk ends there, with no 4th request."""
    eng = github()
    last = eng.run("issues.list", {**HELLO, "state": "all", "per_page": 2, "page": 3}, raw=True)
    assert 'rel="prev"' in last.headers["link"] and 'rel="next"' not in last.headers["link"]
    gh.requests.clear()
    walked = list(eng.paginate("issues.list", {**HELLO, "state": "all", "per_page": 2, "page": 3}))
    assert [i["number"] for i in walked] == [1]
    assert len(gh.received()) == 1


def test_one_page_without_link_and_an_empty_list(gh, github):
    eng = github()
    assert [i["number"] for i in eng.paginate("issues.list", HELLO)] == [5, 3, 2, 1]  # open ones, 1 page
    assert list(eng.paginate("issues.list", {"owner": "octocat", "repo": "empty"})) == []
    assert len(gh.received()) == 2


def test_query_encoding_of_filters(gh, github):
    eng = github()
    found = eng.run("issues.list", {**HELLO, "labels": ["bug", "good first issue"], "direction": "asc",
                                    "since": "2026-01-01T00:00:00Z"})
    assert found == []
    (req,) = gh.received()
    assert single(req.params) == {"labels": "bug,good first issue", "direction": "asc",
                                  "since": "2026-01-01T00:00:00Z"}  # schema defaults are not sent
    assert [i["number"] for i in eng.run("issues.list", {**HELLO, "labels": ["bug"], "direction": "asc"})] \
        == [1, 3, 5]


@pytest.mark.parametrize("host", ["localhost", "127.0.0.2"])
def test_a_next_url_on_another_origin_is_refused_and_never_gets_the_token(gh, github, host):
    page = gh_server.Answer(200, [{"id": 1, "number": 1, "title": "a", "state": "open"}],
                            {"Link": f'<http://{host}:{gh.port}/repositories/1296269/issues?page=2>; rel="next"'})
    gh.inject("GET", "/repos/octocat/hello-world/issues", page)
    walk = github().paginate("issues.list", HELLO)
    assert next(walk)["number"] == 1  # the first page is handed out; the walk stops before leaving the origin
    with pytest.raises(engine.PaginationError) as info:
        next(walk)
    assert "another origin" in str(info.value) and TOKEN not in str(info.value)
    (only,) = gh.received()  # `localhost` reaches this very server: it was never asked
    assert only.headers["host"] == f"127.0.0.1:{gh.port}"


def test_comments_walk_and_create(gh, github):
    eng = github()
    params = {**HELLO, "issue_number": 1, "per_page": 2}
    assert [c["body"] for c in eng.paginate("issues.comments.list", params)] == \
        ["Comment 1", "Comment 2", "Comment 3"]
    made = eng.run("issues.comments.create", {**HELLO, "issue_number": 1, "body": "Me too 👍"})
    assert made["body"] == "Me too 👍"
    post = gh.received()[-1]
    assert post.method == "POST" and post.headers["content-type"].startswith("application/json")
    assert post.json() == {"body": "Me too 👍"}
    assert len(list(eng.paginate("issues.comments.list", params))) == 4


# -- writes ----------------------------------------------------------------------------------------------

def test_create_update_and_lock_an_issue(gh, github):
    eng = github()
    made = eng.run("issues.create", {**HELLO, "title": "Found a bug", "body": "It crashes",
                                     "labels": ["bug", {"name": "p1"}], "assignees": ["octocat"]})
    assert made["number"] == 6 and made["state"] == "open"
    post = gh.received()[-1]
    assert post.headers["content-type"].startswith("application/json")
    assert post.json() == {"title": "Found a bug", "body": "It crashes", "labels": ["bug", {"name": "p1"}],
                           "assignees": ["octocat"]}

    closed = eng.run("issues.update", {**HELLO, "issue_number": 6, "state": "closed",
                                       "state_reason": "not_planned"})
    assert (closed["state"], closed["state_reason"]) == ("closed", "not_planned")
    patch = gh.received()[-1]
    assert (patch.method, patch.path) == ("PATCH", "/repos/octocat/hello-world/issues/6")
    assert patch.json() == {"state": "closed", "state_reason": "not_planned"}

    assert eng.run("issues.lock", {**HELLO, "issue_number": 6, "lock_reason": "resolved"}) is None
    put = gh.received()[-1]
    assert (put.method, put.json()) == ("PUT", {"lock_reason": "resolved"})
    assert eng.run("issues.get", {**HELLO, "issue_number": 6})["active_lock_reason"] == "resolved"


# -- rate limits ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("status", [403, 429])
def test_primary_rate_limit_waits_until_the_reset_then_succeeds(gh, github, status):
    gh.inject("GET", "/repos/octocat/hello-world", gh_server.primary_rate_limit(reset_in=30, status=status))
    eng = github()
    result = eng.run("repos.get", HELLO, raw=True)
    assert result.data["full_name"] == "octocat/hello-world"
    assert result.attempts == 2 and len(gh.received()) == 2
    (wait,) = eng.waits
    assert 28 <= wait <= 31  # until x-ratelimit-reset (a Unix time), not 30 s of backoff guesswork
    assert int(result.rate_limits["x-ratelimit-remaining"]) > 0


def test_primary_rate_limit_beyond_max_retry_after_is_raised_not_waited(gh, github):
    gh.inject("GET", "/repos/octocat/hello-world", gh_server.primary_rate_limit(reset_in=3000))
    eng = github()
    with pytest.raises(engine.APIStatusError) as info:
        eng.run("repos.get", HELLO)
    assert info.value.status_code == 403
    assert info.value.message.startswith("HTTP 403: API rate limit exceeded for user ID 1. (not retried: the server "
                                         "asked to wait ")
    assert info.value.headers["x-ratelimit-remaining"] == "0"
    assert eng.waits == [] and len(gh.received()) == 1


@pytest.mark.parametrize("status", [403, 429])
def test_secondary_rate_limit_waits_retry_after_seconds(gh, github, status):
    gh.inject("POST", "/repos/octocat/hello-world/issues", gh_server.secondary_rate_limit(7, status=status))
    eng = github()
    made = eng.run("issues.create", {**HELLO, "title": "Once"})
    assert made["title"] == "Once"
    assert eng.waits == [7]
    first, second = gh.received()
    assert first.body == second.body  # the same body sent again
    assert [i["title"] for i in eng.paginate("issues.list", HELLO)].count("Once") == 1


def test_a_plain_403_is_not_retried(gh, github):
    gh.inject("GET", "/repos/octocat/hello-world",
              gh_server.error(403, "Resource not accessible by personal access token"))
    eng = github()
    with pytest.raises(engine.PermissionDeniedError) as info:
        eng.run("repos.get", HELLO)
    assert info.value.message == "HTTP 403: Resource not accessible by personal access token"
    assert eng.waits == [] and len(gh.received()) == 1


def test_a_502_backs_off_as_usual_not_until_the_rate_limit_reset(gh, github):
    """Every answer carries x-ratelimit-reset; the manifest reads it as a wait only on 403 and 429."""
    gh.inject("GET", "/repos/octocat/hello-world", gh_server.error(502, "Server Error"),
              gh_server.error(502, "Server Error"), gh_server.error(502, "Server Error"))
    eng = github()
    with pytest.raises(engine.InternalServerError) as info:
        eng.run("repos.get", HELLO)
    assert info.value.message.startswith("HTTP 502: Server Error")
    assert eng.waits == [1.0, 2.0] and len(gh.received()) == 3  # initial_delay 1 s, doubled


# -- text and binary answers -----------------------------------------------------------------------------

def test_readme_comes_as_raw_text(gh, github):
    text = github().run("repos.readme", {**HELLO, "ref": "main"})
    assert text == gh_server.README
    (req,) = gh.received()
    assert req.headers["accept"] == "application/vnd.github.raw+json"
    assert single(req.params) == {"ref": "main"}


def test_tarball_follows_the_redirect_without_the_token(gh, github, tmp_path):
    eng = github()
    data = eng.run("repos.tarball", {**HELLO, "ref": "main"})
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        (member,) = tar.getmembers()
        assert member.name == "octocat-hello-world-7fd1a60/README.md"
        assert tar.extractfile(member).read().decode() == gh_server.README
    api, download = gh.received()
    assert api.headers["authorization"] == f"Bearer {TOKEN}"
    assert download.headers["host"] == f"localhost:{gh.port}"  # codeload: another origin
    assert "authorization" not in download.headers

    out = tmp_path / "repo.tar.gz"
    assert eng.run("repos.tarball", {**HELLO, "ref": "main"}, output=out) == len(data)
    assert out.read_bytes() == data
    with pytest.raises(engine.NotFoundError):
        eng.run("repos.tarball", {**HELLO, "ref": "no-such-branch"})


# -- command line ------------------------------------------------------------------------------------------

run_cli = cli_runner("--manifest", MANIFEST)


def test_cli_actions_describe_and_dry_run(monkeypatch):
    code, out, _ = run_cli("actions")
    assert code == 0
    for name in ("user.get", "repos.get", "repos.readme", "repos.tarball", "issues.list", "issues.create",
                 "issues.update", "issues.lock", "issues.comments.list", "issues.comments.create"):
        assert name in out

    code, out, _ = run_cli("describe", "issues.list")
    assert code == 0 and "per_page" in out and "labels" in out

    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    code, out, _ = run_cli("--allow-env", "GITHUB_TOKEN", "run", "issues.list", "-p", "owner=octocat", "-p", "repo=hello-world",
                           "-p", "state=closed", "--dry-run")
    assert code == 0
    assert "https://api.github.com/repos/octocat/hello-world/issues?state=closed" in out
    assert "X-GitHub-Api-Version: 2022-11-28" in out
    assert TOKEN not in out


def test_cli_walks_every_page(gh, monkeypatch):
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    code, out, err = run_cli("--allow-env", "GITHUB_TOKEN", "--base-url", gh.url, "run", "issues.list", "-p", "owner=octocat",
                             "-p", "repo=hello-world", "-p", "state=all", "-p", "per_page=2", "--all")
    assert code == 0, err
    assert [json.loads(line)["number"] for line in out.splitlines()] == [5, 4, 3, 2, 1]
    assert len(gh.received()) == 3
