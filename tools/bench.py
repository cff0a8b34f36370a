#!/usr/bin/env python3
"""Side-by-side benchmark: this engine, the official openai SDK, plain requests, plain http.client.

    python tools/bench.py            # the full run (a few minutes on 2 cores)
    python tools/bench.py --quick    # tiny sizes: checks that everything runs
    python tools/bench.py --json out.json

Every figure is measured for each contender in alternation, round after
round, against a loopback server in its own process (tools/bench_server.py),
and reported as median, min and max, with the ratios the targets speak of.
The SDK is optional (`pip install -e '.[bench]'`); without it, its columns
are empty. Not part of the test suite; tests/test_bench.py runs --quick.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Say hello"}]}
CONTENDERS = ("engine", "sdk", "requests", "http.client")


# -- the server ----------------------------------------------------------------

class BenchServer:
    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen([sys.executable, str(ROOT / "tools" / "bench_server.py"), *args],
                                     stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().split() if self.proc.stdout else []
        if not line or line[0] != "READY":
            self.proc.kill()
            raise RuntimeError("bench server did not start")
        self.port = int(line[1])
        self.url = f"http://127.0.0.1:{self.port}/v1"

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=10)


def have_sdk() -> bool:
    try:
        import openai  # noqa: F401
    except ImportError:
        return False
    return True


# -- clients -----------------------------------------------------------------------

def make_engine(url: str) -> Any:
    import engine

    return engine.Engine(api_key="sk-bench", base_url=url, max_retries=0)


def make_sdk(url: str) -> Any:
    import openai

    return openai.OpenAI(api_key="sk-bench", base_url=url, max_retries=0)


def make_session() -> Any:
    import requests

    s = requests.Session()
    s.headers["Authorization"] = "Bearer sk-bench"
    return s


def http_client(port: int) -> Any:
    import http.client

    return http.client.HTTPConnection("127.0.0.1", port)


# -- figures -----------------------------------------------------------------------

def per_call(srv: BenchServer, who: str, calls: int, kind: str) -> float | None:
    """Microseconds per call on one kept-alive connection."""
    body = json.dumps(CHAT).encode()
    if who == "engine":
        eng = make_engine(srv.url)
        fn: Callable[[], Any] = ((lambda: eng.run("models.list")) if kind == "get"
                                 else (lambda: eng.run("chat.completions.create", CHAT)))
    elif who == "sdk":
        if not have_sdk():
            return None
        client = make_sdk(srv.url)
        fn = (lambda: client.models.list()) if kind == "get" else (lambda: client.chat.completions.create(**CHAT))
    elif who == "requests":
        s = make_session()
        fn = ((lambda: s.get(srv.url + "/models").json()) if kind == "get"
              else (lambda: s.post(srv.url + "/chat/completions", json=CHAT).json()))
    else:
        conn = http_client(srv.port)
        hdrs = {"Authorization": "Bearer sk-bench", "Content-Type": "application/json"}

        def fn() -> Any:
            if kind == "get":
                conn.request("GET", "/v1/models", headers=hdrs)
            else:
                conn.request("POST", "/v1/chat/completions", body=body, headers=hdrs)
            return json.loads(conn.getresponse().read())
    fn()  # warm: connection, compiled validators
    t0 = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - t0) / calls * 1e6


def overhead_us(calls: int) -> float:
    """Validation + building + decoding of one chat request, no network (engine only)."""
    import engine
    from engine.response import decode

    eng = engine.Engine(api_key="sk-bench")
    action = eng.action("chat.completions.create")
    canned = _canned_response(json.dumps({"id": "x", "object": "chat.completion", "choices": []}).encode())
    eng.prepare("chat.completions.create", CHAT)
    t0 = time.perf_counter()
    for _ in range(calls):
        eng.prepare("chat.completions.create", CHAT)
        decode(canned, action.response_kind, action=action.name)
    return (time.perf_counter() - t0) / calls * 1e6


_TEMPLATED = {
    "manifest_version": 2,
    "connector": {"name": "bench", "base_url": "http://127.0.0.1:9/v1",
                  "credentials": {"key": {"type": "header", "header": "Authorization", "prefix": "Bearer "}},
                  "settings": {"tenant": {"default": "acme", "header": "X-Tenant-Name"}}},
    "actions": [
        {"name": "plain", "method": "POST", "path": "/things/{thing}", "body": "json",
         "headers": {"X-Tenant": "acme"}, "query": {"view": "full"},
         "params": [{"name": "thing", "in": "path", "required": True, "schema": {"type": "string"}},
                    {"name": "q", "in": "query", "schema": {"type": "string"}},
                    {"name": "name", "in": "body", "schema": {"type": "string"}},
                    {"name": "size", "in": "body", "schema": {"type": "integer"}}],
         "response": {"type": "json"}},
        {"name": "templated", "method": "POST", "path": "/things/{thing}",
         "body": {"type": "json", "template": {"data": "{{ body }}", "tenant": "{{ config.tenant }}"}},
         "headers": {"X-Tenant": "{{ config.tenant }}"}, "query": {"view": "{{ params.q | lower }}"},
         "params": [{"name": "thing", "in": "path", "required": True, "schema": {"type": "string"}},
                    {"name": "q", "in": "query", "schema": {"type": "string"}},
                    {"name": "name", "in": "body", "schema": {"type": "string"}},
                    {"name": "size", "in": "body", "schema": {"type": "integer"}}],
         "response": {"type": "json"}},
    ],
}


def template_us(calls: int, name: str) -> float:
    """Validation + building of one request of a small manifest's action, no network: `plain` or `templated`.

    The two actions send the same kind of request; `templated` shapes its header, query and body
    with templates (two plain paths, one Jinja2 filter, one body shape), so the difference is
    what templates cost a call.
    """
    import engine

    eng = engine.Engine(_TEMPLATED, key="sk-bench")
    params = {"thing": "t1", "q": "FULL", "name": "n", "size": 3}
    eng.prepare(name, params)
    t0 = time.perf_counter()
    for _ in range(calls):
        eng.prepare(name, params)
    return (time.perf_counter() - t0) / calls * 1e6


def _canned_response(body: bytes) -> Any:
    import requests

    r = requests.Response()
    r.status_code = 200
    r._content = body
    r.headers["content-type"] = "application/json"
    return r


def stream_rate(srv: BenchServer, who: str) -> float | None:
    """Events per second over one SSE answer."""
    body = json.dumps({**CHAT, "stream": True}).encode()
    t0 = time.perf_counter()
    n = 0
    if who == "engine":
        eng = make_engine(srv.url)
        t0 = time.perf_counter()
        for _ in eng.run("chat.completions.create", {**CHAT, "stream": True}):
            n += 1
    elif who == "sdk":
        if not have_sdk():
            return None
        client = make_sdk(srv.url)
        t0 = time.perf_counter()
        for _ in client.chat.completions.create(**CHAT, stream=True):
            n += 1
    elif who == "requests":
        s = make_session()
        t0 = time.perf_counter()
        with s.post(srv.url + "/chat/completions", data=body, stream=True,
                    headers={"Content-Type": "application/json"}) as r:
            for line in r.iter_lines():
                if line.startswith(b"data: ") and line != b"data: [DONE]":
                    json.loads(line[6:])
                    n += 1
    else:
        conn = http_client(srv.port)
        t0 = time.perf_counter()
        conn.request("POST", "/v1/chat/completions", body=body, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        for line in resp:
            if line.startswith(b"data: ") and not line.startswith(b"data: [DONE]"):
                json.loads(line[6:])
                n += 1
    return n / (time.perf_counter() - t0)


def paging_seconds(srv: BenchServer, who: str, items: int) -> float | None:
    t0 = time.perf_counter()
    if who == "engine":
        eng = make_engine(srv.url)
        t0 = time.perf_counter()
        n = sum(1 for _ in eng.paginate("assistants.list", {"limit": 100}))
    elif who == "sdk":
        if not have_sdk():
            return None
        client = make_sdk(srv.url)
        warnings.simplefilter("ignore", DeprecationWarning)  # the SDK marks its Assistants API deprecated
        t0 = time.perf_counter()
        n = sum(1 for _ in client.beta.assistants.list(limit=100))
    elif who == "requests":
        s = make_session()
        t0 = time.perf_counter()
        n, after = 0, None
        while True:
            page = s.get(srv.url + "/assistants", params={"limit": 100, **({"after": after} if after else {})},
                         headers={"OpenAI-Beta": "assistants=v2"}).json()
            n += len(page["data"])
            if not page["has_more"]:
                break
            after = page["last_id"]
    else:
        return None
    assert n == items, (who, n)
    return time.perf_counter() - t0


CHILD_UPLOAD = """
import sys, time
sys.path.insert(0, {root!r})
def hwm():  # peak RSS since exec; ru_maxrss would count the parent's pages from before the exec
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
who, url, path = {who!r}, {url!r}, {path!r}
base = hwm()
t0 = time.perf_counter()
if who == "engine":
    import engine, pathlib
    engine.Engine(api_key="k", base_url=url, max_retries=0).run("files.create", {{"file": pathlib.Path(path), "purpose": "batch"}})
