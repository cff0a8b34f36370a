"""A loopback stand-in for the GitHub REST API (version 2022-11-28), for examples/github.yaml's tests.

It plays what GitHub documents, on 127.0.0.1 only:

- auth: `Authorization: Bearer <token>` (or the older `token <token>`); a wrong token is a 401
  `Bad credentials`, none at all on `/user` a 401 `Requires authentication`;
- `X-GitHub-Api-Version`: absent means 2022-11-28, an unknown version is a 400;
- paging: `per_page` (default 30, capped at 100) and `page`, with a `Link` header whose URLs point at
  `/repositories/{id}/...` as GitHub's do; the last page has `prev`/`first` but no `next`; a page past the
  end is `[]`;
- errors: `{"message", "documentation_url", "status"}`, with `errors: [...]` on a 422;
- rate limits: `x-ratelimit-*` headers on every answer; `inject()` queues canned answers (a primary limit
  403 with `x-ratelimit-remaining: 0`, a secondary limit with `retry-after`) served before the real one;
- the README as raw text (`Accept: application/vnd.github.raw+json`) or as a JSON content object;
- the tarball as a 302 to a codeload URL on another origin (`localhost`), which answers the bytes.

    with GitHubServer(token="ghp_x") as gh:
        ...  # gh.url is the base URL; gh.requests lists what was received
"""
from __future__ import annotations

import base64
import io
import itertools
import json
import tarfile
import time
from typing import Any
from urllib.parse import parse_qs, urlencode

from ._base import Injected, LoopbackServer

DOCS = "https://docs.github.com/rest"
SUPPORTED_VERSIONS = ("2022-11-28", "2026-03-10")
RATE_LIMIT = 5000
README = "# Hello World\n\nMy first repository on GitHub, héllo 👋\n"


def error(status: int, message: str, doc: str = DOCS, **extra: Any) -> "Answer":
    """GitHub's error body: message, documentation_url, and (since 2023) the status as a string."""
    return Answer(status, {"message": message, "documentation_url": doc, "status": str(status), **extra})


def primary_rate_limit(reset_in: int, status: int = 403) -> "Answer":
    """The primary limit: 403 (or 429), remaining 0, and the epoch second the window resets."""
    reset = int(time.time()) + reset_in
    return Answer(status, {"message": "API rate limit exceeded for user ID 1.",
                           "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
                           "status": str(status)},
                  {"x-ratelimit-limit": str(RATE_LIMIT), "x-ratelimit-remaining": "0",
                   "x-ratelimit-used": str(RATE_LIMIT), "x-ratelimit-reset": str(reset),
                   "x-ratelimit-resource": "core"})


def secondary_rate_limit(retry_after: int, status: int = 429) -> "Answer":
    """A secondary limit: 403 or 429 with `retry-after` seconds (the primary budget is not used up)."""
    return Answer(status, {"message": "You have exceeded a secondary rate limit. Please wait a few minutes "
                                      "before you try again.",
                           "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"
                                                "#about-secondary-rate-limits",
                           "status": str(status)},
                  {"retry-after": str(retry_after)})


