"""The validator accepts every request the real API accepts, and sends it as given (first half of the groups).

A false rejection blocks a user completely, so each action of the chat, completions, embeddings,
moderations, images, audio, files, uploads, batches, fine_tuning, models and realtime groups is tried
with requests as the API reference documents them and as people send them: every content-part kind,
tool kind and `response_format` kind, each `oneOf` branch of a body field, nullable fields set to null,
string-or-array fields in both forms, optional objects with only their required keys, `"auto"` and
numeric hyperparameters. Each must validate (by both validators: jsonschema-rs and jsonschema) and
reach the wire with exactly the values given. Every expected URL, query and multipart form below is
written from the OpenAPI description (`openai-2025-01-21.yaml`), never read back from the engine.

The reverse too: requests the API refuses are refused before sending, naming the parameter and rule.
"""
from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import jsonschema
import jsonschema_rs
import pytest

import engine
from conftest import BASE
from test_requests_core import multipart_fields

MP3 = b"ID3\x04\x00\x00\x00\x00\x00\x00\xff\xfb\x90\x64" + b"\x00" * 16
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x04\x00\x00\x00\x04\x00\x08\x06\x00\x00\x00"
JSONL = b'{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]}\n'
IMG_B64 = "data:image/jpeg;base64,/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAgGBgcGBQgHBwcJCQgKDBQNDAsLDBkSEx8a"
WAV_B64 = "UklGRiQAAABXQVZFZm10IBAAAAABAAEARKwAAIhYAQACABAAZGF0YQAAAAA="

# Where each body-only action posts (from the description's paths).
ROUTE = {
    "chat.completions.create": "/chat/completions", "completions.create": "/completions",
    "embeddings.create": "/embeddings", "moderations.create": "/moderations",
    "images.generate": "/images/generations", "images.edit": "/images/edits",
    "images.create_variation": "/images/variations", "audio.speech.create": "/audio/speech",
    "audio.transcriptions.create": "/audio/transcriptions", "audio.translations.create": "/audio/translations",
    "files.create": "/files", "uploads.create": "/uploads", "batches.create": "/batches",
    "fine_tuning.jobs.create": "/fine_tuning/jobs", "realtime.sessions.create": "/realtime/sessions",
}
SAME = object()  # the JSON body is the params, exactly