elif who == "sdk":
    import openai, pathlib
    openai.OpenAI(api_key="k", base_url=url, max_retries=0).files.create(file=pathlib.Path(path), purpose="batch")
elif who == "requests":
    import requests
    with open(path, "rb") as fh:
        requests.post(url + "/files", files={{"file": fh}}, data={{"purpose": "batch"}}).json()
elif who == "download":
    import engine
    engine.Engine(api_key="k", base_url=url).run("files.content", {{"file_id": "big-{size}"}}, output=path + ".out")
seconds = time.perf_counter() - t0
print(hwm(), base, seconds)
"""


def transfer(srv: BenchServer, who: str, size: int, workdir: str) -> tuple[float, float] | None:
    """(peak RSS in MB, MB/s) of one upload (or the engine's download) in a fresh process."""
    if who == "sdk" and not have_sdk():
        return None
    path = os.path.join(workdir, f"upload-{size}.bin")
    if not os.path.exists(path):
        with open(path, "wb") as fh:
            fh.truncate(size)  # sparse: costs no disk, reads as zeros
    code = CHILD_UPLOAD.format(root=str(ROOT), who=who, url=srv.url, path=path, size=size)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"{who} transfer failed: {proc.stderr[-2000:]}")
    peak, _base, seconds = proc.stdout.split()
    if who == "download" and os.path.exists(path + ".out"):
        os.unlink(path + ".out")
    return int(peak) / 1024, size / (1 << 20) / float(seconds)