class Answer:
    """One HTTP answer: status, JSON-able or bytes body, headers."""

    def __init__(self, status: int, body: Any = b"", headers: dict[str, str] | None = None) -> None:
        self.status = status
        self.headers = dict(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            self.headers.setdefault("Content-Type", "application/json; charset=utf-8")
        elif isinstance(body, str):
            body = body.encode()
        self.body: bytes = body


class Received:
    """A request as the server saw it."""

    def __init__(self, method: str, target: str, headers: dict[str, str], body: bytes) -> None:
        self.method = method
        self.path, _, self.query = target.partition("?")
        self.headers = headers  # lower-case names
        self.body = body

    @property
    def params(self) -> dict[str, list[str]]:
        return parse_qs(self.query, keep_blank_values=True)

    def json(self) -> Any:
        return json.loads(self.body)


_request_ids = itertools.count(1)


def _tarball(full_name: str, sha: str) -> bytes:
    """A real gzipped tar of one README, laid out as GitHub's (`owner-repo-sha/README.md`)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        data = README.encode()
        info = tarfile.TarInfo(f"{full_name.replace('/', '-')}-{sha[:7]}/README.md")
        info.size, info.mtime = len(data), 1_700_000_000
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


class GitHubServer(LoopbackServer):
    """The fake API: its data, what it received, and canned answers queued by tests."""

    methods = ("GET", "POST", "PATCH", "PUT", "DELETE")
    request_type = Received

    def __init__(self, token: str, *, issues: int = 5, comments: int = 3) -> None:
        super().__init__()
        self.token = token
        self._injected: Injected[Answer] = Injected()
        self._ids = itertools.count(1000)
        self._remaining = RATE_LIMIT
        self.codeload = f"http://localhost:{self.port}/_codeload"  # another origin, same socket
        owner = {"login": "octocat", "id": 1, "type": "User"}
        self.repos: dict[str, dict[str, Any]] = {
            "octocat/hello-world": {"id": 1296269, "node_id": "MDEwOlJlcG9zaXRvcnkxMjk2MjY5", "name": "hello-world",
                                    "full_name": "octocat/hello-world", "private": False, "owner": owner,
                                    "description": "My first repository on GitHub!", "fork": False,
                                    "default_branch": "main", "stargazers_count": 80, "open_issues_count": 0,
                                    "html_url": "https://github.com/octocat/hello-world",
                                    "sha": "7fd1a60b01f91b314f59955a4e4d4e80d8edf11d"},
            "octocat/empty": {"id": 1300000, "node_id": "R_empty", "name": "empty", "full_name": "octocat/empty",
                              "private": False, "owner": owner, "description": None, "fork": False,
                              "default_branch": "main", "stargazers_count": 0, "open_issues_count": 0,
                              "html_url": "https://github.com/octocat/empty", "sha": "0" * 40},
        }
        self.issues: dict[str, list[dict[str, Any]]] = {name: [] for name in self.repos}
        self.comments: dict[tuple[str, int], list[dict[str, Any]]] = {}
        for n in range(1, issues + 1):
            labels = ["bug"] if n % 2 else ["enhancement"]
            issue = self._new_issue("octocat/hello-world", {"title": f"Issue {n}", "body": f"Body {n}",
                                                            "labels": labels})
            if n == 4:
                issue["state"], issue["state_reason"] = "closed", "completed"
            if n == 5:  # the issues list returns pull requests too, marked by this key
                issue["pull_request"] = {"url": f"https://api.github.com/repos/octocat/hello-world/pulls/{n}"}
        for n in range(1, comments + 1):
            self._new_comment("octocat/hello-world", 1, f"Comment {n}")

    # -- test controls ------------------------------------------------------
    def inject(self, method: str, path: str, *answers: Answer) -> None:
        """Serve these answers, in order, to the next requests for (method, path); then the real one."""
        for answer in answers:
            self._injected.add(answer, method, path)

    def received(self, path_prefix: str = "") -> list[Received]:
        with self.lock:
            return [r for r in self.requests if r.path.startswith(path_prefix)]

    # -- data -----------------------------------------------------------------
    def _new_issue(self, repo: str, fields: dict[str, Any]) -> dict[str, Any]:
        number = len(self.issues[repo]) + 1
        issue = {"id": next(self._ids), "node_id": f"I_{number}", "number": number,
                 "url": f"https://api.github.com/repos/{repo}/issues/{number}",
                 "html_url": f"https://github.com/{repo}/issues/{number}",
                 "title": str(fields["title"]), "body": fields.get("body"), "state": "open", "state_reason": None,
                 "locked": False, "active_lock_reason": None,
                 "user": {"login": "octocat", "id": 1, "type": "User"},
                 "labels": [{"name": lb if isinstance(lb, str) else lb["name"]} for lb in fields.get("labels", [])],
                 "assignees": [{"login": a} for a in fields.get("assignees", [])],
                 "milestone": fields.get("milestone"), "comments": 0,
                 "created_at": "2026-01-0%dT00:00:00Z" % min(number, 9), "updated_at": "2026-01-10T00:00:00Z",
                 "closed_at": None}
        self.issues[repo].append(issue)
        return issue

    def _new_comment(self, repo: str, number: int, body: str) -> dict[str, Any]:
        comments = self.comments.setdefault((repo, number), [])
        cid = next(self._ids)
        comment = {"id": cid, "node_id": f"IC_{cid}", "body": body,
                   "url": f"https://api.github.com/repos/{repo}/issues/comments/{cid}",
                   "html_url": f"https://github.com/{repo}/issues/{number}#issuecomment-{cid}",
                   "user": {"login": "octocat", "id": 1, "type": "User"},
                   "created_at": "2026-01-02T00:00:00Z", "updated_at": "2026-01-02T00:00:00Z"}
        comments.append(comment)
        self.issues[repo][number - 1]["comments"] = len(comments)
        return comment

    # -- dispatch -----------------------------------------------------------------
    def answer(self, req: Received) -> tuple[int, bytes, dict[str, str]]:
        """The answer (an injected one first) with the headers GitHub puts on every API answer."""
        answer = self._injected.take(req.method, req.path) or self._handle(req)
        headers = {} if req.path.startswith("/_codeload/") else {
            **self.rate_headers(), "X-GitHub-Request-Id": f"C0DE:{next(_request_ids):04X}:1A2B3C:4D5E6F",
            "X-GitHub-Media-Type": "github.v3; format=json"}
        # an injected answer's own rate headers win
        return answer.status, answer.body, {**headers, **answer.headers}

    def _handle(self, req: Received) -> Answer:
        if req.path.startswith("/_codeload/"):  # codeload.github.com: no API auth, the URL is the ticket
            return self._codeload(req)
        auth = req.headers.get("authorization")
        if auth is not None and auth not in (f"Bearer {self.token}", f"token {self.token}"):
            return error(401, "Bad credentials")
        version = req.headers.get("x-github-api-version", "2022-11-28")
        if version not in SUPPORTED_VERSIONS:
            return error(400, f"API version {version} is not supported.",
                         "https://docs.github.com/rest/about-the-rest-api/api-versions")
        if not req.headers.get("user-agent"):
            return error(403, "Request forbidden by administrative rules. Please make sure your request has a "
                              "User-Agent header (https://docs.github.com/en/rest/overview/resources-in-the-rest-api"
                              "#user-agent-required).")
        with self.lock:
            return self._route(req, authenticated=auth is not None)

    def _route(self, req: Received, authenticated: bool) -> Answer:
        parts = req.path.strip("/").split("/")
        if req.path == "/user":
            if not authenticated:
                return error(401, "Requires authentication", "https://docs.github.com/rest/users/users"
                                                             "#get-the-authenticated-user")
            return Answer(200, {"login": "octocat", "id": 1, "node_id": "MDQ6VXNlcjE=", "type": "User",
                                "name": "The Octocat", "html_url": "https://github.com/octocat",
                                "public_repos": 8})
        if parts[0] == "repositories" and len(parts) >= 2:  # where GitHub's Link URLs point
            repo = next((n for n, r in self.repos.items() if str(r["id"]) == parts[1]), None)
            rest = parts[2:]
        elif parts[0] == "repos" and len(parts) >= 3:
            repo = f"{parts[1]}/{parts[2]}".lower()
            rest = parts[3:]
        else:
            return error(404, "Not Found")
        if repo not in self.repos:
            return error(404, "Not Found", "https://docs.github.com/rest/repos/repos#get-a-repository")
        return self._repo(req, repo, rest)

    def _repo(self, req: Received, repo: str, rest: list[str]) -> Answer:
        data = self.repos[repo]
        m = req.method
        if not rest and m == "GET":
            return Answer(200, {k: v for k, v in data.items() if k != "sha"})
        if rest == ["readme"] and m == "GET":
            accept = req.headers.get("accept", "")
            if "raw" in accept:
                return Answer(200, README.encode(), {"Content-Type": "application/vnd.github.raw; charset=utf-8"})
            return Answer(200, {"type": "file", "encoding": "base64", "name": "README.md", "path": "README.md",
                                "size": len(README.encode()),
                                "content": base64.b64encode(README.encode()).decode()})
        if len(rest) == 2 and rest[0] == "tarball" and m == "GET":
            if rest[1] not in (data["default_branch"], data["sha"]):
                return error(404, "Not Found", "https://docs.github.com/rest/repos/contents"
                                               "#download-a-repository-archive-tar")
            return Answer(302, b"", {"Location": f"{self.codeload}/{repo}/legacy.tar.gz/refs/heads/{rest[1]}"})
        if rest == ["issues"] and m == "GET":
            return self._issues_list(req, repo)
        if rest == ["issues"] and m == "POST":
            return self._issues_create(req, repo)
        if len(rest) >= 2 and rest[0] == "issues" and rest[1].isdigit():
            number = int(rest[1])
            if not 1 <= number <= len(self.issues[repo]):
                return error(404, "Not Found", "https://docs.github.com/rest/issues/issues#get-an-issue")
            issue = self.issues[repo][number - 1]
            if len(rest) == 2 and m == "GET":
                return Answer(200, issue)
            if len(rest) == 2 and m == "PATCH":
                return self._issues_update(req, issue)
            if rest[2:] == ["lock"] and m == "PUT":
                reason = req.json().get("lock_reason") if req.body else None
                issue["locked"], issue["active_lock_reason"] = True, reason
                return Answer(204)
            if rest[2:] == ["comments"] and m == "GET":
                return self._page(req, repo, f"issues/{number}/comments", self.comments.get((repo, number), []))
            if rest[2:] == ["comments"] and m == "POST":
                body = req.json().get("body") if req.body else None
                if not body:
                    return error(422, "Invalid request.\n\n\"body\" wasn't supplied.",
                                 "https://docs.github.com/rest/issues/comments#create-an-issue-comment")
                comment = self._new_comment(repo, number, body)
                return Answer(201, comment, {"Location": comment["url"]})
        return error(404, "Not Found")

    def _issues_list(self, req: Received, repo: str) -> Answer:
        q = {k: v[-1] for k, v in req.params.items()}
        state = q.get("state", "open")
        if state not in ("open", "closed", "all"):
            return error(422, "Validation Failed", "https://docs.github.com/rest/issues/issues"
                                                   "#list-repository-issues",
                         errors=[{"resource": "Issue", "field": "state", "code": "invalid"}])
        items = [i for i in self.issues[repo] if state == "all" or i["state"] == state]
        if q.get("labels"):
            wanted = set(q["labels"].split(","))
            items = [i for i in items if wanted <= {lb["name"] for lb in i["labels"]}]
        if q.get("direction", "desc") == "desc":
            items = items[::-1]
        return self._page(req, repo, "issues", items)

    def _page(self, req: Received, repo: str, what: str, items: list[dict[str, Any]]) -> Answer:
        """One page of `items` with GitHub's Link header (absent when everything fits on one page)."""
        q = {k: v[-1] for k, v in req.params.items()}
        try:
            per_page = min(max(int(q.get("per_page", 30)), 1), 100)
            page = max(int(q.get("page", 1)), 1)
        except ValueError:
            return error(400, "Invalid per_page or page")
        last = max((len(items) + per_page - 1) // per_page, 1)
        chunk = items[(page - 1) * per_page: page * per_page]
        headers = {}
        if last > 1:
            base = f"{self.url}/repositories/{self.repos[repo]['id']}/{what}"

            def link(n: int, rel: str) -> str:
                return f'<{base}?{urlencode({**q, "page": n})}>; rel="{rel}"'

            links = []
            if page > 1:
                links.append(link(min(page - 1, last), "prev"))
            if page < last:
                links += [link(page + 1, "next"), link(last, "last")]
            if page > 1:
                links.append(link(1, "first"))
            headers["Link"] = ", ".join(links)
        return Answer(200, chunk, headers)

    def _issues_create(self, req: Received, repo: str) -> Answer:
        doc = "https://docs.github.com/rest/issues/issues#create-an-issue"
        try:
            fields = req.json()
        except ValueError:
            return error(400, "Problems parsing JSON", doc)
        if "title" not in fields:
            return error(422, "Invalid request.\n\n\"title\" wasn't supplied.", doc)
        for login in fields.get("assignees", []):
            if login != "octocat":
                return error(422, "Validation Failed", doc,
                             errors=[{"value": login, "resource": "Issue", "field": "assignees", "code": "invalid"}])
        issue = self._new_issue(repo, fields)
        return Answer(201, issue, {"Location": issue["url"]})

    def _issues_update(self, req: Received, issue: dict[str, Any]) -> Answer:
        fields = req.json()
        for key in ("title", "body", "state", "state_reason", "milestone"):
            if key in fields:
                issue[key] = fields[key]
        if "labels" in fields:
            issue["labels"] = [{"name": lb if isinstance(lb, str) else lb["name"]} for lb in fields["labels"]]
        if fields.get("state") == "closed":
            issue["closed_at"] = "2026-02-01T00:00:00Z"
            issue["state_reason"] = fields.get("state_reason") or "completed"
        return Answer(200, issue)

    def _codeload(self, req: Received) -> Answer:
        repo = "/".join(req.path.split("/")[2:4])
        data = self.repos.get(repo)
        if data is None:
            return Answer(404, b"404: Not Found", {"Content-Type": "text/plain; charset=utf-8"})
        name = f"{repo.replace('/', '-')}-{data['sha'][:7]}.tar.gz"
        return Answer(200, _tarball(repo, data["sha"]),
                      {"Content-Type": "application/x-gzip", "Content-Disposition": f"attachment; filename={name}"})

    def rate_headers(self) -> dict[str, str]:
        """The primary budget, as every API answer carries it."""
        with self.lock:
            self._remaining = max(self._remaining - 1, 0)
            remaining = self._remaining
        return {"x-ratelimit-limit": str(RATE_LIMIT), "x-ratelimit-remaining": str(remaining),
                "x-ratelimit-used": str(RATE_LIMIT - remaining),
                "x-ratelimit-reset": str(int(time.time()) + 3600), "x-ratelimit-resource": "core"}