USER = [{"role": "user", "content": "Hello!"}]
WEATHER = {"type": "object", "properties": {"location": {"type": "string"},
                                            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
           "required": ["location"], "additionalProperties": False}
FN_TOOL = {"type": "function", "function": {"name": "get_current_weather",
                                            "description": "Get the current weather in a given location",
                                            "parameters": WEATHER}}
CALL = {"id": "call_abc123", "type": "function",
        "function": {"name": "get_current_weather", "arguments": "{\"location\": \"Boston, MA\"}"}}


def ok(action: str, label: str, params: dict[str, Any], url: str | None = None, body: Any = SAME,
       form: dict[str, list] | None = None) -> Any:
    """A request the API accepts; `url` is path?query under BASE (default the action's route)."""
    return pytest.param(action, params, url or ROUTE[action], body, form, id=f"{action}-{label}")


def chat(label: str, **params: Any) -> Any:
    return ok("chat.completions.create", label, {"model": "gpt-4o", "messages": USER, **params})


def strict_equal(got: Any, want: Any) -> bool:
    """Equal and of the same JSON types all the way down (1 is not 1.0, True is not 1)."""
    if type(got) is not type(want):
        return False
    if isinstance(want, dict):
        return got.keys() == want.keys() and all(strict_equal(got[k], want[k]) for k in want)
    if isinstance(want, list):
        return len(got) == len(want) and all(strict_equal(g, w) for g, w in zip(got, want))
    return got == want


def both_validators(eng: engine.Engine, action: str, params: dict[str, Any]) -> tuple[bool, bool]:
    """(jsonschema-rs, jsonschema) verdicts on the action's form schema, a file given as its name."""
    schema = eng.action(action).input_schema()
    files = {k for k, s in schema["properties"].items() if s.get("format") == "binary"}
    checked = {k: "upload.bin" if k in files else v for k, v in params.items()}
    fast = jsonschema_rs.validator_for(schema, validate_formats=False)
    try:
        fast_ok = fast.is_valid(checked)
    except ValueError:  # non-str keys (the engine then lets jsonschema judge): judge the JSON the wire carries
        fast_ok = fast.is_valid(json.loads(json.dumps(checked)))
    return fast_ok, jsonschema.Draft202012Validator(schema).is_valid(checked)


ACCEPTED = [
    # chat.completions.create: messages of every role and content-part kind
    chat("reference-default", messages=[{"role": "system", "content": "You are a helpful assistant."},
                                        {"role": "user", "content": "Hello!"}]),
    chat("developer-message", model="o1", messages=[{"role": "developer", "content": "Answer in French."}, *USER]),
    chat("developer-text-parts", messages=[{"role": "developer", "content": [{"type": "text", "text": "Be brief."}]},
                                           *USER]),
    chat("system-text-parts-named", messages=[{"role": "system", "name": "policy",
                                               "content": [{"type": "text", "text": "Be brief."}]}, *USER]),
    chat("image-url-part", messages=[{"role": "user", "content": [
        {"type": "text", "text": "What's in this image?"},
        {"type": "image_url", "image_url": {"url": "https://upload.wikimedia.org/boardwalk.jpg"}}]}]),
    chat("image-data-url-detail", messages=[{"role": "user", "name": "ann", "content": [
        {"type": "image_url", "image_url": {"url": IMG_B64, "detail": "low"}}]}]),
    chat("input-audio-part", model="gpt-4o-audio-preview", modalities=["text", "audio"],
         audio={"voice": "alloy", "format": "wav"},
         messages=[{"role": "user", "content": [{"type": "text", "text": "What is in this recording?"},
                                                {"type": "input_audio",
                                                 "input_audio": {"data": WAV_B64, "format": "wav"}}]}]),
    chat("assistant-tool-calls-null-content", tools=[FN_TOOL], messages=[
        {"role": "user", "content": "Weather in Boston?"},
        {"role": "assistant", "content": None, "tool_calls": [CALL]},
        {"role": "tool", "tool_call_id": "call_abc123", "content": "{\"temperature\": 22}"}]),
    chat("assistant-without-content", tools=[FN_TOOL], messages=[
        *USER, {"role": "assistant", "tool_calls": [CALL]},
        {"role": "tool", "tool_call_id": "call_abc123", "content": [{"type": "text", "text": "22 C"}]}]),
    chat("assistant-text-and-refusal-parts", messages=[
        *USER, {"role": "assistant", "name": "bot", "refusal": None, "content": [
            {"type": "text", "text": "Hi."}, {"type": "refusal", "refusal": "I can't help with that."}]}, *USER]),
    chat("assistant-refusal-string", messages=[*USER, {"role": "assistant", "refusal": "I can't help with that."}]),
    chat("assistant-audio-ref", model="gpt-4o-audio-preview", modalities=["text"], messages=[
        *USER, {"role": "assistant", "audio": {"id": "audio_abc123"}}, *USER]),
    chat("assistant-audio-null", messages=[*USER, {"role": "assistant", "content": "Hi", "audio": None}, *USER]),
    chat("legacy-function-message", functions=[{"name": "get_current_weather", "parameters": WEATHER}],
         function_call="auto", messages=[
             *USER, {"role": "assistant", "content": None,
                     "function_call": {"name": "get_current_weather", "arguments": "{}"}},
             {"role": "function", "name": "get_current_weather", "content": "22 C"}]),
    chat("legacy-function-null-content", messages=[*USER, {"role": "function", "name": "f", "content": None}]),
    chat("legacy-function-call-named", functions=[{"name": "get_current_weather"}],
         function_call={"name": "get_current_weather"}),
    chat("legacy-function-call-none", functions=[{"name": "f", "description": "No arguments."}], function_call="none"),
    # tools and tool_choice in every form
    chat("reference-functions", tools=[FN_TOOL], tool_choice="auto"),
    chat("tool-only-name", tools=[{"type": "function", "function": {"name": "noop"}}], tool_choice="required"),
    chat("tool-strict", tools=[{"type": "function", "function": {"name": "get_current_weather", "strict": True,
                                                                 "parameters": WEATHER}}],
         parallel_tool_calls=False),
    chat("tool-strict-null", tools=[{"type": "function", "function": {"name": "f", "strict": None}}]),
    chat("tool-choice-none", tools=[FN_TOOL], tool_choice="none"),
    chat("tool-choice-named", tools=[FN_TOOL],
         tool_choice={"type": "function", "function": {"name": "get_current_weather"}}),
    # response_format of every kind
    chat("response-format-text", response_format={"type": "text"}),
    chat("response-format-json-object", response_format={"type": "json_object"}),
    chat("response-format-json-schema-name-only", response_format={"type": "json_schema",
                                                                   "json_schema": {"name": "answer"}}),
    chat("response-format-json-schema-strict", response_format={"type": "json_schema", "json_schema": {
        "name": "math_reasoning", "description": "Steps to the answer.", "strict": True,
        "schema": {"type": "object", "properties": {"steps": {"type": "array", "items": {"type": "string"}},
                                                    "final_answer": {"type": "string"}},
                   "required": ["steps", "final_answer"], "additionalProperties": False}}}),
    chat("response-format-json-schema-recursive", response_format={"type": "json_schema", "json_schema": {
        "name": "ui", "strict": True, "schema": {
            "type": "object", "properties": {"root": {"$ref": "#/$defs/node"}}, "required": ["root"],
            "additionalProperties": False, "$defs": {"node": {
                "type": "object", "properties": {"label": {"type": ["string", "null"]},
                                                 "children": {"type": "array", "items": {"$ref": "#/$defs/node"}}},
                "required": ["label", "children"], "additionalProperties": False}}}}}),
    chat("response-format-json-schema-strict-null", response_format={"type": "json_schema", "json_schema": {
        "name": "x", "strict": None, "schema": {"type": "object"}}}),
    # sampling, logprobs, streaming, prediction, reasoning
    chat("reference-logprobs", logprobs=True, top_logprobs=2),
    chat("reference-streaming", stream=True, stream_options={"include_usage": True}),
    chat("stream-options-empty", stream=True, stream_options={}),
    chat("sampling-numbers", temperature=0, top_p=1, frequency_penalty=-2.0, presence_penalty=0.6, n=3,
         seed=-9007199254740993, max_tokens=256, logit_bias={"50256": -100, "1734": 5}, user="user-1234"),
    chat("sampling-floats", temperature=1.5, top_p=0.25, frequency_penalty=2, presence_penalty=-1.5,
         seed=9223372036854775807),
    ok("chat.completions.create", "logit-bias-int-keys", {"model": "gpt-4o", "messages": USER,
                                                          "logit_bias": {50256: -100, 1734: 5}},
       body={"model": "gpt-4o", "messages": USER, "logit_bias": {"50256": -100, "1734": 5}}),
    chat("unicode-text", messages=[{"role": "user", "content": "Übersetze: 猫 😀"}], user="ユーザー"),
    chat("stop-string", stop="\n"),
    chat("stop-array", stop=["\n", "User:", "###", "END"]),
    chat("prediction-string", prediction={"type": "content", "content": "class User { name: string }"}),
    chat("prediction-text-parts", prediction={"type": "content", "content": [{"type": "text", "text": "x = 1"}]}),
    chat("reasoning-o1", model="o1-mini", reasoning_effort="high", max_completion_tokens=25000,
         store=True, metadata={"session": "abc"}, service_tier="default"),
    chat("audio-output", model="gpt-4o-audio-preview", modalities=["text", "audio"],
         audio={"voice": "verse", "format": "pcm16"}),
    chat("any-model-string", model="ft:gpt-4o-mini-2024-07-18:acme::abc123"),
    chat("nullables-null", store=None, metadata=None, frequency_penalty=None, logit_bias=None, logprobs=None,
         top_logprobs=None, max_tokens=None, max_completion_tokens=None, n=None, modalities=None, prediction=None,
         audio=None, presence_penalty=None, seed=None, service_tier=None, stop=None, stream=None,
         stream_options=None, temperature=None, top_p=None),

    # completions.create
    ok("completions.create", "reference-no-streaming", {"model": "gpt-3.5-turbo-instruct",
                                                        "prompt": "Say this is a test", "max_tokens": 7,
                                                        "temperature": 0}),
    ok("completions.create", "reference-streaming", {"model": "gpt-3.5-turbo-instruct",
                                                     "prompt": "Say this is a test", "max_tokens": 7,
                                                     "temperature": 0, "stream": True,
                                                     "stream_options": {"include_usage": True}}),
    ok("completions.create", "prompt-strings", {"model": "davinci-002", "prompt": ["Once upon", "In a galaxy"]}),
    ok("completions.create", "prompt-tokens", {"model": "babbage-002", "prompt": [1212, 318, 257, 1332]}),
    ok("completions.create", "prompt-token-arrays", {"model": "babbage-002", "prompt": [[1212, 318], [257]]}),
    ok("completions.create", "prompt-null", {"model": "gpt-3.5-turbo-instruct", "prompt": None}),
    ok("completions.create", "every-option", {
        "model": "gpt-3.5-turbo-instruct", "prompt": "def add(a, b):", "suffix": "\n\nprint(add(1, 2))",
        "best_of": 3, "n": 2, "echo": True, "logprobs": 5, "max_tokens": 0, "frequency_penalty": 0.5,
        "presence_penalty": -0.5, "logit_bias": {"50256": -100}, "seed": 7, "stop": ["\n\n", "def "],
        "temperature": 0.2, "top_p": 1.0, "user": "user-1"}),
    ok("completions.create", "stop-string", {"model": "gpt-3.5-turbo-instruct", "prompt": "Q:", "stop": "\n"}),
    ok("completions.create", "nullables-null", {
        "model": "gpt-3.5-turbo-instruct", "prompt": "Hi", "best_of": None, "echo": None, "frequency_penalty": None,
        "logit_bias": None, "logprobs": None, "max_tokens": None, "n": None, "presence_penalty": None, "seed": None,
        "stop": None, "stream": None, "stream_options": None, "suffix": None, "temperature": None, "top_p": None}),

    # embeddings.create
    ok("embeddings.create", "reference", {"input": "The food was delicious and the waiter...",
                                          "model": "text-embedding-ada-002", "encoding_format": "float"}),
    ok("embeddings.create", "strings", {"input": ["first text", "second text"], "model": "text-embedding-3-small",
                                        "dimensions": 256, "user": "user-1"}),
    ok("embeddings.create", "tokens", {"input": [1212, 318, 257], "model": "text-embedding-3-large",
                                       "encoding_format": "base64"}),
    ok("embeddings.create", "token-arrays", {"input": [[1212, 318], [257, 1332]], "model": "text-embedding-3-small"}),

    # moderations.create
    ok("moderations.create", "reference-single-string", {"input": "I want to kill them."}),
    ok("moderations.create", "reference-image-and-text", {"model": "omni-moderation-latest", "input": [
        {"type": "text", "text": "...text to classify goes here..."},
        {"type": "image_url", "image_url": {"url": "https://example.com/image.png"}}]}),
    ok("moderations.create", "image-data-url", {"model": "omni-moderation-2024-09-26", "input": [
        {"type": "image_url", "image_url": {"url": IMG_B64}}]}),
    ok("moderations.create", "strings", {"input": ["first", "second"], "model": "text-moderation-stable"}),

    # images
    ok("images.generate", "reference", {"model": "dall-e-3", "prompt": "A cute baby sea otter", "n": 1,
                                        "size": "1024x1024"}),
    ok("images.generate", "hd-wide", {"model": "dall-e-3", "prompt": "A lighthouse at dusk", "quality": "hd",
                                      "size": "1792x1024", "style": "natural", "response_format": "b64_json",
                                      "user": "user-1"}),
    ok("images.generate", "dall-e-2-many", {"model": "dall-e-2", "prompt": "A red apple", "n": 10,
                                            "size": "256x256", "style": "vivid", "quality": "standard"}),
    ok("images.generate", "nullables-null", {"prompt": "A cat", "model": None, "n": None, "response_format": None,
                                             "size": None, "style": None}),
    ok("images.edit", "reference", {"image": ("otter.png", PNG, "image/png"), "mask": ("mask.png", PNG, "image/png"),
                                    "prompt": "A cute baby sea otter wearing a beret", "n": 2, "size": "1024x1024"},
       body=None, form={"prompt": ["A cute baby sea otter wearing a beret"], "n": ["2"], "size": ["1024x1024"],
                        "image": [("otter.png", "image/png", PNG)], "mask": [("mask.png", "image/png", PNG)]}),
    ok("images.edit", "every-option", {"image": ("a.png", PNG, "image/png"), "prompt": "Add a hat",
                                       "model": "dall-e-2", "size": "256x256", "response_format": "b64_json",
                                       "user": "u1"},
       body=None, form={"prompt": ["Add a hat"], "model": ["dall-e-2"], "size": ["256x256"],
                        "response_format": ["b64_json"], "user": ["u1"], "image": [("a.png", "image/png", PNG)]}),
    ok("images.edit", "unicode-prompt", {"image": ("o.png", PNG, "image/png"), "prompt": "Ein Otter mit Baskenmütze 🧢"},
       body=None, form={"prompt": ["Ein Otter mit Baskenmütze 🧢"], "image": [("o.png", "image/png", PNG)]}),
    ok("images.create_variation", "reference", {"image": ("otter.png", PNG, "image/png"), "n": 2,
                                                "size": "1024x1024"},
       body=None, form={"n": ["2"], "size": ["1024x1024"], "image": [("otter.png", "image/png", PNG)]}),
    ok("images.create_variation", "every-option", {"image": ("o.png", PNG, "image/png"), "model": "dall-e-2",
                                                   "response_format": "url", "size": "512x512", "user": "u1"},
       body=None, form={"model": ["dall-e-2"], "response_format": ["url"], "size": ["512x512"], "user": ["u1"],
                        "image": [("o.png", "image/png", PNG)]}),

    # audio
    ok("audio.speech.create", "reference", {"model": "tts-1", "input": "The quick brown fox jumped over the lazy dog.",
                                            "voice": "alloy"}),
    ok("audio.speech.create", "every-option", {"model": "tts-1-hd", "input": "x" * 4096, "voice": "shimmer",
                                               "response_format": "pcm", "speed": 0.25}),
    ok("audio.speech.create", "4096-emoji", {"model": "tts-1", "input": "😀" * 4096, "voice": "nova"}),
    ok("audio.speech.create", "integer-speed", {"model": "tts-1", "input": "Hi", "voice": "onyx", "speed": 4,
                                                "response_format": "opus"}),
    ok("audio.transcriptions.create", "reference-default", {"file": ("audio.mp3", MP3, "audio/mpeg"),
                                                            "model": "whisper-1"},
       body=None, form={"model": ["whisper-1"], "file": [("audio.mp3", "audio/mpeg", MP3)]}),
    ok("audio.transcriptions.create", "reference-word-timestamps", {
        "file": ("audio.mp3", MP3, "audio/mpeg"), "model": "whisper-1", "response_format": "verbose_json",
        "timestamp_granularities": ["word"]},
       body=None, form={"model": ["whisper-1"], "response_format": ["verbose_json"],
                        "timestamp_granularities[]": ["word"], "file": [("audio.mp3", "audio/mpeg", MP3)]}),
    ok("audio.transcriptions.create", "both-granularities-every-option", {
        "file": ("talk.mp3", MP3, "audio/mpeg"), "model": "whisper-1", "language": "de", "prompt": "ZyntriQix",
        "response_format": "verbose_json", "temperature": 0.2, "timestamp_granularities": ["word", "segment"]},
       body=None, form={"model": ["whisper-1"], "language": ["de"], "prompt": ["ZyntriQix"],
                        "response_format": ["verbose_json"], "temperature": ["0.2"],
                        "timestamp_granularities[]": ["word", "segment"],
                        "file": [("talk.mp3", "audio/mpeg", MP3)]}),
    ok("audio.transcriptions.create", "srt", {"file": ("a.mp3", MP3, "audio/mpeg"), "model": "whisper-1",
                                              "response_format": "srt", "temperature": 0},
       body=None, form={"model": ["whisper-1"], "response_format": ["srt"], "temperature": ["0"],
                        "file": [("a.mp3", "audio/mpeg", MP3)]}),
    ok("audio.translations.create", "reference", {"file": ("german.m4a", MP3, "audio/mp4"), "model": "whisper-1"},
       body=None, form={"model": ["whisper-1"], "file": [("german.m4a", "audio/mp4", MP3)]}),
    ok("audio.translations.create", "every-option", {"file": ("de.mp3", MP3, "audio/mpeg"), "model": "whisper-1",
                                                     "prompt": "Guten Tag", "response_format": "vtt",
                                                     "temperature": 0.5},
       body=None, form={"model": ["whisper-1"], "prompt": ["Guten Tag"], "response_format": ["vtt"],
                        "temperature": ["0.5"], "file": [("de.mp3", "audio/mpeg", MP3)]}),

    # files
    ok("files.list", "reference", {}, "/files", body=None),
    ok("files.list", "every-filter", {"purpose": "fine-tune", "limit": 10000, "order": "asc", "after": "file-abc"},
       "/files?purpose=fine-tune&limit=10000&order=asc&after=file-abc", body=None),
    ok("files.create", "reference-fine-tune", {"purpose": "fine-tune", "file": ("mydata.jsonl", JSONL,
                                                                                 "application/jsonl")},
       body=None, form={"purpose": ["fine-tune"], "file": [("mydata.jsonl", "application/jsonl", JSONL)]}),
    ok("files.create", "batch", {"purpose": "batch", "file": ("requests.jsonl", JSONL, "application/jsonl")},
       body=None, form={"purpose": ["batch"], "file": [("requests.jsonl", "application/jsonl", JSONL)]}),
    ok("files.create", "vision", {"purpose": "vision", "file": ("cat.png", PNG, "image/png")},
       body=None, form={"purpose": ["vision"], "file": [("cat.png", "image/png", PNG)]}),
    ok("files.create", "assistants", {"purpose": "assistants", "file": ("notes.txt", b"notes", "text/plain")},
       body=None, form={"purpose": ["assistants"], "file": [("notes.txt", "text/plain", b"notes")]}),
    ok("files.retrieve", "reference", {"file_id": "file-abc123"}, "/files/file-abc123", body=None),
    ok("files.delete", "reference", {"file_id": "file-abc123"}, "/files/file-abc123", body=None),
    ok("files.content", "reference", {"file_id": "file-abc123"}, "/files/file-abc123/content", body=None),

    # uploads
    ok("uploads.create", "reference", {"purpose": "fine-tune", "filename": "training_examples.jsonl",
                                       "bytes": 2147483648, "mime_type": "text/jsonl"}),
    ok("uploads.create", "batch", {"purpose": "batch", "filename": "b.jsonl", "bytes": 0,
                                   "mime_type": "application/jsonl"}),
    ok("uploads.parts.create", "reference", {"upload_id": "upload_abc123", "data": ("part", JSONL,
                                                                                    "application/octet-stream")},
       "/uploads/upload_abc123/parts", body=None,
       form={"data": [("part", "application/octet-stream", JSONL)]}),
    ok("uploads.complete", "reference", {"upload_id": "upload_abc123", "part_ids": ["part_def456", "part_ghi789"]},
       "/uploads/upload_abc123/complete", body={"part_ids": ["part_def456", "part_ghi789"]}),
    ok("uploads.complete", "md5", {"upload_id": "upload_abc123", "part_ids": ["part_def456"],
                                   "md5": "d41d8cd98f00b204e9800998ecf8427e"},
       "/uploads/upload_abc123/complete", body={"part_ids": ["part_def456"],
                                                "md5": "d41d8cd98f00b204e9800998ecf8427e"}),
    ok("uploads.cancel", "reference", {"upload_id": "upload_abc123"}, "/uploads/upload_abc123/cancel", body=None),

    # batches
    ok("batches.create", "reference", {"input_file_id": "file-abc123", "endpoint": "/v1/chat/completions",
                                       "completion_window": "24h"}),
    ok("batches.create", "embeddings-metadata", {"input_file_id": "file-abc123", "endpoint": "/v1/embeddings",
                                                 "completion_window": "24h",
                                                 "metadata": {"customer_id": "user_123456789",
                                                              "batch_description": "Nightly eval job"}}),
    ok("batches.create", "completions-metadata-null", {"input_file_id": "file-abc123", "endpoint": "/v1/completions",
                                                       "completion_window": "24h", "metadata": None}),
    ok("batches.list", "reference", {"limit": 2}, "/batches?limit=2", body=None),
    ok("batches.list", "after", {"after": "batch_abc123", "limit": 100}, "/batches?after=batch_abc123&limit=100",
       body=None),
    ok("batches.retrieve", "reference", {"batch_id": "batch_abc123"}, "/batches/batch_abc123", body=None),
    ok("batches.cancel", "reference", {"batch_id": "batch_abc123"}, "/batches/batch_abc123/cancel", body=None),

    # fine_tuning
    ok("fine_tuning.jobs.create", "reference-default", {"training_file": "file-BK7bzQj3FfZFXr7DbL6xJwfo",
                                                        "model": "gpt-4o-mini"}),
    ok("fine_tuning.jobs.create", "reference-epochs", {
        "training_file": "file-abc123", "model": "gpt-4o-mini",
        "method": {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 2}}}}),
    ok("fine_tuning.jobs.create", "reference-validation-file", {
        "training_file": "file-abc123", "validation_file": "file-abc123", "model": "gpt-4o-mini"}),
    ok("fine_tuning.jobs.create", "reference-dpo", {
        "training_file": "file-abc123", "validation_file": "file-abc123", "model": "gpt-4o-mini",
        "method": {"type": "dpo", "dpo": {"hyperparameters": {"beta": 0.1}}}}),
    ok("fine_tuning.jobs.create", "reference-wandb", {
        "training_file": "file-abc123", "validation_file": "file-abc123", "model": "gpt-4o-mini",
        "integrations": [{"type": "wandb", "wandb": {"project": "my-wandb-project", "name": "ft-run-display-name",
                                                     "tags": ["first-experiment", "v2"]}}]}),
    ok("fine_tuning.jobs.create", "wandb-only-project-nulls", {
        "training_file": "file-abc123", "model": "gpt-3.5-turbo",
        "integrations": [{"type": "wandb", "wandb": {"project": "p", "name": None, "entity": None}}]}),
    ok("fine_tuning.jobs.create", "legacy-hyperparameters-auto", {
        "training_file": "file-abc123", "model": "babbage-002",
        "hyperparameters": {"batch_size": "auto", "learning_rate_multiplier": "auto", "n_epochs": "auto"}}),
    ok("fine_tuning.jobs.create", "legacy-hyperparameters-numbers", {
        "training_file": "file-abc123", "model": "davinci-002",
        "hyperparameters": {"batch_size": 256, "learning_rate_multiplier": 0.05, "n_epochs": 50}}),
    ok("fine_tuning.jobs.create", "supervised-mixed", {
        "training_file": "file-abc123", "model": "gpt-4o-mini-2024-07-18", "suffix": "custom-model-name",
        "seed": 2147483647, "method": {"type": "supervised", "supervised": {"hyperparameters": {
            "batch_size": 1, "learning_rate_multiplier": 2, "n_epochs": "auto"}}}}),
    ok("fine_tuning.jobs.create", "dpo-every-hyperparameter", {
        "training_file": "file-abc123", "model": "gpt-4o-2024-08-06", "seed": 0,
        "method": {"type": "dpo", "dpo": {"hyperparameters": {"beta": 2, "batch_size": "auto",
                                                              "learning_rate_multiplier": 1.8, "n_epochs": 3}}}}),
    ok("fine_tuning.jobs.create", "suffix-64-accented", {"training_file": "f", "model": "gpt-4o-mini",
                                                         "suffix": "é" * 64}),
    ok("fine_tuning.jobs.create", "method-type-only", {"training_file": "f", "model": "gpt-4o-mini",
                                                       "method": {"type": "supervised"}}),
    ok("fine_tuning.jobs.create", "nullables-null", {"training_file": "f", "model": "gpt-4o-mini", "suffix": None,
                                                     "validation_file": None, "integrations": None, "seed": None}),
    ok("fine_tuning.jobs.list", "reference", {}, "/fine_tuning/jobs", body=None),
    ok("fine_tuning.jobs.list", "paged", {"after": "ftjob-abc123", "limit": 2},
       "/fine_tuning/jobs?after=ftjob-abc123&limit=2", body=None),
    ok("fine_tuning.jobs.retrieve", "reference", {"fine_tuning_job_id": "ft-AF1WoRqd3aJAHsqc9NY7iL8F"},
       "/fine_tuning/jobs/ft-AF1WoRqd3aJAHsqc9NY7iL8F", body=None),
    ok("fine_tuning.jobs.cancel", "reference", {"fine_tuning_job_id": "ftjob-abc123"},
       "/fine_tuning/jobs/ftjob-abc123/cancel", body=None),
    ok("fine_tuning.jobs.checkpoints.list", "reference", {"fine_tuning_job_id": "ftjob-abc123"},
       "/fine_tuning/jobs/ftjob-abc123/checkpoints", body=None),
    ok("fine_tuning.jobs.checkpoints.list", "paged", {"fine_tuning_job_id": "ftjob-abc123", "after": "ftckpt_x",
                                                      "limit": 50},
       "/fine_tuning/jobs/ftjob-abc123/checkpoints?after=ftckpt_x&limit=50", body=None),
    ok("fine_tuning.jobs.list_events", "reference", {"fine_tuning_job_id": "ftjob-abc123", "limit": 2},
       "/fine_tuning/jobs/ftjob-abc123/events?limit=2", body=None),

    # models
    ok("models.list", "reference", {}, "/models", body=None),
    ok("models.retrieve", "reference", {"model": "gpt-4o-mini"}, "/models/gpt-4o-mini", body=None),
    ok("models.retrieve", "fine-tuned", {"model": "ft:gpt-4o-mini:acemeco:suffix:abc123"},
       "/models/ft:gpt-4o-mini:acemeco:suffix:abc123", body=None),
    ok("models.delete", "reference", {"model": "ft:gpt-4o-mini:acemeco:suffix:abc123"},
       "/models/ft:gpt-4o-mini:acemeco:suffix:abc123", body=None),

    # realtime.sessions.create
    ok("realtime.sessions.create", "reference", {"model": "gpt-4o-realtime-preview-2024-12-17",
                                                 "modalities": ["audio", "text"],
                                                 "instructions": "You are a friendly assistant."}),
    ok("realtime.sessions.create", "every-option", {
        "model": "gpt-4o-mini-realtime-preview", "modalities": ["text"], "voice": "verse",
        "input_audio_format": "g711_ulaw", "output_audio_format": "g711_alaw",
        "input_audio_transcription": {"model": "whisper-1"},
        "turn_detection": {"type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300,
                           "silence_duration_ms": 500, "create_response": True},
        "tools": [{"type": "function", "name": "get_weather", "description": "Get the weather.",
                   "parameters": WEATHER}],
        "tool_choice": "auto", "temperature": 0.8, "max_response_output_tokens": 4096}),
    ok("realtime.sessions.create", "unbounded-output", {"model": "gpt-4o-realtime-preview",
                                                        "max_response_output_tokens": "inf", "tool_choice": "required"}),
    ok("realtime.sessions.create", "turn-detection-and-transcription-off", {
        "model": "gpt-4o-realtime-preview", "turn_detection": None, "input_audio_transcription": None}),
    ok("realtime.sessions.create", "turn-detection-type-only", {"model": "gpt-4o-realtime-preview-2024-10-01",
                                                                "turn_detection": {"type": "server_vad"},
                                                                "input_audio_transcription": {}}),
]