def concurrency_rate(url: str, threads: int, calls: int) -> float:
    """Calls per second with `threads` threads sharing one Engine against a 20 ms server."""
    eng = make_engine(url)
    eng.run("models.list")
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(lambda _: eng.run("models.list"), range(calls)))
    return calls / (time.perf_counter() - t0)


STARTUP = {
    "engine": "import engine; e = engine.Engine(api_key='k'); "
              "e.prepare('chat.completions.create', {'model': 'm', 'messages': [{'role': 'user', 'content': 'hi'}]})",
    "engine-2026": "import engine; e = engine.Engine('openai-2026-08-21', api_key='k'); "
                   "e.prepare('responses.create', {'model': 'm', 'input': 'hi'})",
    "sdk": "import openai",
    "requests": "import requests",
    "python": "pass",
}


def startup_ms(who: str) -> float | None:
    if who == "sdk" and not have_sdk():
        return None
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", STARTUP[who]], check=True, cwd=str(ROOT))
    return (time.perf_counter() - t0) * 1000


# -- the run -------------------------------------------------------------------------

def summarise(samples: list[float]) -> dict[str, float]:
    return {"median": statistics.median(samples), "min": min(samples), "max": max(samples)}


def measure(rounds: int, fns: dict[str, Callable[[], float | None]]) -> dict[str, dict[str, float] | None]:
    """Run every contender once per round, in alternation, so drift in the machine hits all alike."""
    samples: dict[str, list[float]] = {k: [] for k in fns}
    for r in range(rounds):
        order = list(fns) if r % 2 == 0 else list(reversed(fns))
        for who in order:
            value = fns[who]()
            if value is not None:
                samples[who].append(value)
    return {k: (summarise(v) if v else None) for k, v in samples.items()}


