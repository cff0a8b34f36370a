"""The command line: `openai-connector actions | describe | run | import ...`.

Exit codes: 0 success, 2 usage error, 3 invalid params (nothing sent),
4 the API answered with an error status, 5 the network failed, 6 a webhook
failed verification (`webhook verify`), 1 any other engine error (and, for `drift`, drift found). Results go to stdout, messages to stderr; keys go nowhere.
"""
from __future__ import annotations

import argparse
import base64
import inspect
import json
import os
import re
import shlex
import textwrap
import sys
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence, TextIO

from . import errors
from ._version import __version__
from .client import Engine
from .files import replace_file

__all__ = ["main", "to_curl", "parse_params"]

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_INVALID, EXIT_API, EXIT_NETWORK, EXIT_NO_KEY = 0, 1, 2, 3, 4, 5, 6
EXIT_DRIFT = 1
EXIT_WEBHOOK = 7


class _Usage(Exception):
    """The command line itself is wrong (exit 2), as opposed to what the engine was asked to do."""


# The first class an error is an instance of decides the exit code (subclasses before their bases).
_EXIT_CODES: tuple[tuple[type[BaseException], int], ...] = (
    (_Usage, EXIT_USAGE), (errors.UnknownActionError, EXIT_USAGE), (errors.MissingCredentialError, EXIT_NO_KEY),
    (errors.ValidationError, EXIT_INVALID),
    (errors.APIConnectionError, EXIT_NETWORK), (errors.APIError, EXIT_API),
    (errors.WebhookSignatureError, EXIT_WEBHOOK), (errors.WebhookTimestampError, EXIT_WEBHOOK),
    (errors.WebhookEventError, EXIT_WEBHOOK), (errors.Error, EXIT_ERROR))


def _string_only(schema: Any) -> bool:
    if not isinstance(schema, dict):
        return False
    t = schema.get("type")
    return t == "string" or (isinstance(t, list) and set(t) <= {"string", "null"} and "string" in t)


def _types(schema: Any) -> list[str]:
    t = schema.get("type") if isinstance(schema, dict) else None
    return t if isinstance(t, list) else [t]


def _takes_text(schema: Any) -> bool:
    """Whether a schema accepts a string anywhere (its type, or one of its alternatives)."""
    if not isinstance(schema, dict):
        return False
    if "string" in _types(schema):
        return True
    return any(_takes_text(s) for key in ("anyOf", "oneOf") for s in schema.get(key, ()))


def parse_params(action: Any, pairs: Sequence[str], params_file: str | None) -> dict[str, Any]:
    """`-p key=value` pairs over an optional JSON file: JSON values where they parse.

    A parameter that only takes strings keeps its text as is (`-p name=123`
    stays "123"); a file parameter takes `@path`, and so does one whose schema
    says `format: path` (a path on disk the action reads itself).
    """
    params: dict[str, Any] = {}
    if params_file:
        try:
            with open(params_file, encoding="utf-8") as fh:
                loaded = json.load(fh)
        except (OSError, ValueError) as exc:
            raise _Usage(f"--params-file {params_file}: {exc}") from None
        if not isinstance(loaded, dict):
            raise _Usage(f"--params-file {params_file}: must hold a JSON object")
        params.update(loaded)
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key:
            raise _Usage(f"-p takes key=value, got {pair!r}")
        param = action.by_name.get(key)
        if param is not None and param.file is not None:
            if not text.startswith("@"):
                raise _Usage(f"-p {key}=@PATH: file parameters take a path after '@'")
            params[key] = Path(text[1:])
            continue
        if param is not None and isinstance(param.schema, dict) and param.schema.get("format") == "path":
            params[key] = text[1:] if text.startswith("@") else text  # a path on disk, as `@path` or plain
            continue
        if param is not None and _string_only(param.schema):
            # A string parameter keeps its text; `null` means null where null is allowed.
            params[key] = None if text == "null" and "null" in _types(param.schema) else text
            continue
        try:
            params[key] = json.loads(text)
        except ValueError as exc:
            if text.lstrip()[:1] in ("[", "{"):  # meant as JSON: sending it as text would hide the typo
                raise _Usage(f"-p {key}: not valid JSON ({exc}); write the whole value in single quotes, "
                             f"e.g. -p '{key}=[{{\"role\": \"user\"}}]'") from None
            params[key] = text
    return params


def _quoting_hints(action: Any, pairs: Sequence[str], params: Mapping[str, Any], exc: Any) -> str:
    """For a -p value read as JSON (a number, true) where the param also takes text: how to send the text."""
    hints = []
    bad = {p.param for p in exc.problems}
    for pair in pairs:
        key, _, text = pair.partition("=")
        value = params.get(key)
        param = action.by_name.get(key)
        if key in bad and param is not None and not isinstance(value, str) and _takes_text(param.schema):
            hints.append(f"hint: -p {key}={text} was read as JSON ({json.dumps(value)}); for the text, "
                         f"quote it: -p '{key}=\"{text}\"'")
    return ("\n" + "\n".join(hints)) if hints else ""


