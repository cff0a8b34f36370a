"""What the example connectors' tests share: their loopback servers and Engines that record their waits."""
from __future__ import annotations

import importlib
import io
from types import ModuleType
from typing import Any, Callable, Iterator

import engine
from engine import cli


def server_module(name: str) -> ModuleType:
    """examples/servers/<name>.py, imported within its package (the servers share examples/servers/_base.py)."""
    return importlib.import_module(f"examples.servers.{name}")


def record_waits(e: engine.Engine) -> None:
    """Each retry wait of `e` goes to its `waits` list instead of sleeping, without jitter, so waits are exact."""
    e.waits = []
    e.transport.sleep = e.waits.append
    e.transport.rand = lambda: 0.0


def engines(manifest: str, base_url: str, **defaults: Any) -> Iterator[Callable[..., engine.Engine]]:
    """For a fixture to `yield from`: makes Engines on `base_url`, each closed when the test ends.

    Options given to the maker go over `defaults`; unless `sleep=True`, each Engine `record_waits`.
    """
    made = []

    def make(*, sleep: bool = False, **options: Any) -> engine.Engine:
        e = engine.Engine(manifest=manifest, base_url=base_url, **{**defaults, **options})
        if not sleep:
            record_waits(e)
        made.append(e)
        return e

    yield make
    for e in made:
        e.close()


def cli_runner(*first: str) -> Callable[..., tuple[int, str, str]]:
    """Runs the command line in-process with `first` before the given arguments: (exit code, stdout, stderr)."""

    def run(*argv: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        code = cli.main([*first, *argv], out, err)
        return code, out.getvalue(), err.getvalue()

    return run