def run(quick: bool) -> dict[str, Any]:
    sizes = dict(calls=50, items=500, events=2000, rounds=2, upload=(8 << 20, 32 << 20), conc_calls=40,
                 startup_rounds=2) if quick else \
        dict(calls=2000, items=10000, events=100000, rounds=5, upload=(100 << 20, 1 << 30), conc_calls=400,
             startup_rounds=10)
    results: dict[str, Any] = {"sizes": sizes}
    # pip compiles an installed package's bytecode; a source checkout (editable install, and
    # PYTHONDONTWRITEBYTECODE set as on CI machines) would otherwise recompile the engine on every
    # start while requests and the SDK load theirs: compile it once, as an install would.
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "engine")], check=True)
    results["startup_ms"] = measure(sizes["startup_rounds"], {w: (lambda w=w: startup_ms(w)) for w in STARTUP})
    srv = BenchServer("--items", str(sizes["items"]), "--events", str(sizes["events"]))
    try:
        for kind in ("get", "post"):
            results[f"{kind}_us"] = measure(sizes["rounds"], {
                w: (lambda w=w: per_call(srv, w, sizes["calls"], kind)) for w in CONTENDERS})
        results["overhead_us"] = measure(sizes["rounds"], {"engine": lambda: overhead_us(sizes["calls"])})
        results["template_us"] = measure(sizes["rounds"], {w: (lambda w=w: template_us(sizes["calls"], w))
                                                           for w in ("plain", "templated")})
        results["stream_events_s"] = measure(sizes["rounds"], {w: (lambda w=w: stream_rate(srv, w))
                                                                for w in CONTENDERS})
        results["paging_s"] = measure(sizes["rounds"], {w: (lambda w=w: paging_seconds(srv, w, sizes["items"]))
                                                        for w in ("engine", "sdk", "requests")})
        with tempfile.TemporaryDirectory() as work:
            up: dict[str, Any] = {}
            for size in sizes["upload"]:
                for who in ("engine", "sdk", "requests", "download"):
                    if who in ("sdk", "requests") and size > (256 << 20):
                        continue  # they read the whole file into memory
                    got = transfer(srv, who, size, work)
                    if got is not None:
                        up[f"{who} {size >> 20} MiB"] = {"peak_rss_mb": got[0], "mb_per_s": got[1]}
            results["transfer"] = up
        # the server's own cost per request: what http.client pays is the floor
        results["server_floor_us"] = results["get_us"]["http.client"]
    finally:
        srv.close()
    slow = BenchServer("--delay-ms", "20", "--items", "100", "--events", "10")
    try:
        results["concurrency_calls_s"] = {str(t): concurrency_rate(slow.url, t, sizes["conc_calls"])
                                          for t in (1, 8, 32)}
    finally:
        slow.close()
    return results


def ratio(a: dict | None, b: dict | None) -> str:
    if not a or not b:
        return "n/a"
    return f"{a['median'] / b['median']:.2f}x"