_ENV_REF = re.compile(r"^[\w .:/=-]*\$[A-Z_][A-Z0-9_]*$")


def _quote(value: str) -> str:
    """Shell-quote, but leave a trailing `$ENV_VAR` reference expandable (redacted keys)."""
    if _ENV_REF.match(value):
        return f'"{value}"'
    return shlex.quote(value)


def _quote_url(url: str, keys: Iterable[str] = ()) -> str:
    """Shell-quote a URL, leaving a redacted query credential (`api_key=$KEY`) expandable.

    Only the query params in `keys` (the credential's) are expanded: a caller's own value
    that happens to read `$HOME` stays text.
    """
    names = "|".join(re.escape(k) for k in keys)
    ref = re.compile(rf"(?<=[?&])({names})=%24([A-Za-z_][A-Za-z0-9_]*)(?=&|$)") if names else None
    if ref is None or not ref.search(url):
        return shlex.quote(url)
    escaped = re.sub(r'([\\"`$])', r"\\\1", url)
    return '"' + ref.sub(lambda m: m.group(1) + "=${" + m.group(2) + "}", escaped) + '"'


def _basic_refs(name: str, value: str) -> str | None:
    """`$USER:$PASS` when a Basic header holds only redacted references, else None."""
    if name.lower() != "authorization" or not value.startswith("Basic "):
        return None
    try:
        plain = base64.b64decode(value[6:], validate=True).decode("ascii")
    except (ValueError, UnicodeDecodeError):
        return None
    return plain if re.fullmatch(r"(\$[A-Za-z_][A-Za-z0-9_]*)?:(\$[A-Za-z_][A-Za-z0-9_]*)?", plain) else None


def to_curl(request: Any, query_keys: Iterable[str] = ()) -> str:
    """An equivalent curl command (credentials already replaced by the caller; `query_keys`: a query credential's)."""
    parts = ["curl", "-X", request.method, _quote_url(request.url, query_keys)]
    for name, value in request.headers.items():
        if name.lower() in ("content-length", "transfer-encoding"):
            continue
        basic = _basic_refs(name, value)
        if basic is not None:  # redacted Basic credentials: let the shell expand them, as curl's -u does
            parts += ["-u", f'"{basic}"']
            continue
        if name.lower() == "content-type" and value.startswith("multipart/"):
            continue
        parts += ["-H", _quote(f"{name}: {value}")]
    body = request.body
    if isinstance(body, (bytes, bytearray)):
        parts += ["--data-raw", shlex.quote(body.decode("utf-8", "replace"))]
    elif body is not None:
        for name, value in getattr(body, "fields", ()):
            # --form-string: a value starting with @ or < is text, never a file for curl to read.
            parts += ["--form-string", shlex.quote(f"{name}={value}")]
        for name, part in getattr(body, "files", ()):
            # The real path, so the line runs from any directory; content given in memory has none.
            source = f"{os.path.abspath(part.path)};filename={part.filename}" if part.path else part.filename
            parts += ["-F", shlex.quote(f"{name}=@{source};type={part.content_type}")]
    return " ".join(parts)


def _print_json(value: Any, out: TextIO) -> None:
    out.write(json.dumps(value, ensure_ascii=False, indent=2) + "\n")


def _cmd_actions(eng: Engine, args: argparse.Namespace, out: TextIO) -> int:
    rows = eng.actions(args.group)
    if args.group and not rows:
        groups = sorted({a.group for a in eng.actions()})
        raise _Usage(f"no group {args.group!r}; groups: {', '.join(groups)}")
    if args.json:
        _print_json([{"name": a.name, "group": a.group, "method": a.method, "path": a.path,
                      "summary": a.summary, "composite": a.composite} for a in rows], out)
        return EXIT_OK
    width = max((len(a.name) for a in rows), default=0)
    where = {a.name: "(composite)" if a.composite else f"{a.method} {a.path}" for a in rows}
    middle = min(max((len(w) for w in where.values()), default=0), 48)  # a long path overflows, not the rest
    for a in rows:
        out.write(f"{a.name:<{width}}  {where[a.name]:<{middle}}  {a.summary}".rstrip() + "\n")
    plain = sum(not a.composite for a in rows)
    composite = len(rows) - plain
    out.write(f"\n{plain} action{'s' if plain != 1 else ''}, {composite} composite action"
              f"{'s' if composite != 1 else ''}\n")
    return EXIT_OK


def _type_text(schema: Any) -> str:
    """A schema's type in one spelling: `string`, `integer | null`, `array of string`, `ChatMessage`."""
    if not isinstance(schema, dict):
        return "any"
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    t = schema.get("type")
    if isinstance(t, list):
        return " | ".join(_type_text({**schema, "type": one}) for one in t)
    if t == "array":
        return f"array of {_type_text(schema.get('items', {}))}"
    if t:
        return t
    for key in ("anyOf", "oneOf"):
        if key in schema:  # a free string beside an enum of strings reads as one "string"
            return " | ".join(dict.fromkeys(part for s in schema[key] for part in _type_text(s).split(" | ")))
    return "any"


