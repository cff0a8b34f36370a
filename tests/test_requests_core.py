"""The request each core action builds, and how its answer is decoded, against the API reference.

One case per call, for every action of the assistants, audio, batches, chat, completions,
embeddings, files, fine_tuning, images, models, moderations, realtime, uploads and
vector_stores groups. Every expected method, URL, header and body below is written from the
OpenAPI description (`openai-2025-01-21.yaml`: each operation's path, parameters and request
body schema), never read back from the engine. Mocked answers are the description's own
response examples, read from it by `spec.Example` (its JSON slips mended by rule), plus one field
the description does not list, which the caller must get back all the same; an operation with no
JSON example (audio, file content, text formats) is answered with a literal written to its schema.
Cases named `*-nothing-optional` give only the required params: the description's defaults
are the server's to apply, so none of them may appear on the wire.
"""
from __future__ import annotations

import email.parser
import email.policy
import json
import re
from dataclasses import dataclass
from typing import Any

import pytest

from conftest import API_KEY, BASE
from spec import Example

# Every request to the API host is caught, whatever its URL, and then checked in full.
ANY_URL = re.compile(r"https://api\.openai\.com/.*")

# A field a newer API version might add: decoding keeps what the description does not list.
UNLISTED = {"x_added_later": {"kept": True}}

MP3 = b"ID3\x04\x00\x00\x00\x00\x00\x00\xff\xfb\x90\x64" + b"\x00" * 32
M4A = b"\x00\x00\x00\x20ftypM4A \x00\x00\x00\x00" + b"\x00" * 32
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x04\x00\x00\x00\x04\x00\x08\x06\x00\x00\x00"
JSONL = (b'{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]}\n'
         b'{"messages": [{"role": "user", "content": "Bye"}, {"role": "assistant", "content": "Goodbye"}]}\n')


@dataclass
class Case:
    """One call and the request the API reference says it must make."""

    id: str
    params: dict[str, Any]
    method: str
    url: str
    beta: bool = False                   # OpenAI-Beta: assistants=v2
    json: Any = None                     # the JSON body, decoded
    form: dict[str, list] | None = None  # multipart: name -> values (str) or files (filename, type, bytes)
    answer: Any = None                   # Example (JSON), str (text) or bytes (binary)
    answer_type: str = "application/json"
    accept: str = "application/json"

    @property
    def action(self) -> str:
        return self.id.split("-", 1)[0]


# --- the cases --------------------------------------------------------------------------------