def render(res: dict[str, Any]) -> str:
    import engine
    import requests

    versions = f"engine {engine.__version__}, requests {requests.__version__}"
    if have_sdk():
        import openai

        versions += f", openai {openai.__version__}"
    lines = [f"# Benchmark, {time.strftime('%Y-%m-%d')}, {platform.machine()}, {os.cpu_count()} cores, "
             f"Python {platform.python_version()}; {versions}", "",
             "| figure | engine | openai SDK | requests | http.client | ratios (engine / other) |",
             "|---|---|---|---|---|---|"]

    def cell(d: dict | None, fmt: str) -> str:
        return "" if not d else f"{fmt.format(d['median'])} ({fmt.format(d['min'])}-{fmt.format(d['max'])})"

    s = res["startup_ms"]
    lines.append(f"| start-up: import, load, prepare (ms) | {cell(s['engine'], '{:.0f}')} | {cell(s['sdk'], '{:.0f}')} | "
                 f"{cell(s['requests'], '{:.0f}')} | python alone {cell(s['python'], '{:.0f}')} | "
                 f"vs SDK {ratio(s['engine'], s['sdk'])}, vs requests {ratio(s['engine'], s['requests'])} |")
    lines.append(f"| start-up with the 2026 manifest (288 actions) (ms) | {cell(s['engine-2026'], '{:.0f}')} | "
                 f"{cell(s['sdk'], '{:.0f}')} | | | vs SDK {ratio(s['engine-2026'], s['sdk'])} |")
    for key, label in (("get_us", "GET /v1/models (µs/call)"), ("post_us", "POST /v1/chat/completions (µs/call)")):
        d = res[key]
        lines.append(f"| {label} | {cell(d['engine'], '{:.0f}')} | {cell(d['sdk'], '{:.0f}')} | "
                     f"{cell(d['requests'], '{:.0f}')} | {cell(d['http.client'], '{:.0f}')} | "
                     f"vs SDK {ratio(d['engine'], d['sdk'])}, vs requests {ratio(d['engine'], d['requests'])} |")
    o = res["overhead_us"]["engine"]
    lines.append(f"| validate + build + decode, chat (µs) | {cell(o, '{:.1f}')} | | | | |")
    t = res["template_us"]
    lines.append(f"| validate + build, same request without / with templates (µs) | {cell(t['plain'], '{:.1f}')} / "
                 f"{cell(t['templated'], '{:.1f}')} | | | | templates add "
                 f"{t['templated']['median'] - t['plain']['median']:.1f} µs a call |")
    d = res["stream_events_s"]
    lines.append(f"| SSE, {res['sizes']['events']:,} chunks (events/s) | {cell(d['engine'], '{:,.0f}')} | "
                 f"{cell(d['sdk'], '{:,.0f}')} | {cell(d['requests'], '{:,.0f}')} | {cell(d['http.client'], '{:,.0f}')} | "
                 f"vs SDK {ratio(d['engine'], d['sdk'])}, vs http.client {ratio(d['engine'], d['http.client'])} |")
    d = res["paging_s"]
    lines.append(f"| list {res['sizes']['items']:,} assistants, 100 a page (s) | {cell(d['engine'], '{:.3f}')} | "
                 f"{cell(d['sdk'], '{:.3f}')} | {cell(d['requests'], '{:.3f}')} | | "
                 f"SDK / engine {ratio(d['sdk'], d['engine'])}, engine / requests {ratio(d['engine'], d['requests'])} |")
    def moved(who: str, size: str) -> str:
        v = res["transfer"].get(f"{who} {size}")
        if v is None:
            return "not run: reads the whole file" if who in ("sdk", "requests") and have_sdk() else ""
        return f"{v['peak_rss_mb']:.0f} MB, {v['mb_per_s']:.0f} MB/s"

    for size in (f"{s >> 20} MiB" for s in res["sizes"]["upload"]):
        lines.append(f"| upload {size} multipart: peak RSS, throughput | {moved('engine', size)} | "
                     f"{moved('sdk', size)} | {moved('requests', size)} | | |")
        lines.append(f"| download {size} to a file: peak RSS, throughput | {moved('download', size)} | | | | |")
    c = res["concurrency_calls_s"]
    lines.append(f"| 20 ms server: calls/s at 1 / 8 / 32 threads | {c['1']:.0f} / {c['8']:.0f} / {c['32']:.0f} | | | | "
                 f"8 threads = {c['8'] / c['1']:.1f}x one |")
    lines += ["", f"The loopback server's own cost is under the http.client column: "
                  f"{res['server_floor_us']['median']:.0f} µs a GET, the floor every contender pays."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny sizes, to check that it runs")
    ap.add_argument("--json", metavar="FILE", help="also write the raw figures here")
    args = ap.parse_args(argv)
    res = run(args.quick)
    print(render(res))
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