def _number(value: Any) -> str:
    """A limit as an integer where it is one: never float notation, and an int64 bound as its exact value.

    Descriptions often write int64 bounds as the nearest float (`9223372036854776000`).
    """
    if isinstance(value, (int, float)) and not isinstance(value, bool) and float(value) in (2.0 ** 63, -2.0 ** 63):
        return str(2 ** 63 - 1 if value > 0 else -2 ** 63)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return json.dumps(value)


def _limits(schema: Any) -> str:
    if not isinstance(schema, dict):
        return ""
    bits = []
    for key in ("minimum", "maximum", "minLength", "maxLength", "minItems", "maxItems", "maxProperties"):
        if key in schema:
            bits.append(f"{key}={_number(schema[key])}")
    if "enum" in schema:
        bits.append("one of " + ", ".join(json.dumps(v) for v in schema["enum"]))
    if "default" in schema:
        bits.append(f"server default {json.dumps(schema['default'])}")
    return "; ".join(bits)


def _cmd_describe(eng: Engine, args: argparse.Namespace, out: TextIO) -> int:
    action = eng.action(args.name)
    if args.schema:
        _print_json(action.input_schema(), out)
        return EXIT_OK
    if args.output_schema:
        _print_json(action.output_schema(), out)
        return EXIT_OK
    if action.composite:
        out.write(f"{action.name}  ({action.group})\n  composite: calls {', '.join(dict.fromkeys(action.calls))}\n"
                  f"  {action.summary}\n  credential: {action.credential}; answer: {action.response_kind}")
    else:
        out.write(f"{action.name}  ({action.group})\n  {action.method} {action.path}\n  {action.summary}\n")
        out.write(f"  credential: {action.credential}; body: {action.body}; answer: {action.response_kind}")
    if action.pagination_name:
        out.write(f"; pagination: {action.pagination_name}")
    if action.stream_param:
        out.write(f"; streams when {action.stream_param}=true")
    elif getattr(action, "streamed_always", False):
        out.write("; always streams")
    out.write("\n")
    if action.replaces:
        out.write(f"  replaces the action of the same name from {action.replaces}\n")
    out.write("\nparameters:\n")
    for p in action.params:
        kind = "file" if p.file is not None else _type_text(p.schema)
        flag = "required" if p.required else "optional"
        wire = f" (sent as {p.wire})" if p.wire != p.name else ""
        place = "an option of the composite, not sent" if p.location == "option" else f"in {p.location}"
        out.write(f"  {p.name}: {kind}, {flag}, {place}{wire}\n")
        lim = _limits(p.schema)
        if lim:
            out.write(textwrap.fill(lim, 100, initial_indent=" " * 6, subsequent_indent=" " * 6) + "\n")
        if p.description:
            for para in p.description.strip().split("\n\n"):
                out.write(textwrap.fill(" ".join(para.split()), 100, initial_indent=" " * 6,
                                        subsequent_indent=" " * 6) + "\n")
    return EXIT_OK


def catalogue(eng: Engine) -> dict[str, Any]:
    """Everything a platform needs to offer the actions: groups, forms, outputs."""
    conn = eng.manifest.connector
    actions = []
    for a in eng.actions():
        entry = {"name": a.name, "group": a.group, "summary": a.summary, "composite": a.composite,
                 "method": a.method, "path": a.path, "credential": a.credential,
                 "answer": a.response_kind, "pagination": a.pagination_name,
                 "streams_when": a.stream_param,
                 "input_schema": a.input_schema(), "output_schema": a.output_schema()}
        if a.composite:
            entry["calls"] = list(dict.fromkeys(a.calls))
        if a.replaces:
            entry["replaces"] = a.replaces
        actions.append(entry)
    groups: dict[str, list[str]] = {}
    for a in actions:
        groups.setdefault(a["group"], []).append(a["name"])
    return {
        "connector": {"name": conn["name"], "title": conn.get("title", conn["name"]),
                      "version": conn.get("version"), "base_url": conn["base_url"],
                      "credentials": {k: {"type": v["type"], "env": v.get("env"), "description": v.get("description")}
                                      for k, v in conn["credentials"].items()},
                      "default_credential": eng.manifest.default_credential},
        "groups": [{"name": g, "actions": names} for g, names in sorted(groups.items())],
        "actions": actions,
    }


def _read_jsonl(path: str) -> Any:
    """The inputs of a batch: one per non-blank line, numbered from 0 as every batch message numbers them."""
    with open(path, encoding="utf-8") as fh:
        index = 0
        for line in fh:
            if line.strip():
                try:
                    yield json.loads(line)
                except ValueError as exc:  # its position within the line, not json's "line 1" of it
                    why = f"{exc.msg} at character {exc.pos}" if isinstance(exc, json.JSONDecodeError) else exc
                    raise _Usage(f"--input {path}: input {index} is not JSON: {why}") from None
                index += 1