@pytest.mark.parametrize("action, params, url, body, form", ACCEPTED)
def test_accepted_and_sent_as_given(eng, action, params, url, body, form):
    assert both_validators(eng, action, params) == (True, True)
    req = eng.prepare(action, params)
    got, want = urlsplit(req.url), urlsplit(BASE + url)
    assert unquote(got.path) == want.path
    assert sorted(parse_qsl(got.query)) == sorted(parse_qsl(want.query))
    if form is not None:
        assert multipart_fields(b"".join(bytes(c) for c in req.body), req.headers["Content-Type"]) == form
    elif body is None:
        assert not req.body
    else:
        want_body = params if body is SAME else body
        assert req.headers["Content-Type"] == "application/json"
        assert strict_equal(json.loads(req.body), want_body)


def test_every_action_of_the_groups_is_tried(eng):
    groups = ("chat", "completions", "embeddings", "moderations", "images", "audio", "files", "uploads", "batches",
              "fine_tuning", "models", "realtime")
    names = {a.name for a in eng.actions() if not a.composite and a.name.split(".")[0] in groups}
    assert names == {p.values[0] for p in ACCEPTED} == {p.values[0] for p in REJECTED}
    composites = {a.name for a in eng.actions() if a.composite and a.name.split(".")[0] in groups}
    assert composites == {p.values[0] for p in COMPOSITES}