CASES = [
    # assistants (beta)
    Case("assistants.list", {"limit": 3, "order": "asc", "after": "asst_abc000", "before": "asst_abc999"},
         "GET", f"{BASE}/assistants?limit=3&order=asc&after=asst_abc000&before=asst_abc999", beta=True,
         answer=Example("GET /assistants")),
    Case("assistants.list-nothing-optional", {}, "GET", f"{BASE}/assistants", beta=True,
         answer=Example("GET /assistants")),
    Case("assistants.create",
         {"model": "gpt-4o", "name": "Math Tutor", "description": "Answers maths questions",
          "instructions": "You are a personal math tutor.", "tools": [{"type": "code_interpreter"}],
          "tool_resources": {"code_interpreter": {"file_ids": ["file-abc123"]}},
          "metadata": {"team": "education"}, "temperature": 0.2, "top_p": 0.9,
          "response_format": {"type": "json_object"}},
         "POST", f"{BASE}/assistants", beta=True,
         json={"model": "gpt-4o", "name": "Math Tutor", "description": "Answers maths questions",
               "instructions": "You are a personal math tutor.", "tools": [{"type": "code_interpreter"}],
               "tool_resources": {"code_interpreter": {"file_ids": ["file-abc123"]}},
               "metadata": {"team": "education"}, "temperature": 0.2, "top_p": 0.9,
               "response_format": {"type": "json_object"}},
         answer=Example("POST /assistants")),
    Case("assistants.create-nothing-optional", {"model": "gpt-4o"}, "POST", f"{BASE}/assistants", beta=True,
         json={"model": "gpt-4o"}, answer=Example("POST /assistants")),
    Case("assistants.retrieve", {"assistant_id": "asst_abc123"}, "GET", f"{BASE}/assistants/asst_abc123",
         beta=True, answer=Example("GET /assistants/{assistant_id}")),
    Case("assistants.update",
         {"assistant_id": "asst_123", "model": "gpt-4o",
          "instructions": "You are an HR bot. Always response with info from either of the files.",
          "tools": [{"type": "file_search"}], "tool_resources": {"file_search": {"vector_store_ids": []}}},
         "POST", f"{BASE}/assistants/asst_123", beta=True,
         json={"model": "gpt-4o",
               "instructions": "You are an HR bot. Always response with info from either of the files.",
               "tools": [{"type": "file_search"}], "tool_resources": {"file_search": {"vector_store_ids": []}}},
         answer=Example("POST /assistants/{assistant_id}")),
    Case("assistants.update-nothing-optional", {"assistant_id": "asst_123"}, "POST", f"{BASE}/assistants/asst_123",
         beta=True, json={}, answer=Example("POST /assistants/{assistant_id}")),
    Case("assistants.delete", {"assistant_id": "asst_abc123"}, "DELETE", f"{BASE}/assistants/asst_abc123",
         beta=True, answer=Example("DELETE /assistants/{assistant_id}")),

    # audio
    Case("audio.speech.create",
         {"model": "tts-1-hd", "input": "The quick brown fox jumped over the lazy dog.", "voice": "alloy",
          "response_format": "mp3", "speed": 1.25},
         "POST", f"{BASE}/audio/speech",
         json={"model": "tts-1-hd", "input": "The quick brown fox jumped over the lazy dog.", "voice": "alloy",
               "response_format": "mp3", "speed": 1.25},
         answer=MP3, answer_type="audio/mpeg", accept="application/octet-stream"),
    Case("audio.speech.create-nothing-optional", {"model": "tts-1", "input": "Hello.", "voice": "nova"},
         "POST", f"{BASE}/audio/speech", json={"model": "tts-1", "input": "Hello.", "voice": "nova"},
         answer=MP3, answer_type="audio/mpeg", accept="application/octet-stream"),
    Case("audio.transcriptions.create-nothing-optional",
         {"file": ("speech.mp3", MP3, "audio/mpeg"), "model": "whisper-1"},
         "POST", f"{BASE}/audio/transcriptions",
         form={"file": [("speech.mp3", "audio/mpeg", MP3)], "model": ["whisper-1"]},
         answer=Example("POST /audio/transcriptions")),
    Case("audio.transcriptions.create-verbose-json",
         {"file": ("beach.mp3", MP3, "audio/mpeg"), "model": "whisper-1", "language": "en",
          "prompt": "A day at the beach.", "response_format": "verbose_json", "temperature": 0,
          "timestamp_granularities": ["word", "segment"]},
         "POST", f"{BASE}/audio/transcriptions",
         form={"file": [("beach.mp3", "audio/mpeg", MP3)], "model": ["whisper-1"], "language": ["en"],
               "prompt": ["A day at the beach."], "response_format": ["verbose_json"], "temperature": ["0"],
               "timestamp_granularities[]": ["word", "segment"]},
         answer=Example("POST /audio/transcriptions", "Word timestamps", "Segment timestamps")),
    Case("audio.transcriptions.create-text",
         {"file": ("speech.mp3", MP3, "audio/mpeg"), "model": "whisper-1", "response_format": "text"},
         "POST", f"{BASE}/audio/transcriptions",
         form={"file": [("speech.mp3", "audio/mpeg", MP3)], "model": ["whisper-1"], "response_format": ["text"]},
         answer="Imagine the wildest idea that you've ever had.\n", answer_type="text/plain; charset=utf-8"),
    Case("audio.transcriptions.create-srt",
         {"file": ("beach.mp3", MP3, "audio/mpeg"), "model": "whisper-1", "response_format": "srt"},
         "POST", f"{BASE}/audio/transcriptions",
         form={"file": [("beach.mp3", "audio/mpeg", MP3)], "model": ["whisper-1"], "response_format": ["srt"]},
         answer="1\n00:00:00,000 --> 00:00:03,319\nThe beach was a popular spot on a hot summer day.\n\n",
         answer_type="text/plain; charset=utf-8"),
    Case("audio.transcriptions.create-vtt",
         {"file": ("beach.mp3", MP3, "audio/mpeg"), "model": "whisper-1", "response_format": "vtt"},
         "POST", f"{BASE}/audio/transcriptions",
         form={"file": [("beach.mp3", "audio/mpeg", MP3)], "model": ["whisper-1"], "response_format": ["vtt"]},
         answer="WEBVTT\n\n00:00:00.000 --> 00:00:03.319\nThe beach was a popular spot on a hot summer day.\n\n",
         answer_type="text/vtt; charset=utf-8"),
    Case("audio.translations.create",
         {"file": ("german.m4a", M4A, "audio/mp4"), "model": "whisper-1", "prompt": "Wolfgang introduces himself.",
          "response_format": "json", "temperature": 0.2},
         "POST", f"{BASE}/audio/translations",
         form={"file": [("german.m4a", "audio/mp4", M4A)], "model": ["whisper-1"],
               "prompt": ["Wolfgang introduces himself."], "response_format": ["json"], "temperature": ["0.2"]},
         answer=Example("POST /audio/translations")),
    Case("audio.translations.create-text",
         {"file": ("german.m4a", M4A, "audio/mp4"), "model": "whisper-1", "response_format": "text"},
         "POST", f"{BASE}/audio/translations",
         form={"file": [("german.m4a", "audio/mp4", M4A)], "model": ["whisper-1"], "response_format": ["text"]},
         answer="Hello, my name is Wolfgang and I come from Germany.\n", answer_type="text/plain; charset=utf-8"),

    # batches
    Case("batches.list", {"after": "batch_abc000", "limit": 2}, "GET", f"{BASE}/batches?after=batch_abc000&limit=2",
         answer=Example("GET /batches")),
    Case("batches.list-nothing-optional", {}, "GET", f"{BASE}/batches", answer=Example("GET /batches")),
    Case("batches.create",
         {"input_file_id": "file-abc123", "endpoint": "/v1/chat/completions", "completion_window": "24h",
          "metadata": {"customer_id": "user_123456789", "batch_description": "Nightly eval job"}},
         "POST", f"{BASE}/batches",
         json={"input_file_id": "file-abc123", "endpoint": "/v1/chat/completions", "completion_window": "24h",
               "metadata": {"customer_id": "user_123456789", "batch_description": "Nightly eval job"}},
         answer=Example("POST /batches")),
    Case("batches.retrieve", {"batch_id": "batch_abc123"}, "GET", f"{BASE}/batches/batch_abc123",
         answer=Example("GET /batches/{batch_id}")),
    Case("batches.cancel", {"batch_id": "batch_abc123"}, "POST", f"{BASE}/batches/batch_abc123/cancel",
         answer=Example("POST /batches/{batch_id}/cancel")),

    # chat, completions, embeddings
    Case("chat.completions.create",
         {"model": "gpt-4o-mini",
          "messages": [{"role": "developer", "content": "You are a helpful assistant."},
                       {"role": "user", "content": "Hello!"}],
          "store": True, "metadata": {"run": "nightly"}, "frequency_penalty": 0.5, "logit_bias": {"50256": -100},
          "max_completion_tokens": 256, "n": 1, "presence_penalty": -0.5, "seed": 42, "stop": ["\n\n"],
          "temperature": 0.7, "top_p": 0.95, "response_format": {"type": "text"}, "user": "user-1234"},
         "POST", f"{BASE}/chat/completions",
         json={"model": "gpt-4o-mini",
               "messages": [{"role": "developer", "content": "You are a helpful assistant."},
                            {"role": "user", "content": "Hello!"}],
               "store": True, "metadata": {"run": "nightly"}, "frequency_penalty": 0.5,
               "logit_bias": {"50256": -100}, "max_completion_tokens": 256, "n": 1, "presence_penalty": -0.5,
               "seed": 42, "stop": ["\n\n"], "temperature": 0.7, "top_p": 0.95, "response_format": {"type": "text"},
               "user": "user-1234"},
         answer=Example("POST /chat/completions")),
    Case("chat.completions.create-tools",
         {"model": "gpt-4o-mini",
          "messages": [{"role": "user", "content": "What's the weather like in Boston today?"}],
          "tools": [{"type": "function",
                     "function": {"name": "get_current_weather", "description": "Get the current weather",
                                  "parameters": {"type": "object",
                                                 "properties": {"location": {"type": "string"}},
                                                 "required": ["location"]}}}],
          "tool_choice": "auto", "parallel_tool_calls": False},
         "POST", f"{BASE}/chat/completions",
         json={"model": "gpt-4o-mini",
               "messages": [{"role": "user", "content": "What's the weather like in Boston today?"}],
               "tools": [{"type": "function",
                          "function": {"name": "get_current_weather", "description": "Get the current weather",
                                       "parameters": {"type": "object",
                                                      "properties": {"location": {"type": "string"}},
                                                      "required": ["location"]}}}],
               "tool_choice": "auto", "parallel_tool_calls": False},
         answer=Example("POST /chat/completions", "Functions")),
    Case("chat.completions.create-structured-output",
         {"model": "gpt-4o-2024-08-06",
          "messages": [{"role": "user", "content": [
              {"type": "text", "text": "Extract the event from this poster."},
              {"type": "image_url", "image_url": {"url": "https://example.com/poster.png", "detail": "high"}}]}],
          "response_format": {"type": "json_schema", "json_schema": {
              "name": "calendar_event", "strict": True,
              "schema": {"type": "object", "properties": {"name": {"type": "string"}, "date": {"type": "string"}},
                         "required": ["name", "date"], "additionalProperties": False}}}},
         "POST", f"{BASE}/chat/completions",
         json={"model": "gpt-4o-2024-08-06",
               "messages": [{"role": "user", "content": [
                   {"type": "text", "text": "Extract the event from this poster."},
                   {"type": "image_url", "image_url": {"url": "https://example.com/poster.png", "detail": "high"}}]}],
               "response_format": {"type": "json_schema", "json_schema": {
                   "name": "calendar_event", "strict": True,
                   "schema": {"type": "object",
                              "properties": {"name": {"type": "string"}, "date": {"type": "string"}},
                              "required": ["name", "date"], "additionalProperties": False}}}},
         answer=Example("POST /chat/completions")),
    Case("chat.completions.create-nothing-optional",
         {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello!"}]},
         "POST", f"{BASE}/chat/completions",
         json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello!"}]},
         answer=Example("POST /chat/completions")),
    Case("completions.create",
         {"model": "gpt-3.5-turbo-instruct", "prompt": "Say this is a test", "max_tokens": 7, "temperature": 0,
          "best_of": 1, "echo": False, "logprobs": 2, "n": 1, "stop": "\n", "suffix": "!", "user": "user-1234"},
         "POST", f"{BASE}/completions",
         json={"model": "gpt-3.5-turbo-instruct", "prompt": "Say this is a test", "max_tokens": 7,
               "temperature": 0, "best_of": 1, "echo": False, "logprobs": 2, "n": 1, "stop": "\n", "suffix": "!",
               "user": "user-1234"},
         answer=Example("POST /completions")),
    Case("completions.create-nothing-optional", {"model": "gpt-3.5-turbo-instruct", "prompt": ["Say", "this"]},
         "POST", f"{BASE}/completions", json={"model": "gpt-3.5-turbo-instruct", "prompt": ["Say", "this"]},
         answer=Example("POST /completions")),
    Case("embeddings.create",
         {"input": "The food was delicious and the waiter...", "model": "text-embedding-3-small",
          "encoding_format": "float", "dimensions": 256, "user": "user-1234"},
         "POST", f"{BASE}/embeddings",
         json={"input": "The food was delicious and the waiter...", "model": "text-embedding-3-small",
               "encoding_format": "float", "dimensions": 256, "user": "user-1234"},
         answer=Example("POST /embeddings")),
    Case("embeddings.create-nothing-optional", {"input": [[1820, 25, 1], [42]], "model": "text-embedding-ada-002"},
         "POST", f"{BASE}/embeddings", json={"input": [[1820, 25, 1], [42]], "model": "text-embedding-ada-002"},
         answer=Example("POST /embeddings")),

    # files
    Case("files.list", {"purpose": "fine-tune", "limit": 100, "order": "asc", "after": "file-abc000"},
         "GET", f"{BASE}/files?purpose=fine-tune&limit=100&order=asc&after=file-abc000",
         answer=Example("GET /files")),
    Case("files.list-nothing-optional", {}, "GET", f"{BASE}/files", answer=Example("GET /files")),
    Case("files.create", {"file": ("mydata.jsonl", JSONL, "application/jsonl"), "purpose": "fine-tune"},
         "POST", f"{BASE}/files",
         form={"file": [("mydata.jsonl", "application/jsonl", JSONL)], "purpose": ["fine-tune"]},
         answer=Example("POST /files")),
    Case("files.retrieve", {"file_id": "file-abc123"}, "GET", f"{BASE}/files/file-abc123",
         answer=Example("GET /files/{file_id}")),
    Case("files.delete", {"file_id": "file-abc123"}, "DELETE", f"{BASE}/files/file-abc123",
         answer=Example("DELETE /files/{file_id}")),
    # The description labels the content application/json; it is the file's bytes, never parsed.
    Case("files.content", {"file_id": "file-abc123"}, "GET", f"{BASE}/files/file-abc123/content",
         answer=JSONL, answer_type="application/json"),

    # fine-tuning (the description's example of the job list shows events: still a valid list answer)
    Case("fine_tuning.jobs.list", {"after": "ftjob-abc000", "limit": 5}, "GET",
         f"{BASE}/fine_tuning/jobs?after=ftjob-abc000&limit=5", answer=Example("GET /fine_tuning/jobs")),
    Case("fine_tuning.jobs.list-nothing-optional", {}, "GET", f"{BASE}/fine_tuning/jobs",
         answer=Example("GET /fine_tuning/jobs")),
    Case("fine_tuning.jobs.create",
         {"model": "gpt-4o-mini-2024-07-18", "training_file": "file-abc123", "validation_file": "file-def456",
          "suffix": "custom-model-name", "seed": 42,
          "method": {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 3}}},
          "integrations": [{"type": "wandb", "wandb": {"project": "my-wandb-project"}}]},
         "POST", f"{BASE}/fine_tuning/jobs",
         json={"model": "gpt-4o-mini-2024-07-18", "training_file": "file-abc123", "validation_file": "file-def456",
               "suffix": "custom-model-name", "seed": 42,
               "method": {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 3}}},
               "integrations": [{"type": "wandb", "wandb": {"project": "my-wandb-project"}}]},
         answer=Example("POST /fine_tuning/jobs")),
    Case("fine_tuning.jobs.create-nothing-optional",
         {"model": "gpt-4o-mini-2024-07-18", "training_file": "file-abc123"}, "POST", f"{BASE}/fine_tuning/jobs",
         json={"model": "gpt-4o-mini-2024-07-18", "training_file": "file-abc123"},
         answer=Example("POST /fine_tuning/jobs")),
    Case("fine_tuning.jobs.retrieve", {"fine_tuning_job_id": "ftjob-abc123"}, "GET",
         f"{BASE}/fine_tuning/jobs/ftjob-abc123", answer=Example("GET /fine_tuning/jobs/{fine_tuning_job_id}")),
    Case("fine_tuning.jobs.cancel", {"fine_tuning_job_id": "ftjob-abc123"}, "POST",
         f"{BASE}/fine_tuning/jobs/ftjob-abc123/cancel",
         answer=Example("POST /fine_tuning/jobs/{fine_tuning_job_id}/cancel")),
    Case("fine_tuning.jobs.checkpoints.list",
         {"fine_tuning_job_id": "ftjob-abc123", "after": "ftckpt_abc000", "limit": 2}, "GET",
         f"{BASE}/fine_tuning/jobs/ftjob-abc123/checkpoints?after=ftckpt_abc000&limit=2",
         answer=Example("GET /fine_tuning/jobs/{fine_tuning_job_id}/checkpoints")),
    Case("fine_tuning.jobs.checkpoints.list-nothing-optional", {"fine_tuning_job_id": "ftjob-abc123"}, "GET",
         f"{BASE}/fine_tuning/jobs/ftjob-abc123/checkpoints",
         answer=Example("GET /fine_tuning/jobs/{fine_tuning_job_id}/checkpoints")),
    Case("fine_tuning.jobs.list_events",
         {"fine_tuning_job_id": "ftjob-abc123", "after": "ft-event-abc000", "limit": 2}, "GET",
         f"{BASE}/fine_tuning/jobs/ftjob-abc123/events?after=ft-event-abc000&limit=2",
         answer=Example("GET /fine_tuning/jobs/{fine_tuning_job_id}/events")),

    # images
    Case("images.edit",
         {"image": ("otter.png", PNG, "image/png"), "mask": ("mask.png", PNG, "image/png"),
          "prompt": "A cute baby sea otter wearing a beret", "model": "dall-e-2", "n": 2, "size": "1024x1024",
          "response_format": "url", "user": "user-1234"},
         "POST", f"{BASE}/images/edits",
         form={"image": [("otter.png", "image/png", PNG)], "mask": [("mask.png", "image/png", PNG)],
               "prompt": ["A cute baby sea otter wearing a beret"], "model": ["dall-e-2"], "n": ["2"],
               "size": ["1024x1024"], "response_format": ["url"], "user": ["user-1234"]},
         answer=Example("POST /images/edits")),
    Case("images.generate",
         {"prompt": "A cute baby sea otter", "model": "dall-e-3", "n": 1, "quality": "hd",
          "response_format": "b64_json", "size": "1792x1024", "style": "natural", "user": "user-1234"},
         "POST", f"{BASE}/images/generations",
         json={"prompt": "A cute baby sea otter", "model": "dall-e-3", "n": 1, "quality": "hd",
               "response_format": "b64_json", "size": "1792x1024", "style": "natural", "user": "user-1234"},
         answer=Example("POST /images/generations")),
    Case("images.generate-nothing-optional", {"prompt": "A cute baby sea otter"}, "POST",
         f"{BASE}/images/generations", json={"prompt": "A cute baby sea otter"},
         answer=Example("POST /images/generations")),
    # Content given without a name goes out as a PNG file, as the API requires of `image`.
    Case("images.create_variation", {"image": PNG, "n": 2, "size": "1024x1024"},
         "POST", f"{BASE}/images/variations",
         form={"image": [("image.png", "image/png", PNG)], "n": ["2"], "size": ["1024x1024"]},
         answer=Example("POST /images/variations")),

    # models
    Case("models.list", {}, "GET", f"{BASE}/models", answer=Example("GET /models")),
    Case("models.retrieve", {"model": "gpt-4o-mini"}, "GET", f"{BASE}/models/gpt-4o-mini",
         answer=Example("GET /models/{model}")),
    Case("models.delete", {"model": "ft:gpt-4o-mini:acemeco:suffix:abc123"}, "DELETE",
         f"{BASE}/models/ft%3Agpt-4o-mini%3Aacemeco%3Asuffix%3Aabc123",
         answer=Example("DELETE /models/{model}")),

    # moderations
    Case("moderations.create",
         {"model": "omni-moderation-latest",
          "input": [{"type": "text", "text": "...text to classify goes here..."},
                    {"type": "image_url", "image_url": {"url": "https://example.com/image.png"}}]},
         "POST", f"{BASE}/moderations",
         json={"model": "omni-moderation-latest",
               "input": [{"type": "text", "text": "...text to classify goes here..."},
                         {"type": "image_url", "image_url": {"url": "https://example.com/image.png"}}]},
         answer=Example("POST /moderations")),
    Case("moderations.create-nothing-optional", {"input": "I want to kill them."}, "POST", f"{BASE}/moderations",
         json={"input": "I want to kill them."}, answer=Example("POST /moderations")),

    # realtime
    Case("realtime.sessions.create",
         {"model": "gpt-4o-realtime-preview-2024-12-17", "modalities": ["audio", "text"],
          "instructions": "You are a friendly assistant.", "voice": "alloy", "input_audio_format": "pcm16",
          "output_audio_format": "g711_ulaw", "input_audio_transcription": {"model": "whisper-1"},
          "turn_detection": {"type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300,
                             "silence_duration_ms": 500},
          "tools": [{"type": "function", "name": "get_weather", "description": "Weather for a city",
                     "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}],
          "tool_choice": "auto", "temperature": 0.8, "max_response_output_tokens": "inf"},
         "POST", f"{BASE}/realtime/sessions",
         json={"model": "gpt-4o-realtime-preview-2024-12-17", "modalities": ["audio", "text"],
               "instructions": "You are a friendly assistant.", "voice": "alloy", "input_audio_format": "pcm16",
               "output_audio_format": "g711_ulaw", "input_audio_transcription": {"model": "whisper-1"},
               "turn_detection": {"type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300,
                                  "silence_duration_ms": 500},
               "tools": [{"type": "function", "name": "get_weather", "description": "Weather for a city",
                          "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}],
               "tool_choice": "auto", "temperature": 0.8, "max_response_output_tokens": "inf"},
         answer=Example("POST /realtime/sessions")),
    Case("realtime.sessions.create-nothing-optional", {"model": "gpt-4o-realtime-preview"}, "POST",
         f"{BASE}/realtime/sessions", json={"model": "gpt-4o-realtime-preview"},
         answer=Example("POST /realtime/sessions")),

    # uploads
    Case("uploads.create",
         {"filename": "training_examples.jsonl", "purpose": "fine-tune", "bytes": 2147483648,
          "mime_type": "text/jsonl"},
         "POST", f"{BASE}/uploads",
         json={"filename": "training_examples.jsonl", "purpose": "fine-tune", "bytes": 2147483648,
               "mime_type": "text/jsonl"},
         answer=Example("POST /uploads")),
    Case("uploads.cancel", {"upload_id": "upload_abc123"}, "POST", f"{BASE}/uploads/upload_abc123/cancel",
         answer=Example("POST /uploads/{upload_id}/cancel")),
    Case("uploads.complete",
         {"upload_id": "upload_abc123", "part_ids": ["part_def456", "part_ghi789"],
          "md5": "9e107d9d372bb6826bd81d3542a419d6"},
         "POST", f"{BASE}/uploads/upload_abc123/complete",
         json={"part_ids": ["part_def456", "part_ghi789"], "md5": "9e107d9d372bb6826bd81d3542a419d6"},
         answer=Example("POST /uploads/{upload_id}/complete")),
    Case("uploads.complete-nothing-optional", {"upload_id": "upload_abc123", "part_ids": ["part_def456"]},
         "POST", f"{BASE}/uploads/upload_abc123/complete", json={"part_ids": ["part_def456"]},
         answer=Example("POST /uploads/{upload_id}/complete")),
    Case("uploads.parts.create", {"upload_id": "upload_abc123", "data": JSONL}, "POST",
         f"{BASE}/uploads/upload_abc123/parts", form={"data": [("part", "application/octet-stream", JSONL)]},
         answer=Example("POST /uploads/{upload_id}/parts")),

    # vector stores (beta)
    Case("vector_stores.list", {"limit": 2, "order": "desc", "after": "vs_abc000", "before": "vs_abc999"},
         "GET", f"{BASE}/vector_stores?limit=2&order=desc&after=vs_abc000&before=vs_abc999", beta=True,
         answer=Example("GET /vector_stores")),
    Case("vector_stores.list-nothing-optional", {}, "GET", f"{BASE}/vector_stores", beta=True,
         answer=Example("GET /vector_stores")),
    Case("vector_stores.create",
         {"file_ids": ["file-abc123", "file-abc456"], "name": "Support FAQ",
          "expires_after": {"anchor": "last_active_at", "days": 7},
          "chunking_strategy": {"type": "static",
                                "static": {"max_chunk_size_tokens": 800, "chunk_overlap_tokens": 400}},
          "metadata": {"team": "support"}},
         "POST", f"{BASE}/vector_stores", beta=True,
         json={"file_ids": ["file-abc123", "file-abc456"], "name": "Support FAQ",
               "expires_after": {"anchor": "last_active_at", "days": 7},
               "chunking_strategy": {"type": "static",
                                     "static": {"max_chunk_size_tokens": 800, "chunk_overlap_tokens": 400}},
               "metadata": {"team": "support"}},
         answer=Example("POST /vector_stores")),
    # The request body is required, with no required field: an empty object.
    Case("vector_stores.create-nothing-optional", {}, "POST", f"{BASE}/vector_stores", beta=True, json={},
         answer=Example("POST /vector_stores")),
    Case("vector_stores.retrieve", {"vector_store_id": "vs_abc123"}, "GET", f"{BASE}/vector_stores/vs_abc123",
         beta=True, answer=Example("GET /vector_stores/{vector_store_id}")),
    Case("vector_stores.update",
         {"vector_store_id": "vs_abc123", "name": "Support FAQ", "expires_after": {"anchor": "last_active_at",
                                                                                   "days": 30},
          "metadata": {"team": "support", "tier": "gold"}},
         "POST", f"{BASE}/vector_stores/vs_abc123", beta=True,
         json={"name": "Support FAQ", "expires_after": {"anchor": "last_active_at", "days": 30},
               "metadata": {"team": "support", "tier": "gold"}},
         answer=Example("POST /vector_stores/{vector_store_id}")),
    Case("vector_stores.delete", {"vector_store_id": "vs_abc123"}, "DELETE", f"{BASE}/vector_stores/vs_abc123",
         beta=True, answer=Example("DELETE /vector_stores/{vector_store_id}")),
    Case("vector_stores.file_batches.create",
         {"vector_store_id": "vs_abc123", "file_ids": ["file-abc123", "file-abc456"],
          "chunking_strategy": {"type": "auto"}},
         "POST", f"{BASE}/vector_stores/vs_abc123/file_batches", beta=True,
         json={"file_ids": ["file-abc123", "file-abc456"], "chunking_strategy": {"type": "auto"}},
         answer=Example("POST /vector_stores/{vector_store_id}/file_batches")),
    Case("vector_stores.file_batches.retrieve", {"vector_store_id": "vs_abc123", "batch_id": "vsfb_abc123"},
         "GET", f"{BASE}/vector_stores/vs_abc123/file_batches/vsfb_abc123", beta=True,
         answer=Example("GET /vector_stores/{vector_store_id}/file_batches/{batch_id}")),
    Case("vector_stores.file_batches.cancel", {"vector_store_id": "vs_abc123", "batch_id": "vsfb_abc123"},
         "POST", f"{BASE}/vector_stores/vs_abc123/file_batches/vsfb_abc123/cancel", beta=True,
         answer=Example("POST /vector_stores/{vector_store_id}/file_batches/{batch_id}/cancel")),
    Case("vector_stores.file_batches.list_files",
         {"vector_store_id": "vs_abc123", "batch_id": "vsfb_abc123", "limit": 2, "order": "asc",
          "after": "file-abc000", "before": "file-abc999", "filter": "completed"},
         "GET", f"{BASE}/vector_stores/vs_abc123/file_batches/vsfb_abc123/files"
                "?limit=2&order=asc&after=file-abc000&before=file-abc999&filter=completed",
         beta=True, answer=Example("GET /vector_stores/{vector_store_id}/file_batches/{batch_id}/files")),
    Case("vector_stores.files.list",
         {"vector_store_id": "vs_abc123", "limit": 2, "order": "desc", "after": "file-abc000",
          "before": "file-abc999", "filter": "in_progress"},
         "GET", f"{BASE}/vector_stores/vs_abc123/files"
                "?limit=2&order=desc&after=file-abc000&before=file-abc999&filter=in_progress",
         beta=True, answer=Example("GET /vector_stores/{vector_store_id}/files")),
    Case("vector_stores.files.list-nothing-optional", {"vector_store_id": "vs_abc123"}, "GET",
         f"{BASE}/vector_stores/vs_abc123/files", beta=True,
         answer=Example("GET /vector_stores/{vector_store_id}/files")),
    Case("vector_stores.files.create",
         {"vector_store_id": "vs_abc123", "file_id": "file-abc123",
          "chunking_strategy": {"type": "static",
                                "static": {"max_chunk_size_tokens": 1200, "chunk_overlap_tokens": 200}}},
         "POST", f"{BASE}/vector_stores/vs_abc123/files", beta=True,
         json={"file_id": "file-abc123",
               "chunking_strategy": {"type": "static",
                                     "static": {"max_chunk_size_tokens": 1200, "chunk_overlap_tokens": 200}}},
         answer=Example("POST /vector_stores/{vector_store_id}/files")),
    Case("vector_stores.files.retrieve", {"vector_store_id": "vs_abc123", "file_id": "file-abc123"}, "GET",
         f"{BASE}/vector_stores/vs_abc123/files/file-abc123", beta=True,
         answer=Example("GET /vector_stores/{vector_store_id}/files/{file_id}")),
    Case("vector_stores.files.delete", {"vector_store_id": "vs_abc123", "file_id": "file-abc123"}, "DELETE",
         f"{BASE}/vector_stores/vs_abc123/files/file-abc123", beta=True,
         answer=Example("DELETE /vector_stores/{vector_store_id}/files/{file_id}")),
]

GROUPS = ("assistants", "audio", "batches", "chat", "completions", "embeddings", "files", "fine_tuning", "images",
          "models", "moderations", "realtime", "uploads", "vector_stores")


def multipart_fields(body: bytes, content_type: str) -> dict[str, list]:
    """name -> values in order: text parts as str, file parts as (filename, content type, bytes)."""
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body)
    assert msg.is_multipart() and not msg.defects, msg.defects
    fields: dict[str, list] = {}
    for part in msg.iter_parts():
        assert part.get_content_disposition() == "form-data"
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        filename = part.get_filename()
        value = (filename, part.get_content_type(), payload) if filename is not None else payload.decode("utf-8")
        fields.setdefault(name, []).append(value)
    return fields


def test_every_action_of_the_groups_has_a_case(eng):
    names = {a.name for a in eng.actions() if not a.composite and a.name.split(".")[0] in GROUPS}
    assert len(names) == 51
    assert names == {c.action for c in CASES}
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_request_and_answer(eng, mocked, case):
    if isinstance(case.answer, Example):
        sent = {**case.answer.load(), **UNLISTED}
        mocked.add(case.method, ANY_URL, body=json.dumps(sent), content_type=case.answer_type)
    else:
        sent = case.answer
        mocked.add(case.method, ANY_URL, body=sent, content_type=case.answer_type)

    out = eng.run(case.action, case.params)

    assert len(mocked.calls) == 1
    req = mocked.calls[0].request
    assert req.method == case.method
    assert req.url == case.url
    headers = req.headers
    assert headers["Authorization"] == f"Bearer {API_KEY}"
    assert headers.get("OpenAI-Beta") == ("assistants=v2" if case.beta else None)
    assert headers.get("Accept") == case.accept
    assert "OpenAI-Organization" not in headers and "OpenAI-Project" not in headers
    assert "Transfer-Encoding" not in headers
    if case.json is not None:
        assert headers["Content-Type"] == "application/json"
        assert isinstance(req.body, bytes) and headers["Content-Length"] == str(len(req.body))
        assert json.loads(req.body.decode("utf-8")) == case.json
    elif case.form is not None:
        ctype = headers["Content-Type"]
        assert re.fullmatch(r"multipart/form-data; boundary=[0-9A-Za-z'()+_,\-./:=?]{1,70}", ctype), ctype
        body = b"".join(bytes(chunk) for chunk in req.body)
        assert headers["Content-Length"] == str(len(body))
        assert multipart_fields(body, ctype) == case.form
    else:
        assert "Content-Type" not in headers
        assert not req.body

    if isinstance(case.answer, Example):
        assert out == sent and out["x_added_later"] == {"kept": True}
    else:
        assert type(out) is type(case.answer) and out == case.answer