def _drop_from(path: str, index: int) -> None:
    """Cut a results file before its first line for `index` or later: those come again on resume."""
    with open(path, "r+b") as fh:
        pos = 0
        for line in fh:
            try:
                if json.loads(line)["index"] >= index:
                    break
            except (ValueError, KeyError, TypeError):
                break
            pos += len(line)
        fh.truncate(pos)


def _cmd_batch(eng: Engine, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    # Checked before the job is submitted: a job whose results had nowhere to go would be paid and lost.
    _writable(args.output, "--output")
    if args.handle:
        _writable(args.handle, "--handle")
    handle_path = Path(args.handle) if args.handle else None
    resuming = handle_path is not None and handle_path.exists()
    if resuming:
        try:
            handle = json.loads(handle_path.read_bytes())
        except (ValueError, RecursionError, OSError) as exc:  # a handle file is data from disk: anything may be there
            raise _Usage(f"--handle {args.handle} is not a batch handle this command wrote "
                         f"({type(exc).__name__})") from None
        job = eng.batch_results(handle)
        if job.done >= int(handle["total"]):
            _finished(args.handle, args.output, job.done, err)
            return EXIT_OK
        if Path(args.output).exists():
            _drop_from(args.output, job.done)
    else:
        if args.input is None:
            raise _Usage("batch needs --input PARAMS.jsonl (or --handle FILE of a job to resume)")
        if not Path(args.input).exists():
            raise _Usage(f"--input {args.input}: no such file")
        job = eng.batch(args.name, _read_jsonl(args.input), completion_window=args.completion_window)

    def save() -> None:
        if handle_path is not None:
            replace_file(handle_path, json.dumps(job.handle).encode())

    save()
    tty = err.isatty()
    done = failed = 0
    shown: list[str] = []
    mode = "a" if resuming else "w"
    with open(args.output, mode, encoding="utf-8") as fh:
        for index, result in job.results():
            if isinstance(result, errors.Error):
                failed += 1
                line = {"index": index, "error": {"type": type(result).__name__, "message": str(result)}}
                if len(shown) < _SHOWN_FAILED:
                    shown.append(f"input {index} failed: {type(result).__name__}: {_one_line(str(result))}\n")
            else:
                line = {"index": index, "result": result}
            fh.write(json.dumps(line, ensure_ascii=False) + "\n")
            done += 1
            if done % 100 == 0:
                fh.flush()
                save()
            if tty:
                err.write(f"\rinputs 0..{index} done, {job.failed} failed, {job.pending} batches pending")
        save()
    if tty:
        err.write("\n")
    err.write("".join(shown))
    if failed > len(shown):
        err.write(f"and {failed - len(shown)} more failed inputs (see {args.output})\n")
    err.write(f"{done} results ({failed} failed) written to {args.output}\n")
    return EXIT_OK


_SHOWN_FAILED = 20


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _finished(handle: str, output: str, total: int, err: TextIO) -> None:
    """Say that a resumed job has nothing left to deliver, and whether `output` holds its results; touch nothing."""
    held = 0
    try:
        with open(output, "rb") as fh:
            for line in fh:  # the results file holds input n on its line n
                try:
                    if json.loads(line).get("index") != held:
                        break
                except (ValueError, RecursionError, AttributeError):
                    break
                held += 1
    except OSError:
        pass  # no results file there (or none this user can read): it does not hold them
    if not total:
        where = "it had no inputs"
    elif held >= total:
        where = f"{output} holds them (inputs 0..{total - 1}) and was not written"
    else:
        where = f"{output} does not hold them and was not written (the run that finished the job wrote them)"
    err.write(f"batch job {handle} is finished: its {total} results were all delivered before; {where}\n")


def _cmd_drift(eng: Engine, args: argparse.Namespace, out: TextIO) -> int:
    from . import drift, openapi

    try:
        spec = openapi.load_spec(args.spec)
    except OSError as exc:
        raise _Usage(f"cannot read {args.spec}: {exc.strerror}") from None
    except errors.Error as exc:  # not YAML, or not an OpenAPI description: the argument is wrong
        raise _Usage(str(exc)) from None
    report = drift.compare(eng.manifest, spec)
    if args.json:
        _print_json(report, out)
    else:
        out.write(drift.render_text(report))
    return EXIT_DRIFT if report["drift"] else EXIT_OK


def _cmd_import(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Write a starting manifest for an OpenAPI description; what to check goes to stderr."""
    from . import importer
    from .manifest import load

    if args.output != "-":
        if os.path.exists(args.output) and not args.force:
            raise _Usage(f"-o {args.output}: the file exists (give --force to replace it)")
        _writable(args.output, "-o")
    try:
        if args.overrides:
            from .overrides import import_with_overrides

            manifest, notes = import_with_overrides(args.spec, args.overrides)
        else:
            manifest, notes = importer.import_spec(args.spec)
    except OSError as exc:
        raise _Usage(f"cannot read {exc.filename or args.spec}: {exc.strerror}") from None
    except errors.Error as exc:  # not YAML, or not an OpenAPI 3 description: the argument is wrong
        raise _Usage(str(exc)) from None
    load(manifest)  # what is written always loads; a ManifestError here is the importer's own bug
    text = importer.render(manifest, notes, os.path.basename(args.spec))
    if args.output == "-":
        out.write(text)
        out.flush()
    else:
        with open(args.output, "w", encoding="utf-8") as fh:
            fh.write(text)
    actions = manifest["actions"]
    err.write(f"imported {len(actions)} actions, {len(manifest.get('schemas', {}))} schemas and "
              f"{len(manifest['connector']['credentials'])} credentials from {args.spec}"
              f"{'' if args.output == '-' else ' into ' + args.output}\n")
    if notes:
        kinds: dict[str, int] = {}
        for note in notes:
            kinds[note.kind] = kinds.get(note.kind, 0) + 1
        err.write(f"to check ({', '.join(f'{n} {k}' for k, n in sorted(kinds.items()))}; "
                  f"marked '# import:' in the manifest):\n")
        for note in notes:
            err.write(f"  - [{note.kind}] {note}\n")
    return EXIT_OK


_ENGINE_OPTIONS = frozenset(n for n, p in inspect.signature(Engine.__init__).parameters.items()
                            if p.kind is not inspect.Parameter.VAR_KEYWORD)


def _settings(pairs: list[str]) -> dict[str, str]:
    """`--set NAME=VALUE` pairs as keyword arguments, the last of a name winning."""
    out: dict[str, str] = {}
    for pair in pairs or ():
        name, eq, value = pair.partition("=")
        if not eq or not name.isidentifier():
            raise _Usage(f"--set {pair!r}: give it as NAME=VALUE")
        if name in _ENGINE_OPTIONS:
            raise _Usage(f"--set {name}: that is not a setting but an option of the engine's own")
        out[name] = value
    return out


def _writable(path: str, flag: str) -> None:
    """Refuse an output path that cannot be written before anything is sent (or paid for)."""
    folder = os.path.dirname(os.path.realpath(path))  # through a symlink, the folder of the file it names
    if not os.path.isdir(folder):
        raise _Usage(f"{flag} {path}: no such folder {folder}")
    if os.path.isdir(path):
        raise _Usage(f"{flag} {path}: is a folder")
    if not os.access(folder, os.W_OK) or (os.path.exists(path) and not os.access(path, os.W_OK)):
        raise _Usage(f"{flag} {path}: not writable")


def _read_input(path: str, flag: str) -> bytes:
    """A file's bytes exactly as they are (`-` for stdin): the signature covers every byte."""
    try:
        if path == "-":
            return sys.stdin.buffer.read()
        with open(path, "rb") as fh:
            return fh.read()
    except OSError as exc:
        raise _Usage(f"{flag} {path}: {exc.strerror}") from None


def _header_lines(text: str, flag: str) -> list[tuple[str, str]]:
    """`Name: value` lines (as HTTP writes them), or a JSON object of names to values."""
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            loaded = json.loads(stripped)
        except ValueError:
            raise _Usage(f"{flag}: not a JSON object of header names to values") from None
        if not isinstance(loaded, dict) or not all(isinstance(v, str) for v in loaded.values()):
            raise _Usage(f"{flag}: a JSON object of header names to string values")
        return list(loaded.items())
    pairs = []
    for line in text.splitlines():
        if not line.strip():
            continue
        name, colon, value = line.partition(":")
        if not colon or not name.strip():
            raise _Usage(f"{flag}: each header is 'Name: value' (line {len(pairs) + 1} is not)")
        pairs.append((name.strip(), value.strip()))
    return pairs


def _cmd_webhook(eng: Engine, args: argparse.Namespace, out: TextIO) -> int:
    body = _read_input(args.body, "--body")
    headers: list[tuple[str, str]] = []
    if args.headers_file:
        headers += _header_lines(_read_input(args.headers_file, "--headers-file").decode("utf-8", "replace"),
                                 "--headers-file")
    for line in args.header or ():
        headers += _header_lines(line, "--header")
    secret = None
    if args.secret_env:
        secret = os.environ.get(args.secret_env)  # named by the caller: no manifest asked for it
        if not secret:
            raise _Usage(f"--secret-env {args.secret_env}: the variable is not set")
    _print_json(eng.unwrap_webhook(body, headers, secret), out)
    return EXIT_OK


def _cmd_run(eng: Engine, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    action = eng.action(args.name)
    params = parse_params(action, args.param or [], args.params_file)
    try:
        return _run(eng, action, params, args, out, err)
    except errors.MissingCredentialError:
        raise
    except errors.ValidationError as exc:
        exc.args = (str(exc) + _quoting_hints(action, args.param or [], params, exc),)
        raise


def _run(eng: Engine, action: Any, params: dict[str, Any], args: argparse.Namespace, out: TextIO,
         err: TextIO) -> int:
    if args.stream:
        if not action.stream_param:
            raise _Usage(f"{action.name} does not stream")
        params[action.stream_param] = True
    if args.dry_run:
        auth = eng.manifest.credentials.get(action.credential)
        out.write(to_curl(eng.prepare(action.name, params, redact=True), auth.query_names() if auth else ()) + "\n")
        return EXIT_OK
    if args.output and action.response_kind != "binary":
        raise _Usage(f"-o is for binary answers; {action.name} answers with {action.response_kind}: "
                     "redirect stdout instead")
    if args.all:
        if action.pagination is None:
            raise _Usage(f"{action.name} does not return a list: --all does not apply")
        walk = eng.paginate(action.name, params, max_items=args.max_items)
        tty = err.isatty()
        for n, item in enumerate(walk, 1):
            out.write(json.dumps(item, ensure_ascii=False) + "\n")
            out.flush()  # as they arrive: a pipe's reader must not wait for the next page's fetch
            if tty:
                err.write(f"\r{n} items, {walk.pages} pages")
        if tty:
            err.write("\n")
        return EXIT_OK
    if action.response_kind == "binary":
        if not args.output:
            raise _Usage(f"{action.name} answers with binary data: give -o FILE (or -o - for stdout)")
        if args.output == "-":
            target: Any = getattr(out, "buffer", None)
            if target is None:
                raise _Usage("-o -: this output takes text only")
            size = eng.run(action.name, params, output=target)
            target.flush()
            err.write(f"wrote {size} bytes to stdout\n")
            return EXIT_OK
        _writable(args.output, "-o")
        size = eng.run(action.name, params, output=args.output)
        err.write(f"wrote {size} bytes to {args.output}\n")
        return EXIT_OK
    result = eng.run(action.name, params)
    if hasattr(result, "__next__"):
        with result:
            for event in result:
                out.write(json.dumps({"event": event.event, "data": event.data}, ensure_ascii=False) + "\n")
                out.flush()
        return EXIT_OK
    if isinstance(result, str):
        out.write(result if result.endswith("\n") else result + "\n")
    else:
        _print_json(result, out)
    return EXIT_OK


def _cmd_check(eng: Engine, args: argparse.Namespace, out: TextIO) -> int:
    from . import platform

    if not eng.manifest.checks:
        raise _Usage("this manifest declares no connection checks (connector.checks)")
    results = eng.check(args.credential or None)
    if args.json:
        _print_json(results, out)
    else:
        platform.print_checks(results, out)
    return platform.check_exit_code(results)


def _cmd_options(eng: Engine, args: argparse.Namespace, out: TextIO) -> int:
    action = eng.manifest.triggers.get(args.name) or eng.action(args.name)
    params = parse_params(action, args.param or [], None)
    found = eng.options(action.name, args.param_name, params)
    if args.json:
        _print_json(found, out)
        return EXIT_OK
    width = min(max((len(str(o["value"])) for o in found), default=0), 40)
    for option in found:
        value = option["value"] if isinstance(option["value"], str) else json.dumps(option["value"])
        out.write(f"{value.ljust(width)}  {option['label']}\n" if option["label"] != value else f"{value}\n")
    return EXIT_OK


def _cmd_trigger(eng: Engine, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Events out first, state saved after.

    To stdout, a crash in between repeats the last batch (same event ids) and never loses one. With
    `--output FILE` the batch is journaled first, so the next run finishes what a crash cut short: each
    event is in the file exactly once.
    """
    from . import platform

    trigger = eng.manifest.triggers.get(args.name)
    params = parse_params(trigger, args.param or [], None) if trigger is not None else {}
    _writable(args.state, "--state")
    if args.output:
        _writable(args.output, "--output")
        platform.finish_journal(args.state, args.output)
    events, state = eng.poll_trigger(args.name, platform.read_state(args.state), params)
    if args.output:
        platform.deliver(args.state, args.output, events, state)
    else:
        platform.emit_events(events, out)
        platform.write_state(args.state, state)
    if err.isatty():
        err.write(f"{len(events)} events; state saved to {args.state}\n")
    return EXIT_OK


def _global_options(ap: argparse.ArgumentParser, defaults: bool) -> None:
    """The options that apply to every command; accepted before the command and after it.

    After the command they default to SUPPRESS, so leaving them out there keeps what came before.
    """
    def d(value: Any) -> Any:
        return value if defaults else argparse.SUPPRESS

    ap.add_argument("--manifest", action="append", metavar="FILE", default=d(None),
                    help="manifest to load: a file, 'bundled', or a bundled manifest's name (repeat to layer "
                         "one over another)")
    ap.add_argument("--trust-manifest", action="store_true", default=d(False),
                    help="trust the --manifest files: they may read any environment variable they name and "
                         "send credentials to any base_url (see the README's trust model)")
    ap.add_argument("--allow-env", action="append", metavar="NAME", default=d([]),
                    help="let the manifest read this environment variable for a credential or setting (repeatable)")
    ap.add_argument("--allow-origin", action="append", metavar="URL", default=d([]),
                    help="let credentials go to this origin although the manifest declared them for another")
    ap.add_argument("--set", action="append", metavar="NAME=VALUE", default=d([]), dest="settings",
                    help="a setting the manifest declares (connector.settings), as Engine(NAME=VALUE) takes it; "
                         "credentials are never given here (repeatable)")
    ap.add_argument("--base-url", default=d(None), help="send requests to this base URL instead of the manifest's")
    ap.add_argument("--sandbox", action="store_true", default=d(False),
                    help="answer every action in process: no network, no key, no cost")
    ap.add_argument("--sandbox-state", metavar="FILE", default=d(None),
                    help="keep the sandbox's objects in FILE across runs (implies --sandbox)")


_EXAMPLES = {
    "actions": "openai-connector actions --group audio",
    "describe": "openai-connector describe chat.completions.create",
    "drift": "openai-connector drift openapi.yaml --json",
    "batch": "openai-connector batch embeddings.create --input params.jsonl --output results.jsonl --handle job.json",
    "export": "openai-connector export --format json > catalogue.json",
    "webhook": "openai-connector webhook verify --body body.json --headers-file headers.txt",
    "import": "openai-connector import openapi.yaml -o mine.yaml",
    "check": "openai-connector check --json",
    "options": "openai-connector --sandbox options chat.completions.create model",
    "trigger": "openai-connector --sandbox trigger files.created --state files.state.json",
    "run": "openai-connector run chat.completions.create -p model=gpt-4o-mini "
           "-p 'messages=[{\"role\": \"user\", \"content\": \"Hi\"}]' --dry-run",
}


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="openai-connector", description="Run any action of the connector manifest.",
                                 allow_abbrev=False, epilog="exit codes: 0 ok, 1 other engine error, 2 usage, "
                                 "3 invalid params (nothing sent), 4 the API answered an error, 5 network, "
                                 "6 a credential is missing")
    ap.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    _global_options(ap, defaults=True)
    common = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    _global_options(common, defaults=False)
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help, description=help, parents=[common], allow_abbrev=False,
                              epilog=f"example: {_EXAMPLES[name]}")

    a = command("actions", "list actions")
    a.add_argument("--group", help="only the actions of this group")
    a.add_argument("--json", action="store_true", help="print them as JSON")
    d = command("describe", "show an action's parameters")
    d.add_argument("name", help="the action")
    d.add_argument("--schema", action="store_true", help="print the input JSON Schema")
    d.add_argument("--output-schema", action="store_true", help="print the output JSON Schema")
    dr = command("drift", "compare the manifest with an OpenAPI description; exit 1 on drift")
    dr.add_argument("spec", metavar="SPEC.yaml", help="the newer OpenAPI description")
    dr.add_argument("--json", action="store_true", help="print the report as JSON")
    b = command("batch", "run many calls of one action through the Batch API")
    b.add_argument("name", help="the action")
    b.add_argument("--input", metavar="PARAMS.jsonl",
                   help="one JSON object of params a line (not needed to resume from --handle)")
    b.add_argument("--output", required=True, metavar="RESULTS.jsonl", help="where each input's result goes")
    b.add_argument("--completion-window", default="24h", help="the batch's completion window (default 24h)")
    b.add_argument("--handle", metavar="FILE",
                   help="where the job's handle is kept; if it exists, the job is resumed from it")
    ex = command("export", "write the whole catalogue (actions, groups, schemas) as one document")
    ex.add_argument("--format", choices=["json"], default="json", help="the document's format (json)")
    w = command("webhook", "check an incoming webhook with the manifest's declared scheme")
    wsub = w.add_subparsers(dest="webhook_command", required=True, metavar="verify", help="verify a webhook")
    wv = wsub.add_parser("verify", help="print the event of a genuine webhook; exit 7 if it is not one",
                         epilog=f"example: {_EXAMPLES['webhook']}")
    wv.add_argument("--body", required=True, metavar="FILE", help="the body exactly as received ('-' for stdin)")
    wv.add_argument("--header", action="append", metavar="'NAME: VALUE'", help="a header received (repeatable)")
    wv.add_argument("--headers-file", metavar="FILE",
                    help="the headers received: 'Name: value' lines, or a JSON object")
    wv.add_argument("--secret-env", metavar="NAME",
                    help="the variable holding the secret (default: the one the manifest declares)")
    im = command("import", "write a starting manifest from an OpenAPI 3.0 or 3.1 description")
    im.add_argument("spec", metavar="SPEC.yaml", help="the OpenAPI description")
    im.add_argument("-o", "--output", required=True, metavar="FILE", help="the manifest to write ('-' for stdout)")
    im.add_argument("--force", action="store_true", help="replace FILE if it exists")
    im.add_argument("--overrides", metavar="FILE",
                    help="apply what the description cannot say, kept apart so a new description re-imports "
                         "(docs/language.md#overrides)")
    c = command("check", "prove each credential works, as connector.checks declares; one line each")
    c.add_argument("credential", nargs="*", help="only these credentials (default: every declared check)")
    c.add_argument("--json", action="store_true", help="print the results as JSON")
    o = command("options", "list the choices for a param, as its `options` declare")
    o.add_argument("name", help="the action (or trigger)")
    o.add_argument("param_name", metavar="PARAM", help="the param")
    o.add_argument("-p", "--param", action="append", metavar="KEY=VALUE", help="a param already filled in")
    o.add_argument("--json", action="store_true", help="print them as a JSON list of {value, label}")
    t = command("trigger", "poll a trigger: new events as JSON Lines, then the state is saved")
    t.add_argument("name", help="the trigger")
    t.add_argument("--state", required=True, metavar="FILE",
                   help="the trigger's state: read (a missing file is the first poll), then replaced whole")
    t.add_argument("-p", "--param", action="append", metavar="KEY=VALUE", help="a param of the trigger")
    t.add_argument("--output", metavar="FILE",
                   help="append the events to FILE instead of stdout: then a crash never drops nor repeats one")
    r = command("run", "call an action")
    r.add_argument("name", help="the action")
    r.add_argument("-p", "--param", action="append", metavar="KEY=VALUE",
                   help="a param; the value is JSON where it parses (quote text that looks like JSON), "
                        "@PATH for a file")
    r.add_argument("--params-file", metavar="FILE", help="params as one JSON object (-p values win)")
    r.add_argument("--dry-run", action="store_true", help="print the request as curl; send nothing")
    r.add_argument("-o", "--output", metavar="FILE", help="write a binary answer here (- for stdout)")
    r.add_argument("--stream", action="store_true", help="stream events as JSON Lines")
    r.add_argument("--all", action="store_true", help="walk every page; items as JSON Lines")
    r.add_argument("--max-items", type=int, metavar="N", help="with --all: stop after N items")
    return ap


def main(argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    ap = _parser()
    try:
        args = ap.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0) and EXIT_USAGE
    if args.command == "import":  # needs no manifest and no Engine
        try:
            return _cmd_import(args, out, err)
        except (_Usage, errors.Error) as exc:
            err.write(f"openai-connector: {exc}\n")
            return next(code for cls, code in _EXIT_CODES if isinstance(exc, cls))
    manifests: Any = None
    if args.manifest:
        from .manifest import BUNDLED

        manifests = [BUNDLED if m == "bundled" else m for m in args.manifest]
    try:
        settings = _settings(args.settings)
        if settings:
            from .manifest import BUNDLED, load

            secret = sorted(set(settings) & set(load(manifests or BUNDLED).connector.get("credentials", {})))
            if secret:
                raise _Usage(f"--set {secret[0]}: a credential is never given on the command line (it would "
                             f"stay in the shell's history): put it in its environment variable")
        try:
            eng = Engine(manifests, base_url=args.base_url, sandbox=args.sandbox,
                         sandbox_state=args.sandbox_state, trust_manifest=args.trust_manifest,
                         allow_env=args.allow_env, allow_origins=args.allow_origin, **settings)
        except TypeError as exc:  # a --set name the manifest does not declare
            raise _Usage(f"--set: {str(exc).replace('Engine() got an unexpected keyword argument', 'no setting')}") \
                from None
        with eng:
            if args.command == "actions":
                return _cmd_actions(eng, args, out)
            if args.command == "describe":
                return _cmd_describe(eng, args, out)
            if args.command == "export":
                _print_json(catalogue(eng), out)
                return EXIT_OK
            if args.command == "batch":
                return _cmd_batch(eng, args, out, err)
            if args.command == "drift":
                return _cmd_drift(eng, args, out)
            if args.command == "webhook":
                return _cmd_webhook(eng, args, out)
            if args.command == "check":
                return _cmd_check(eng, args, out)
            if args.command == "options":
                return _cmd_options(eng, args, out)
            if args.command == "trigger":
                return _cmd_trigger(eng, args, out, err)
            return _cmd_run(eng, args, out, err)
    except errors.MissingCredentialError as exc:
        envs = " or ".join(exc.env) if exc.env else None
        how = f"set {envs}" if envs else f"pass the {exc.credential!r} credential"
        if exc.unread:  # named by a manifest the caller did not allow to read it
            how = f"allow the manifest to read it with {' '.join('--allow-env ' + v for v in exc.unread)}"
        err.write(f"openai-connector: {exc.action} needs the {exc.credential!r} credential: {how}, or try it "
                  f"without one: --dry-run prints the request, --sandbox answers offline\n")
        return EXIT_NO_KEY
    except (_Usage, errors.Error) as exc:
        err.write(f"openai-connector: {exc}\n")
        return next(code for cls, code in _EXIT_CODES if isinstance(exc, cls))
    except KeyboardInterrupt:
        err.write("openai-connector: interrupted\n")
        return 130
    except BrokenPipeError:
        # The reader went away (`... | head`): stop quietly, and keep Python's own flush at exit quiet too.
        if out is sys.stdout:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