def bad(action: str, label: str, params: dict[str, Any], where: str | None, rule: str, words: str) -> Any:
    """A request the API refuses: a problem at `where` under `rule` whose message says `words`."""
    return pytest.param(action, params, where, rule, words, id=f"{action}-{label}")


CHAT = {"model": "gpt-4o", "messages": USER}
FT = {"model": "gpt-4o-mini", "training_file": "file-abc123"}
RT = {"model": "gpt-4o-realtime-preview"}
REJECTED = [
    bad("chat.completions.create", "no-messages", {"model": "gpt-4o"}, "messages", "required", "is required"),
    bad("chat.completions.create", "empty-messages", {**CHAT, "messages": []}, "messages", "minItems",
        "at least 1 item,"),
    bad("chat.completions.create", "unknown-role", {**CHAT, "messages": [{"role": "robot", "content": "Hi"}]},
        "messages[0].role", "enum", "'developer', 'system', 'user', 'assistant', 'tool', 'function', got 'robot'"),
    bad("chat.completions.create", "tool-message-without-id", {**CHAT, "messages": [{"role": "tool", "content": "x"}]},
        "messages[0]", "required", "'tool_call_id' is required"),
    bad("chat.completions.create", "temperature-too-high", {**CHAT, "temperature": 2.5}, "temperature", "maximum",
        "<= 2"),
    bad("chat.completions.create", "temperature-as-text", {**CHAT, "temperature": "0.7"}, "temperature", "type",
        "number or null"),
    bad("chat.completions.create", "five-stops", {**CHAT, "stop": ["a", "b", "c", "d", "e"]}, "stop", "maxItems",
        "at most 4 items"),
    bad("chat.completions.create", "stop-number", {**CHAT, "stop": 5}, "stop", "type",
        "must be of type string or null or array, got int 5"),
    bad("chat.completions.create", "unknown-tool-choice", {**CHAT, "tool_choice": "sometimes"}, "tool_choice",
        "enum", "'none', 'auto', 'required', got 'sometimes'"),
    bad("chat.completions.create", "tool-choice-unknown-kind", {**CHAT, "tool_choice": {"type": "fn"}},
        "tool_choice.type", "enum", "must be one of 'function', got 'fn'"),
    bad("chat.completions.create", "json-schema-without-schema", {**CHAT, "response_format": {"type": "json_schema"}},
        "response_format", "required", "'json_schema' is required"),
    bad("chat.completions.create", "unknown-response-format", {**CHAT, "response_format": {"type": "xml"}},
        "response_format.type", "enum", "'text', 'json_object', 'json_schema', got 'xml'"),
    bad("chat.completions.create", "unknown-reasoning-effort", {**CHAT, "reasoning_effort": "max"},
        "reasoning_effort", "enum", "'low', 'medium', 'high'"),
    bad("chat.completions.create", "unknown-image-part-field", {**CHAT, "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"detail": "high"}}]}]}, "messages[0].content[0].image_url", "required",
        "'url' is required"),
    bad("completions.create", "no-prompt", {"model": "gpt-3.5-turbo-instruct"}, "prompt", "required", "is required"),
    bad("completions.create", "logprobs-six", {"model": "davinci-002", "prompt": "x", "logprobs": 6}, "logprobs",
        "maximum", "<= 5"),
    bad("completions.create", "best-of-21", {"model": "davinci-002", "prompt": "x", "best_of": 21}, "best_of",
        "maximum", "<= 20"),
    bad("completions.create", "negative-max-tokens", {"model": "davinci-002", "prompt": "x", "max_tokens": -1},
        "max_tokens", "minimum", ">= 0"),
    bad("embeddings.create", "empty-input", {"model": "text-embedding-3-small", "input": []}, "input", "minItems",
        "at least 1 item,"),
    bad("embeddings.create", "dimensions-zero", {"model": "text-embedding-3-small", "input": "x", "dimensions": 0},
        "dimensions", "minimum", ">= 1"),
    bad("embeddings.create", "unknown-encoding", {"model": "text-embedding-3-small", "input": "x",
                                                  "encoding_format": "int8"},
        "encoding_format", "enum", "'float', 'base64', got 'int8'"),
    bad("embeddings.create", "too-many-inputs", {"model": "text-embedding-3-small", "input": ["x"] * 2049},
        "input", "maxItems", "at most 2048 items"),
    bad("moderations.create", "no-input", {"model": "omni-moderation-latest"}, "input", "required", "is required"),
    bad("moderations.create", "input-number", {"input": 5}, "input", "type",
        "must be of type string or array, got int 5"),
    bad("moderations.create", "unknown-part", {"input": [{"type": "video", "video": "x"}]}, "input[0].type", "enum",
        "'image_url', 'text', got 'video'"),
    bad("images.generate", "no-prompt", {"model": "dall-e-3"}, "prompt", "required", "is required"),
    bad("images.generate", "eleven-images", {"prompt": "x", "n": 11}, "n", "maximum", "<= 10"),
    bad("images.generate", "unknown-size", {"prompt": "x", "size": "800x600"}, "size", "enum", "got '800x600'"),
    bad("images.generate", "unknown-quality", {"prompt": "x", "quality": "ultra"}, "quality", "enum",
        "'standard', 'hd', got 'ultra'"),
    bad("images.edit", "no-image", {"prompt": "x"}, "image", "required", "is required"),
    bad("images.edit", "wide-size", {"image": PNG, "prompt": "x", "size": "1792x1024"}, "size", "enum",
        "got '1792x1024'"),
    bad("images.edit", "image-as-str", {"image": "otter.png", "prompt": "x"}, "image", "file", "pathlib.Path"),
    bad("images.create_variation", "png-response", {"image": PNG, "response_format": "png"}, "response_format",
        "enum", "'url', 'b64_json'"),
    bad("images.create_variation", "zero-images", {"image": PNG, "n": 0}, "n", "minimum", ">= 1"),
    bad("audio.speech.create", "unknown-voice", {"model": "tts-1", "input": "Hi", "voice": "bob"}, "voice", "enum",
        "got 'bob'"),
    bad("audio.speech.create", "too-fast", {"model": "tts-1", "input": "Hi", "voice": "alloy", "speed": 4.5},
        "speed", "maximum", "<= 4"),
    bad("audio.speech.create", "input-too-long", {"model": "tts-1", "input": "x" * 4097, "voice": "alloy"},
        "input", "maxLength", "at most 4096 characters, got 4097"),
    bad("audio.transcriptions.create", "no-model", {"file": MP3}, "model", "required", "is required"),
    bad("audio.transcriptions.create", "unknown-granularity", {"file": MP3, "model": "whisper-1",
                                                               "timestamp_granularities": ["sentence"]},
        "timestamp_granularities[0]", "enum", "'word', 'segment', got 'sentence'"),
    bad("audio.transcriptions.create", "unknown-format", {"file": MP3, "model": "whisper-1",
                                                          "response_format": "xml"},
        "response_format", "enum", "got 'xml'"),
    bad("audio.translations.create", "temperature-as-word", {"file": MP3, "model": "whisper-1",
                                                             "temperature": "hot"},
        "temperature", "type", "must be of type number"),
    bad("audio.translations.create", "no-file", {"model": "whisper-1"}, "file", "required", "is required"),
    bad("files.list", "limit-zero", {"limit": 0}, "limit", "minimum", ">= 1"),
    bad("files.list", "unknown-order", {"order": "newest"}, "order", "enum", "'asc', 'desc', got 'newest'"),
    bad("files.create", "unknown-purpose", {"file": JSONL, "purpose": "training"}, "purpose", "enum",
        "got 'training'"),
    bad("files.create", "no-purpose", {"file": JSONL}, "purpose", "required", "is required"),
    bad("files.retrieve", "empty-id", {"file_id": ""}, "file_id", "minLength", "must not be empty"),
    bad("files.delete", "no-id", {}, "file_id", "required", "is required"),
    bad("files.content", "id-number", {"file_id": 123}, "file_id", "type", "must be of type string"),
    bad("uploads.create", "bytes-as-text", {"purpose": "batch", "filename": "b.jsonl", "bytes": "10",
                                            "mime_type": "text/jsonl"}, "bytes", "type", "must be of type integer"),
    bad("uploads.create", "no-mime-type", {"purpose": "batch", "filename": "b.jsonl", "bytes": 10}, "mime_type",
        "required", "is required"),
    bad("uploads.parts.create", "no-data", {"upload_id": "upload_abc123"}, "data", "required", "is required"),
    bad("uploads.complete", "part-ids-string", {"upload_id": "upload_abc123", "part_ids": "part_def456"},
        "part_ids", "type", "must be of type array"),
    bad("uploads.cancel", "empty-id", {"upload_id": ""}, "upload_id", "minLength", "must not be empty"),
    bad("batches.create", "48h-window", {"input_file_id": "file-abc", "endpoint": "/v1/chat/completions",
                                         "completion_window": "48h"}, "completion_window", "enum", "got '48h'"),
    bad("batches.create", "unbatchable-endpoint", {"input_file_id": "file-abc", "endpoint": "/v1/images/generations",
                                                   "completion_window": "24h"}, "endpoint", "enum",
        "got '/v1/images/generations'"),
    bad("batches.create", "metadata-number", {"input_file_id": "file-abc", "endpoint": "/v1/embeddings",
                                              "completion_window": "24h", "metadata": {"n": 1}},
        "metadata.n", "type", "must be of type string"),
    bad("batches.list", "limit-101", {"limit": 101}, "limit", "maximum", "<= 100"),
    bad("batches.retrieve", "empty-id", {"batch_id": ""}, "batch_id", "minLength", "must not be empty"),
    bad("batches.cancel", "no-id", {}, "batch_id", "required", "is required"),
    bad("fine_tuning.jobs.create", "no-training-file", {"model": "gpt-4o-mini"}, "training_file", "required",
        "is required"),
    bad("fine_tuning.jobs.create", "epochs-51", {**FT, "hyperparameters": {"n_epochs": 51}},
        "hyperparameters.n_epochs", "maximum", "<= 50"),
    bad("fine_tuning.jobs.create", "learning-rate-zero", {**FT, "method": {"type": "supervised", "supervised": {
        "hyperparameters": {"learning_rate_multiplier": 0}}}},
        "method.supervised.hyperparameters.learning_rate_multiplier", "exclusiveMinimum", "> 0"),
    bad("fine_tuning.jobs.create", "beta-too-high", {**FT, "method": {"type": "dpo", "dpo": {
        "hyperparameters": {"beta": 2.5}}}}, "method.dpo.hyperparameters.beta", "maximum", "<= 2"),
    bad("fine_tuning.jobs.create", "batch-size-word", {**FT, "hyperparameters": {"batch_size": "max"}},
        "hyperparameters.batch_size", "enum", "'auto', got 'max'"),
    bad("fine_tuning.jobs.create", "fractional-epochs", {**FT, "hyperparameters": {"n_epochs": 2.5}},
        "hyperparameters.n_epochs", "type", "must be of type string or integer, got float 2.5"),
    bad("fine_tuning.jobs.create", "unknown-method", {**FT, "method": {"type": "rlhf"}}, "method.type", "enum",
        "'supervised', 'dpo', got 'rlhf'"),
    bad("fine_tuning.jobs.create", "suffix-too-long", {**FT, "suffix": "s" * 65}, "suffix", "maxLength",
        "at most 64 characters, got 65"),
    bad("fine_tuning.jobs.create", "negative-seed", {**FT, "seed": -1}, "seed", "minimum", ">= 0"),
    bad("fine_tuning.jobs.create", "wandb-without-project", {**FT, "integrations": [{"type": "wandb", "wandb": {}}]},
        "integrations[0].wandb", "required", "'project' is required"),
    bad("fine_tuning.jobs.list", "limit-as-text", {"limit": "ten"}, "limit", "type", "must be of type integer"),
    bad("fine_tuning.jobs.retrieve", "no-id", {}, "fine_tuning_job_id", "required", "is required"),
    bad("fine_tuning.jobs.cancel", "empty-id", {"fine_tuning_job_id": ""}, "fine_tuning_job_id", "minLength",
        "must not be empty"),
    bad("fine_tuning.jobs.checkpoints.list", "limit-as-float", {"fine_tuning_job_id": "ftjob-1", "limit": 2.5},
        "limit", "type", "must be of type integer"),
    bad("fine_tuning.jobs.list_events", "no-id", {"limit": 2}, "fine_tuning_job_id", "required", "is required"),
    bad("models.list", "unknown-param", {"owned_by": "system"}, "owned_by", "unknown", "unknown parameter"),
    bad("models.retrieve", "no-model", {}, "model", "required", "is required"),
    bad("models.delete", "empty-model", {"model": ""}, "model", "minLength", "must not be empty"),
    bad("realtime.sessions.create", "chat-model", {"model": "gpt-4o"}, "model", "enum", "got 'gpt-4o'"),
    bad("realtime.sessions.create", "unknown-voice", {**RT, "voice": "nova"}, "voice", "enum", "got 'nova'"),
    bad("realtime.sessions.create", "mp3-input", {**RT, "input_audio_format": "mp3"}, "input_audio_format", "enum",
        "'pcm16', 'g711_ulaw', 'g711_alaw', got 'mp3'"),
    bad("realtime.sessions.create", "infinite-tokens", {**RT, "max_response_output_tokens": "infinite"},
        "max_response_output_tokens", "enum", "'inf', got 'infinite'"),
    bad("realtime.sessions.create", "unknown-modality", {**RT, "modalities": ["video"]}, "modalities[0]", "enum",
        "'text', 'audio', got 'video'"),
]


@pytest.mark.parametrize("action, params, where, rule, words", REJECTED)
def test_rejected_naming_the_parameter(eng, action, params, where, rule, words):
    with pytest.raises(engine.ValidationError) as caught:
        eng.prepare(action, params)
    found = [(p.param, p.rule, p.message) for p in caught.value.problems]
    assert any(p == where and r == rule and words in m for p, r, m in found), found
    assert f"{where}: " in str(caught.value)
    if rule not in ("file", "minLength"):  # file values and empty path segments: the engine's own checks
        assert both_validators(eng, action, params) == (False, False)


# The composite actions of these groups take their call's params plus their own (overrides.yaml).
COMPOSITES = [
    pytest.param("batches.wait", {"batch_id": "batch_abc123"}, None, id="batches.wait-reference"),
    pytest.param("batches.wait", {"batch_id": "batch_abc123", "poll_interval": 30, "poll_timeout": 86400.5}, None,
                 id="batches.wait-int-and-float-timings"),
    pytest.param("batches.wait", {"batch_id": "batch_abc123", "poll_interval": 0}, ("poll_interval", "> 0"),
                 id="batches.wait-zero-interval"),
    pytest.param("fine_tuning.jobs.wait", {"fine_tuning_job_id": "ftjob-abc123", "poll_interval": 0.5}, None,
                 id="fine_tuning.jobs.wait-reference"),
    pytest.param("fine_tuning.jobs.wait", {"poll_timeout": 60}, ("fine_tuning_job_id", "is required"),
                 id="fine_tuning.jobs.wait-no-id"),
    pytest.param("uploads.upload_file", {"file": "train.jsonl", "purpose": "fine-tune", "mime_type": "text/jsonl"},
                 None, id="uploads.upload_file-reference"),
    pytest.param("files.wait_for_processing", {"file_id": "file-abc123", "poll_interval": 2}, None,
                 id="files.wait_for_processing-reference"),
    pytest.param("files.wait_for_processing", {"poll_timeout": 60}, ("file_id", "is required"),
                 id="files.wait_for_processing-no-id"),
    pytest.param("uploads.upload_file", {"file": "b.jsonl", "purpose": "batch", "mime_type": "application/jsonl",
                                         "filename": "requests.jsonl", "md5": "d41d8cd98f00b204e9800998ecf8427e",
                                         "part_size": 67108864, "concurrency": 4}, None,
                 id="uploads.upload_file-every-option"),
    pytest.param("uploads.upload_file", {"file": "a.jsonl", "purpose": "fine-tune", "mime_type": "text/jsonl",
                                         "part_size": 128 * 2**20}, ("part_size", "<= 67108864"),
                 id="uploads.upload_file-part-over-64mb"),
    pytest.param("uploads.upload_file", {"file": "a.jsonl", "purpose": "training", "mime_type": "text/jsonl"},
                 ("purpose", "got 'training'"), id="uploads.upload_file-unknown-purpose"),
]


@pytest.mark.parametrize("action, params, refused", COMPOSITES)
def test_composites_take_their_params(eng, action, params, refused):
    comp = eng.action(action)
    assert comp.composite
    if refused is None:
        comp.validate(params)
    else:
        with pytest.raises(engine.ValidationError) as caught:
            comp.validate(params)
        assert any(p.param == refused[0] and refused[1] in p.message for p in caught.value.problems), \
            caught.value.problems
