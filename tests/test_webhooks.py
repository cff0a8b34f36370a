"""Incoming webhooks: Standard Webhooks signatures, timestamps, declared events, the trust rules and the CLI.

Every webhook here is signed in the test with the algorithm as the spec writes it
(standardwebhooks.com): base64(HMAC-SHA256(base64-decoded secret, "<id>.<timestamp>.<body>")).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest

import engine
from conftest import run_cli
from engine.manifest import BUNDLED

NOW = 1_767_225_600
KEY = b"webhook-test-key-0123456789abcdef"
SECRET = "whsec_" + base64.b64encode(KEY).decode()
EVENT = {"id": "evt_1", "type": "batch.completed", "created_at": NOW, "data": {"id": "batch_1"}}


@pytest.fixture(autouse=True)
def _no_secret_in_env(monkeypatch):
    for name in ("OPENAI_WEBHOOK_SECRET", "MY_WEBHOOK_SECRET"):
        monkeypatch.delenv(name, raising=False)


def sign(body: bytes, msg_id: str = "msg_1", timestamp: int | str = NOW, key: bytes = KEY) -> str:
    digest = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signed(event=EVENT, *, msg_id: str = "msg_1", timestamp: int | str = NOW, key: bytes = KEY):
    body = json.dumps(event).encode()
    return body, {"webhook-id": msg_id, "webhook-timestamp": str(timestamp),
                  "webhook-signature": sign(body, msg_id, timestamp, key)}


def hooks_manifest(**webhooks):
    """A small manifest declaring a Standard Webhooks scheme with one event type."""
    scheme = {"type": "standard_webhooks",
              "events": {"batch.completed": {"$ref": "#/schemas/WebhookBatchCompleted"}}, **webhooks}
    return engine.load({
        "manifest_version": 2,
        "connector": {"name": "hooks", "base_url": "https://api.example.test", "credentials": {"key": {
            "type": "header", "header": "Authorization"}}, "webhooks": scheme},
        "schemas": {"WebhookBatchCompleted": {
            "type": "object", "required": ["id", "type", "created_at", "data"], "additionalProperties": False,
            "properties": {"id": {"type": "string"}, "type": {"type": "string", "enum": ["batch.completed"]},
                           "created_at": {"type": "integer"},
                           "data": {"type": "object", "required": ["id"], "properties": {"id": {"type": "string"}}}}}},
        "actions": [],
    })


HOOKS = hooks_manifest()


def unwrap(body, headers, secret=SECRET, m=HOOKS, now=NOW):
    return engine.webhooks.unwrap(body, headers, secret, manifest=m, now=now)


# -- signatures ------------------------------------------------------------------------------------

def test_the_specs_published_test_vector_verifies():
    body = b'{"test": 2432232314}'
    headers = {"webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek", "webhook-timestamp": "1614265330",
               "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="}
    plain = hooks_manifest(events={})
    assert unwrap(body, headers, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", plain, 1614265330) == {"test": 2432232314}
    assert sign(body, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330,
                base64.b64decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")) == headers["webhook-signature"]


def test_a_genuine_webhook_gives_its_event():
    body, headers = signed()
    assert unwrap(body, headers) == EVENT
    assert unwrap(body.decode(), headers) == EVENT  # a str body is the UTF-8 text received


def test_one_matching_signature_among_several_is_enough_and_only_v1_counts():
    body, headers = signed()
    good = headers["webhook-signature"]
    wrong = sign(body, key=b"an-older-rotated-key")
    headers["webhook-signature"] = f"v1,{wrong[3:]} v2,{good[3:]} v1,not-base64!! {good}"
    assert unwrap(body, headers) == EVENT
    headers["webhook-signature"] = f"v2,{good[3:]} v1a,{good[3:]}"  # the right digest, under other versions
    with pytest.raises(engine.WebhookSignatureError, match="no v1 signature"):
        unwrap(body, headers)
    headers["webhook-signature"] = wrong
    with pytest.raises(engine.WebhookSignatureError, match="1 v1 signature checked"):
        unwrap(body, headers)


def test_a_wrong_secret_or_a_changed_body_is_a_signature_error():
    body, headers = signed()
    other = "whsec_" + base64.b64encode(b"another-key-entirely").decode()
    with pytest.raises(engine.WebhookSignatureError, match="wrong secret, or a body changed"):
        unwrap(body, headers, other)
    with pytest.raises(engine.WebhookSignatureError):
        unwrap(body.replace(b"batch_1", b"batch_2"), headers)
    with pytest.raises(engine.WebhookSignatureError):
        unwrap(body + b" ", headers)  # the bytes as received: even whitespace counts
    moved = {**headers, "webhook-id": "msg_2"}  # the id is signed too
    with pytest.raises(engine.WebhookSignatureError):
        unwrap(body, moved)


@pytest.mark.parametrize("missing, error", [("webhook-id", engine.WebhookSignatureError),
                                            ("webhook-signature", engine.WebhookSignatureError),
                                            ("webhook-timestamp", engine.WebhookTimestampError)])
def test_a_missing_header_is_a_typed_error_naming_it(missing, error):
    body, headers = signed()
    del headers[missing]
    with pytest.raises(error, match=missing):
        unwrap(body, headers)


def test_header_names_are_case_insensitive_and_may_come_as_pairs():
    body, headers = signed()
    assert unwrap(body, {k.upper(): v for k, v in headers.items()}) == EVENT
    assert unwrap(body, [(k.title().encode(), v.encode()) for k, v in headers.items()]) == EVENT


def test_digests_are_compared_in_constant_time(monkeypatch):
    calls = []
    real = hmac.compare_digest

    def recording(a, b):
        calls.append((type(a), type(b)))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", recording)
    body, headers = signed()
    headers["webhook-signature"] = sign(body, key=b"wrong") + " " + headers["webhook-signature"]
    assert unwrap(body, headers) == EVENT
    assert calls == [(bytes, bytes), (bytes, bytes)]


# -- secrets ---------------------------------------------------------------------------------------

def test_a_secret_with_or_without_its_prefix_and_a_raw_secret():
    body, headers = signed()
    assert unwrap(body, headers, SECRET[len("whsec_"):]) == EVENT  # base64 without the prefix
    raw = hooks_manifest(secret_encoding="raw", secret_prefix="")
    text_key = "a raw secret, used as it is"
    body, headers = signed(key=text_key.encode())
    assert unwrap(body, headers, text_key, raw) == EVENT
    with pytest.raises(engine.WebhookSignatureError):
        unwrap(body, headers, base64.b64encode(text_key.encode()).decode(), raw)


def test_a_secret_that_is_not_base64_is_refused_without_showing_it():
    body, headers = signed()
    bad = "whsec_not*base64*SECRETVALUE"
    with pytest.raises(engine.WebhookError, match="not base64 after its 'whsec_' prefix") as info:
        unwrap(body, headers, bad)
    assert type(info.value) is engine.WebhookError
    assert "SECRETVALUE" not in str(info.value) and "SECRETVALUE" not in repr(info.value)
    with pytest.raises(engine.WebhookError, match="no webhook secret"):
        unwrap(body, headers, None)


def test_no_message_or_repr_holds_the_secret_or_a_signature():
    body, headers = signed()
    good = headers["webhook-signature"]
    failures = [
        (body + b"x", headers, SECRET),
        (body, headers, "whsec_" + base64.b64encode(b"SECRET-other-key").decode()),
        (body, {**headers, "webhook-timestamp": str(NOW - 10_000)}, SECRET),
        (body, {**headers, "webhook-signature": "v1,AAAA " + good[3:]}, SECRET),
    ]
    for case_body, case_headers, secret in failures:
        with pytest.raises(engine.WebhookError) as info:
            unwrap(case_body, case_headers, secret)
        text = str(info.value) + repr(info.value) + repr(info.value.args)
        for hidden in (secret, secret[len("whsec_"):], good, good[3:], case_headers["webhook-signature"][3:]):
            assert hidden not in text, (hidden, text)


# -- timestamps ------------------------------------------------------------------------------------

@pytest.mark.parametrize("offset, word", [(-301, "old"), (301, "in the future")])
def test_a_stale_or_future_timestamp_is_refused_even_when_signed(offset, word):
    body, headers = signed(timestamp=NOW + offset)
    with pytest.raises(engine.WebhookTimestampError, match=word):
        unwrap(body, headers)
    body, headers = signed(timestamp=NOW + (300 if offset > 0 else -300))  # the edge of the tolerance is in
    assert unwrap(body, headers) == EVENT


def test_the_tolerance_is_the_manifests_and_the_clock_is_real_by_default():
    body, headers = signed(timestamp=NOW - 100)
    with pytest.raises(engine.WebhookTimestampError, match="tolerance is 60 s"):
        unwrap(body, headers, m=hooks_manifest(tolerance=60))
    with pytest.raises(engine.WebhookTimestampError):
        engine.webhooks.unwrap(body, headers, SECRET, manifest=HOOKS)  # the real clock: years after NOW
    import time

    body, headers = signed(timestamp=int(time.time()))
    assert engine.webhooks.unwrap(body, headers, SECRET, manifest=HOOKS) == EVENT


@pytest.mark.parametrize("stamp", ["", "soon", "1.5e9", "-1", " 1767225600", "１７６７２２５６００"])
def test_a_timestamp_that_is_not_whole_seconds_is_a_timestamp_error(stamp):
    body, headers = signed(timestamp=stamp)
    with pytest.raises(engine.WebhookTimestampError):
        unwrap(body, headers)


# -- events ----------------------------------------------------------------------------------------

def test_the_event_is_validated_against_its_declared_schema():
    for broken, where in [({k: v for k, v in EVENT.items() if k != "data"}, "required"),
                          ({**EVENT, "created_at": "yesterday"}, "created_at"),
                          ({**EVENT, "data": {}}, "data")]:
        body, headers = signed(broken)
        with pytest.raises(engine.WebhookEventError, match=where):
            unwrap(body, headers)


def test_fields_the_schema_does_not_list_are_never_refused():
    event = {**EVENT, "object": "event", "new_field": [1], "data": {"id": "batch_1", "also_new": True}}
    body, headers = signed(event)
    assert unwrap(body, headers) == event  # though the schema says additionalProperties: false


def test_an_unknown_or_missing_event_type_is_an_event_error():
    body, headers = signed({**EVENT, "type": "batch.exploded"})
    with pytest.raises(engine.WebhookEventError, match="unknown webhook event type 'batch.exploded'.*batch.completed"):
        unwrap(body, headers)
    body, headers = signed({k: v for k, v in EVENT.items() if k != "type"})
    with pytest.raises(engine.WebhookEventError, match="no event type at `type`"):
        unwrap(body, headers)


def test_a_body_that_is_not_a_json_object_is_an_event_error_after_the_signature():
    for raw in (b"not json", b"[1, 2]", b'{"x": NaN}', b"[" * 100_000):
        headers = {"webhook-id": "msg_1", "webhook-timestamp": str(NOW), "webhook-signature": sign(raw)}
        with pytest.raises(engine.WebhookEventError, match="not JSON|not an object"):
            unwrap(raw, headers)
        with pytest.raises(engine.WebhookSignatureError):  # nothing is parsed before the signature checks out
            unwrap(raw, {**headers, "webhook-signature": sign(raw, key=b"other")})


def test_with_no_events_declared_the_verified_payload_is_returned_as_is():
    body, headers = signed({"type": "anything.at.all", "x": 1})
    assert unwrap(body, headers, m=hooks_manifest(events={})) == {"type": "anything.at.all", "x": 1}


def test_the_event_type_can_come_from_a_path_or_a_header():
    nested = hooks_manifest(event_field="meta.kind", events={"a": {"required": ["meta"]}})
    body, headers = signed({"meta": {"kind": "a"}})
    assert unwrap(body, headers, m=nested) == {"meta": {"kind": "a"}}
    by_header = hooks_manifest(event_header="X-Event", events={"a": {"required": ["meta"]}})
    assert unwrap(body, {**headers, "x-event": "a"}, m=by_header) == {"meta": {"kind": "a"}}
    with pytest.raises(engine.WebhookEventError, match="x-event header"):
        unwrap(body, headers, m=by_header)


def test_event_schemas_are_checked_at_load():
    with pytest.raises(engine.ManifestError, match="'#/schemas/WebhookBatchDone' does not resolve"):
        hooks_manifest(events={"batch.completed": {"$ref": "#/schemas/WebhookBatchDone"}})
    with pytest.raises(engine.ManifestError, match="webhook event 'x' has an invalid JSON Schema"):
        hooks_manifest(events={"x": {"type": "objekt"}})
    with pytest.raises(engine.ManifestError, match="tolerance"):
        hooks_manifest(tolerance=-1)
    with pytest.raises(engine.ManifestError, match="does not point inside the manifest"):
        hooks_manifest(events={"x": {"$ref": "https://example.test/schema.json"}})


def test_a_manifest_without_a_webhook_scheme_says_so():
    plain = engine.load({"manifest_version": 2, "connector": {
        "name": "plain", "base_url": "https://api.example.test", "credentials": {"key": {
            "type": "header", "header": "Authorization"}}}, "actions": []})
    body, headers = signed()
    with pytest.raises(engine.WebhookError, match="declares no webhook scheme"):
        unwrap(body, headers, m=plain)


# -- another scheme in the same family --------------------------------------------------------------

def test_an_hmac_of_the_body_in_one_header_as_github_signs():
    github = engine.load({"manifest_version": 2, "connector": {
        "name": "gh", "base_url": "https://api.example.test", "credentials": {"key": {
            "type": "header", "header": "Authorization"}},
        "webhooks": {"type": "hmac_sha256", "header": "X-Hub-Signature-256", "prefix": "sha256=",
                     "event_header": "X-GitHub-Event", "events": {"ping": {"required": ["zen"]}}}}, "actions": []})
    # GitHub's documented example: the secret "It's a Secret to Everybody" and the payload "Hello, World!".
    scheme = github.webhooks
    expected = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    scheme.verify(b"Hello, World!", {"x-hub-signature-256": expected}, scheme.key("It's a Secret to Everybody"), 0)
    body = b'{"zen": "Keep it logically awesome."}'
    good = "sha256=" + hmac.new(b"gh-secret", body, hashlib.sha256).hexdigest()
    headers = {"X-Hub-Signature-256": good, "X-GitHub-Event": "ping"}
    assert unwrap(body, headers, "gh-secret", github) == json.loads(body)
    for bad in (good.upper(), good[:-2], "sha1=" + good[7:], good[:-1] + "0"):
        with pytest.raises(engine.WebhookSignatureError):
            unwrap(body, {**headers, "X-Hub-Signature-256": bad}, "gh-secret", github)
    with pytest.raises(engine.WebhookEventError, match="unknown webhook event type 'push'"):
        unwrap(body, {**headers, "X-GitHub-Event": "push"}, "gh-secret", github)


# -- the bundled manifest, the Engine and the trust rules -------------------------------------------

def test_the_bundled_manifest_declares_standard_webhooks_with_its_secrets_variable(monkeypatch, manifest):
    scheme = manifest.webhooks
    assert scheme.type == "standard_webhooks" and scheme.secret_env == "OPENAI_WEBHOOK_SECRET"
    body, headers = signed()
    monkeypatch.setenv("OPENAI_WEBHOOK_SECRET", SECRET)
    eng = engine.Engine(manifest)
    assert eng.unwrap_webhook(body, headers, now=NOW) == EVENT  # no events in this description: as is
    assert engine.webhooks.unwrap(body, headers, engine=eng, now=NOW) == EVENT
    assert engine.webhooks.unwrap(body, headers, manifest=manifest, now=NOW) == EVENT
    assert SECRET not in repr(vars(eng))


def test_a_layer_naming_another_variable_for_the_secret_gets_nothing_unless_allowed(tmp_path, monkeypatch):
    layer = tmp_path / "user.yaml"
    layer.write_text("connector:\n  webhooks:\n    secret_env: MY_WEBHOOK_SECRET\n")
    monkeypatch.setenv("MY_WEBHOOK_SECRET", SECRET)
    body, headers = signed()
    layered = engine.load([BUNDLED, layer])  # loaded once: the Engines below share it
    with pytest.raises(engine.WebhookError, match="allow_env=\\['MY_WEBHOOK_SECRET'\\]"):
        engine.Engine(layered).unwrap_webhook(body, headers, now=NOW)
    with pytest.raises(engine.WebhookError, match="allow it"):
        engine.webhooks.unwrap(body, headers, manifest=layered, now=NOW)
    assert engine.Engine(layered, allow_env=["MY_WEBHOOK_SECRET"]).unwrap_webhook(body, headers, now=NOW) == EVENT
    assert engine.Engine(layered, trust_manifest=True).unwrap_webhook(body, headers, now=NOW) == EVENT
    assert engine.Engine(layered).unwrap_webhook(body, headers, SECRET, now=NOW) == EVENT


# -- the command line ------------------------------------------------------------------------------

def _cli_files(tmp_path, event=EVENT, timestamp=None):
    import time

    body, headers = signed(event, timestamp=int(time.time()) if timestamp is None else timestamp)
    (tmp_path / "body.json").write_bytes(body)
    (tmp_path / "headers.txt").write_text("".join(f"{k}: {v}\n" for k, v in headers.items()))
    (tmp_path / "headers.json").write_text(json.dumps(headers))
    return headers


def test_cli_webhook_verify_prints_the_event(tmp_path, monkeypatch):
    headers = _cli_files(tmp_path)
    monkeypatch.setenv("OPENAI_WEBHOOK_SECRET", SECRET)
    code, out, err = run_cli("webhook", "verify", "--body", str(tmp_path / "body.json"),
                             "--headers-file", str(tmp_path / "headers.txt"))
    assert code == 0, err
    assert json.loads(out) == EVENT
    monkeypatch.delenv("OPENAI_WEBHOOK_SECRET")
    monkeypatch.setenv("MY_WEBHOOK_SECRET", SECRET)
    args = [f"--header={k}: {v}" for k, v in headers.items()]
    code, out, err = run_cli("webhook", "verify", "--body", str(tmp_path / "body.json"), *args,
                             "--secret-env", "MY_WEBHOOK_SECRET")
    assert code == 0, err
    assert json.loads(out) == EVENT


def test_cli_webhook_verify_checks_declared_events_from_a_manifest(tmp_path, monkeypatch):
    (tmp_path / "events.yaml").write_text(
        "connector:\n  webhooks:\n    events:\n      batch.completed: {$ref: '#/schemas/WebhookBatchCompleted'}\n"
        "schemas:\n  WebhookBatchCompleted: {type: object, required: [data]}\n")
    monkeypatch.setenv("OPENAI_WEBHOOK_SECRET", SECRET)
    base = ["--manifest", "bundled", "--manifest", str(tmp_path / "events.yaml"), "webhook", "verify",
            "--body", str(tmp_path / "body.json"), "--headers-file", str(tmp_path / "headers.json")]
    _cli_files(tmp_path)
    code, out, err = run_cli(*base)
    assert code == 0, err
    _cli_files(tmp_path, {**EVENT, "type": "batch.unknown"})
    code, out, err = run_cli(*base)
    assert code == 7 and "unknown webhook event type" in err


def test_cli_webhook_verify_fails_with_exit_6_and_never_prints_the_secret(tmp_path, monkeypatch):
    headers = _cli_files(tmp_path, timestamp=NOW)  # years ago
    monkeypatch.setenv("OPENAI_WEBHOOK_SECRET", SECRET)
    body = ["webhook", "verify", "--body", str(tmp_path / "body.json")]
    code, out, err = run_cli(*body, "--headers-file", str(tmp_path / "headers.txt"))
    assert code == 7 and out == "" and "old" in err
    (tmp_path / "body.json").write_bytes(b'{"tampered": true}')
    code, out, err = run_cli(*body, "--headers-file", str(tmp_path / "headers.txt"))
    assert code == 7 and "webhook-signature" in err
    for hidden in (SECRET, SECRET[6:], headers["webhook-signature"][3:]):
        assert hidden not in out + err
    monkeypatch.delenv("OPENAI_WEBHOOK_SECRET")
    code, out, err = run_cli(*body, "--headers-file", str(tmp_path / "headers.txt"))
    assert code == 1 and "OPENAI_WEBHOOK_SECRET" in err
    code, out, err = run_cli(*body, "--secret-env", "MY_WEBHOOK_SECRET")
    assert code == 2 and "not set" in err
    code, out, err = run_cli(*body, "--header", "no colon here")
    assert code == 2 and "Name: value" in err
