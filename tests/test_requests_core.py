"""The request each core action builds, and how its answer is decoded, against the API reference.

One case per call, for every action of the assistants, audio, batches, chat, completions,
embeddings, files, fine_tuning, images, models, moderations, realtime, uploads and
vector_stores groups. Every expected method, URL, header and body below is written from the
OpenAPI description (`openai-2025-01-21.yaml`: each operation's path, parameters and request
body schema), never read back from the engine. Mocked answers are the description's own
response examples (its JSON slips mended: trailing commas, `...` placeholders, unquoted keys),
plus one field the description does not list, which the caller must get back all the same.
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
    answer: Any = None                   # dict (JSON), str (text) or bytes (binary)
    answer_type: str = "application/json"
    accept: str = "application/json"

    @property
    def action(self) -> str:
        return self.id.split("-", 1)[0]


# --- the description's response examples ------------------------------------------------------

ASSISTANT_MATH = {
    "id": "asst_abc123", "object": "assistant", "created_at": 1698984975, "name": "Math Tutor",
    "description": None, "model": "gpt-4o",
    "instructions": "You are a personal math tutor. When asked a question, write and run Python code to "
                    "answer the question.",
    "tools": [{"type": "code_interpreter"}], "metadata": {}, "top_p": 1.0, "temperature": 1.0,
    "response_format": "auto"}
ASSISTANT_HR = {
    "id": "asst_abc123", "object": "assistant", "created_at": 1699009709, "name": "HR Helper",
    "description": None, "model": "gpt-4o",
    "instructions": "You are an HR bot, and you have access to files to answer employee questions about "
                    "company policies.",
    "tools": [{"type": "file_search"}], "metadata": {}, "top_p": 1.0, "temperature": 1.0,
    "response_format": "auto"}
ASSISTANT_UPDATED = {
    "id": "asst_123", "object": "assistant", "created_at": 1699009709, "name": "HR Helper",
    "description": None, "model": "gpt-4o",
    "instructions": "You are an HR bot, and you have access to files to answer employee questions about "
                    "company policies. Always response with info from either of the files.",
    "tools": [{"type": "file_search"}], "tool_resources": {"file_search": {"vector_store_ids": []}},
    "metadata": {}, "top_p": 1.0, "temperature": 1.0, "response_format": "auto"}
ASSISTANT_LIST = {
    "object": "list",
    "data": [
        {"id": "asst_abc123", "object": "assistant", "created_at": 1698982736, "name": "Coding Tutor",
         "description": None, "model": "gpt-4o",
         "instructions": "You are a helpful assistant designed to make me better at coding!", "tools": [],
         "tool_resources": {}, "metadata": {}, "top_p": 1.0, "temperature": 1.0, "response_format": "auto"},
        {"id": "asst_abc456", "object": "assistant", "created_at": 1698982718, "name": "My Assistant",
         "description": None, "model": "gpt-4o",
         "instructions": "You are a helpful assistant designed to make me better at coding!", "tools": [],
         "tool_resources": {}, "metadata": {}, "top_p": 1.0, "temperature": 1.0, "response_format": "auto"},
        {"id": "asst_abc789", "object": "assistant", "created_at": 1698982643, "name": None,
         "description": None, "model": "gpt-4o", "instructions": None, "tools": [], "tool_resources": {},
         "metadata": {}, "top_p": 1.0, "temperature": 1.0, "response_format": "auto"}],
    "first_id": "asst_abc123", "last_id": "asst_abc789", "has_more": False}

TRANSCRIPTION = {
    "text": "Imagine the wildest idea that you've ever had, and you're curious about how it might scale to "
            "something that's a 100, a 1,000 times bigger. This is a place where you can get to do that."}
TRANSCRIPTION_TIMESTAMPS = {
    "task": "transcribe", "language": "english", "duration": 8.470000267028809,
    "text": "The beach was a popular spot on a hot summer day. People were swimming in the ocean, building "
            "sandcastles, and playing beach volleyball.",
    "words": [{"word": "The", "start": 0.0, "end": 0.23999999463558197},
              {"word": "volleyball", "start": 7.400000095367432, "end": 7.900000095367432}],
    "segments": [{"id": 0, "seek": 0, "start": 0.0, "end": 3.319999933242798,
                  "text": " The beach was a popular spot on a hot summer day.",
                  "tokens": [50364, 440, 7534, 390, 257, 3743, 4008, 322, 257, 2368, 4266, 786, 13, 50530],
                  "temperature": 0.0, "avg_logprob": -0.2860786020755768,
                  "compression_ratio": 1.2363636493682861, "no_speech_prob": 0.00985979475080967}]}
TRANSLATION = {"text": "Hello, my name is Wolfgang and I come from Germany. Where are you heading today?"}

BATCH_COMPLETED = {
    "id": "batch_abc123", "object": "batch", "endpoint": "/v1/completions", "errors": None,
    "input_file_id": "file-abc123", "completion_window": "24h", "status": "completed",
    "output_file_id": "file-cvaTdG", "error_file_id": "file-HOWS94", "created_at": 1711471533,
    "in_progress_at": 1711471538, "expires_at": 1711557933, "finalizing_at": 1711493133,
    "completed_at": 1711493163, "failed_at": None, "expired_at": None, "cancelling_at": None,
    "cancelled_at": None, "request_counts": {"total": 100, "completed": 95, "failed": 5},
    "metadata": {"customer_id": "user_123456789", "batch_description": "Nightly eval job"}}
BATCH_VALIDATING = {
    "id": "batch_abc123", "object": "batch", "endpoint": "/v1/chat/completions", "errors": None,
    "input_file_id": "file-abc123", "completion_window": "24h", "status": "validating",
    "output_file_id": None, "error_file_id": None, "created_at": 1711471533, "in_progress_at": None,
    "expires_at": None, "finalizing_at": None, "completed_at": None, "failed_at": None, "expired_at": None,
    "cancelling_at": None, "cancelled_at": None, "request_counts": {"total": 0, "completed": 0, "failed": 0},
    "metadata": {"customer_id": "user_123456789", "batch_description": "Nightly eval job"}}
BATCH_CANCELLING = {
    "id": "batch_abc123", "object": "batch", "endpoint": "/v1/chat/completions", "errors": None,
    "input_file_id": "file-abc123", "completion_window": "24h", "status": "cancelling",
    "output_file_id": None, "error_file_id": None, "created_at": 1711471533, "in_progress_at": 1711471538,
    "expires_at": 1711557933, "finalizing_at": None, "completed_at": None, "failed_at": None,
    "expired_at": None, "cancelling_at": 1711475133, "cancelled_at": None,
    "request_counts": {"total": 100, "completed": 23, "failed": 1},
    "metadata": {"customer_id": "user_123456789", "batch_description": "Nightly eval job"}}
BATCH_LIST = {
    "object": "list",
    "data": [{"id": "batch_abc123", "object": "batch", "endpoint": "/v1/chat/completions", "errors": None,
              "input_file_id": "file-abc123", "completion_window": "24h", "status": "completed",
              "output_file_id": "file-cvaTdG", "error_file_id": "file-HOWS94", "created_at": 1711471533,
              "in_progress_at": 1711471538, "expires_at": 1711557933, "finalizing_at": 1711493133,
              "completed_at": 1711493163, "failed_at": None, "expired_at": None, "cancelling_at": None,
              "cancelled_at": None, "request_counts": {"total": 100, "completed": 95, "failed": 5},
              "metadata": {"customer_id": "user_123456789", "batch_description": "Nightly job"}}],
    "first_id": "batch_abc123", "last_id": "batch_abc456", "has_more": True}

CHAT_COMPLETION = {
    "id": "chatcmpl-123", "object": "chat.completion", "created": 1677652288, "model": "gpt-4o-mini",
    "system_fingerprint": "fp_44709d6fcb",
    "choices": [{"index": 0,
                 "message": {"role": "assistant", "content": "\n\nHello there, how may I assist you today?"},
                 "logprobs": None, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 9, "completion_tokens": 12, "total_tokens": 21,
              "completion_tokens_details": {"reasoning_tokens": 0, "accepted_prediction_tokens": 0,
                                            "rejected_prediction_tokens": 0}}}
CHAT_TOOL_CALL = {
    "id": "chatcmpl-abc123", "object": "chat.completion", "created": 1699896916, "model": "gpt-4o-mini",
    "choices": [{"index": 0,
                 "message": {"role": "assistant", "content": None,
                             "tool_calls": [{"id": "call_abc123", "type": "function",
                                             "function": {"name": "get_current_weather",
                                                          "arguments": '{\n"location": "Boston, MA"\n}'}}]},
                 "logprobs": None, "finish_reason": "tool_calls"}],
    "usage": {"prompt_tokens": 82, "completion_tokens": 17, "total_tokens": 99,
              "completion_tokens_details": {"reasoning_tokens": 0, "accepted_prediction_tokens": 0,
                                            "rejected_prediction_tokens": 0}}}
COMPLETION = {
    "id": "cmpl-uqkvlQyYK7bGYrRHQ0eXlWi7", "object": "text_completion", "created": 1589478378,
    "model": "VAR_completion_model_id", "system_fingerprint": "fp_44709d6fcb",
    "choices": [{"text": "\n\nThis is indeed a test", "index": 0, "logprobs": None, "finish_reason": "length"}],
    "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}}
EMBEDDINGS = {
    "object": "list",
    "data": [{"object": "embedding", "embedding": [0.0023064255, -0.009327292, -0.0028842222], "index": 0}],
    "model": "text-embedding-ada-002", "usage": {"prompt_tokens": 8, "total_tokens": 8}}

FILE = {"id": "file-abc123", "object": "file", "bytes": 120000, "created_at": 1677610602,
        "filename": "mydata.jsonl", "purpose": "fine-tune"}
FILE_LIST = {
    "data": [{"id": "file-abc123", "object": "file", "bytes": 175, "created_at": 1613677385,
              "filename": "salesOverview.pdf", "purpose": "assistants"},
             {"id": "file-abc123", "object": "file", "bytes": 140, "created_at": 1613779121,
              "filename": "puppy.jsonl", "purpose": "fine-tune"}],
    "object": "list"}

FT_JOB_QUEUED = {
    "object": "fine_tuning.job", "id": "ftjob-abc123", "model": "gpt-4o-mini-2024-07-18",
    "created_at": 1721764800, "fine_tuned_model": None, "organization_id": "org-123", "result_files": [],
    "status": "queued", "validation_file": None, "training_file": "file-abc123",
    "method": {"type": "supervised",
               "supervised": {"hyperparameters": {"batch_size": "auto", "learning_rate_multiplier": "auto",
                                                  "n_epochs": "auto"}}}}
FT_JOB_SUCCEEDED = {
    "object": "fine_tuning.job", "id": "ftjob-abc123", "model": "davinci-002", "created_at": 1692661014,
    "finished_at": 1692661190, "fine_tuned_model": "ft:davinci-002:my-org:custom_suffix:7q8mpxmy",
    "organization_id": "org-123", "result_files": ["file-abc123"], "status": "succeeded",
    "validation_file": None, "training_file": "file-abc123",
    "hyperparameters": {"n_epochs": 4, "batch_size": 1, "learning_rate_multiplier": 1.0},
    "trained_tokens": 5768, "integrations": [], "seed": 0, "estimated_finish": 0,
    "method": {"type": "supervised",
               "supervised": {"hyperparameters": {"n_epochs": 4, "batch_size": 1,
                                                  "learning_rate_multiplier": 1.0}}}}
FT_JOB_CANCELLED = {
    "object": "fine_tuning.job", "id": "ftjob-abc123", "model": "gpt-4o-mini-2024-07-18",
    "created_at": 1721764800, "fine_tuned_model": None, "organization_id": "org-123", "result_files": [],
    "status": "cancelled", "validation_file": "file-abc123", "training_file": "file-abc123"}
FT_JOB_LIST = {   # the description's example lists events here; it is still what the server might say
    "object": "list",
    "data": [{"object": "fine_tuning.job.event", "id": "ft-event-TjX0lMfOniCZX64t9PUQT5hn",
              "created_at": 1689813489, "level": "warn",
              "message": "Fine tuning process stopping due to job cancellation", "data": None,
              "type": "message"}],
    "has_more": True}
FT_CHECKPOINTS = {
    "object": "list",
    "data": [{"object": "fine_tuning.job.checkpoint", "id": "ftckpt_zc4Q7MP6XxulcVzj4MZdwsAB",
              "created_at": 1721764867,
              "fine_tuned_model_checkpoint": "ft:gpt-4o-mini-2024-07-18:my-org:custom-suffix:96olL566:ckpt-step-2000",
              "metrics": {"full_valid_loss": 0.134, "full_valid_mean_token_accuracy": 0.874},
              "fine_tuning_job_id": "ftjob-abc123", "step_number": 2000},
             {"object": "fine_tuning.job.checkpoint", "id": "ftckpt_enQCFmOTGj3syEpYVhBRLTSy",
              "created_at": 1721764800,
              "fine_tuned_model_checkpoint": "ft:gpt-4o-mini-2024-07-18:my-org:custom-suffix:7q8mpxmy:ckpt-step-1000",
              "metrics": {"full_valid_loss": 0.167, "full_valid_mean_token_accuracy": 0.781},
              "fine_tuning_job_id": "ftjob-abc123", "step_number": 1000}],
    "first_id": "ftckpt_zc4Q7MP6XxulcVzj4MZdwsAB", "last_id": "ftckpt_enQCFmOTGj3syEpYVhBRLTSy",
    "has_more": True}
FT_EVENTS = {
    "object": "list",
    "data": [{"object": "fine_tuning.job.event", "id": "ft-event-ddTJfwuMVpfLXseO0Am0Gqjm",
              "created_at": 1721764800, "level": "info", "message": "Fine tuning job successfully completed",
              "data": None, "type": "message"},
             {"object": "fine_tuning.job.event", "id": "ft-event-tyiGuB72evQncpH87xe505Sv",
              "created_at": 1721764800, "level": "info",
              "message": "New fine-tuned model created: ft:gpt-4o-mini:openai::7p4lURel", "data": None,
              "type": "message"}],
    "has_more": True}

IMAGES = {"created": 1589478378, "data": [{"url": "https://..."}, {"url": "https://..."}]}

MODEL_LIST = {
    "object": "list",
    "data": [{"id": "model-id-0", "object": "model", "created": 1686935002, "owned_by": "organization-owner"},
             {"id": "model-id-1", "object": "model", "created": 1686935002, "owned_by": "organization-owner"},
             {"id": "model-id-2", "object": "model", "created": 1686935002, "owned_by": "openai"}]}

MODERATION = {
    "id": "modr-AB8CjOTu2jiq12hp1AQPfeqFWaORR", "model": "text-moderation-007",
    "results": [{"flagged": True,
                 "categories": {"sexual": False, "hate": False, "harassment": True, "self-harm": False,
                                "sexual/minors": False, "hate/threatening": False, "violence/graphic": False,
                                "self-harm/intent": False, "self-harm/instructions": False,
                                "harassment/threatening": True, "violence": True},
                 "category_scores": {"sexual": 1.1726012417057063e-05, "hate": 0.22706663608551025,
                                     "harassment": 0.5215635299682617, "self-harm": 2.227119921371923e-06,
                                     "sexual/minors": 7.107352217872176e-08,
                                     "hate/threatening": 0.023547329008579254,
                                     "violence/graphic": 3.391829886822961e-05,
                                     "self-harm/intent": 1.646940972932498e-06,
                                     "self-harm/instructions": 1.1198755256458526e-09,
                                     "harassment/threatening": 0.5694745779037476,
                                     "violence": 0.9971134662628174}}]}

REALTIME_SESSION = {
    "id": "sess_001", "object": "realtime.session", "model": "gpt-4o-realtime-preview-2024-12-17",
    "modalities": ["audio", "text"], "instructions": "You are a friendly assistant.", "voice": "alloy",
    "input_audio_format": "pcm16", "output_audio_format": "pcm16",
    "input_audio_transcription": {"model": "whisper-1"}, "turn_detection": None, "tools": [],
    "tool_choice": "none", "temperature": 0.7, "max_response_output_tokens": 200,
    "client_secret": {"value": "ek_abc123", "expires_at": 1234567890}}

UPLOAD_PENDING = {"id": "upload_abc123", "object": "upload", "bytes": 2147483648, "created_at": 1719184911,
                  "filename": "training_examples.jsonl", "purpose": "fine-tune", "status": "pending",
                  "expires_at": 1719127296}
UPLOAD_CANCELLED = {**UPLOAD_PENDING, "status": "cancelled"}
UPLOAD_COMPLETED = {
    **UPLOAD_PENDING, "status": "completed",
    "file": {"id": "file-xyz321", "object": "file", "bytes": 2147483648, "created_at": 1719186911,
             "filename": "training_examples.jsonl", "purpose": "fine-tune"}}
UPLOAD_PART = {"id": "part_def456", "object": "upload.part", "created_at": 1719185911, "upload_id": "upload_abc123"}

VECTOR_STORE = {"id": "vs_abc123", "object": "vector_store", "created_at": 1699061776, "name": "Support FAQ",
                "bytes": 139920,
                "file_counts": {"in_progress": 0, "completed": 3, "failed": 0, "cancelled": 0, "total": 3}}
VECTOR_STORE_LIST = {
    "object": "list",
    "data": [VECTOR_STORE,
             {"id": "vs_abc456", "object": "vector_store", "created_at": 1699061776, "name": "Support FAQ v2",
              "bytes": 139920,
              "file_counts": {"in_progress": 0, "completed": 3, "failed": 0, "cancelled": 0, "total": 3}}],
    "first_id": "vs_abc123", "last_id": "vs_abc456", "has_more": False}
FILE_BATCH = {"id": "vsfb_abc123", "object": "vector_store.file_batch", "created_at": 1699061776,
              "vector_store_id": "vs_abc123", "status": "in_progress",
              "file_counts": {"in_progress": 1, "completed": 1, "failed": 0, "cancelled": 0, "total": 0}}
FILE_BATCH_CANCELLING = {
    "id": "vsfb_abc123", "object": "vector_store.file_batch", "created_at": 1699061776,
    "vector_store_id": "vs_abc123", "status": "cancelling",
    "file_counts": {"in_progress": 12, "completed": 3, "failed": 0, "cancelled": 0, "total": 15}}
VS_FILE_LIST = {
    "object": "list",
    "data": [{"id": "file-abc123", "object": "vector_store.file", "created_at": 1699061776,
              "vector_store_id": "vs_abc123"},
             {"id": "file-abc456", "object": "vector_store.file", "created_at": 1699061776,
              "vector_store_id": "vs_abc123"}],
    "first_id": "file-abc123", "last_id": "file-abc456", "has_more": False}
VS_FILE = {"id": "file-abc123", "object": "vector_store.file", "created_at": 1699061776,
           "vector_store_id": "vs_abcd", "status": "completed", "last_error": None}


# --- the cases --------------------------------------------------------------------------------

CASES = [
    # assistants (beta)
    Case("assistants.list", {"limit": 3, "order": "asc", "after": "asst_abc000", "before": "asst_abc999"},
         "GET", f"{BASE}/assistants?limit=3&order=asc&after=asst_abc000&before=asst_abc999", beta=True,
         answer=ASSISTANT_LIST),
    Case("assistants.list-nothing-optional", {}, "GET", f"{BASE}/assistants", beta=True, answer=ASSISTANT_LIST),
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
         answer=ASSISTANT_MATH),
    Case("assistants.create-nothing-optional", {"model": "gpt-4o"}, "POST", f"{BASE}/assistants", beta=True,
         json={"model": "gpt-4o"}, answer=ASSISTANT_MATH),
    Case("assistants.retrieve", {"assistant_id": "asst_abc123"}, "GET", f"{BASE}/assistants/asst_abc123",
         beta=True, answer=ASSISTANT_HR),
    Case("assistants.update",
         {"assistant_id": "asst_123", "model": "gpt-4o",
          "instructions": "You are an HR bot. Always response with info from either of the files.",
          "tools": [{"type": "file_search"}], "tool_resources": {"file_search": {"vector_store_ids": []}}},
         "POST", f"{BASE}/assistants/asst_123", beta=True,
         json={"model": "gpt-4o",
               "instructions": "You are an HR bot. Always response with info from either of the files.",
               "tools": [{"type": "file_search"}], "tool_resources": {"file_search": {"vector_store_ids": []}}},
         answer=ASSISTANT_UPDATED),
    Case("assistants.update-nothing-optional", {"assistant_id": "asst_123"}, "POST", f"{BASE}/assistants/asst_123",
         beta=True, json={}, answer=ASSISTANT_UPDATED),
    Case("assistants.delete", {"assistant_id": "asst_abc123"}, "DELETE", f"{BASE}/assistants/asst_abc123",
         beta=True, answer={"id": "asst_abc123", "object": "assistant.deleted", "deleted": True}),

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
         answer=TRANSCRIPTION),
    Case("audio.transcriptions.create-verbose-json",
         {"file": ("beach.mp3", MP3, "audio/mpeg"), "model": "whisper-1", "language": "en",
          "prompt": "A day at the beach.", "response_format": "verbose_json", "temperature": 0,
          "timestamp_granularities": ["word", "segment"]},
         "POST", f"{BASE}/audio/transcriptions",
         form={"file": [("beach.mp3", "audio/mpeg", MP3)], "model": ["whisper-1"], "language": ["en"],
               "prompt": ["A day at the beach."], "response_format": ["verbose_json"], "temperature": ["0"],
               "timestamp_granularities[]": ["word", "segment"]},
         answer=TRANSCRIPTION_TIMESTAMPS),
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
         answer=TRANSLATION),
    Case("audio.translations.create-text",
         {"file": ("german.m4a", M4A, "audio/mp4"), "model": "whisper-1", "response_format": "text"},
         "POST", f"{BASE}/audio/translations",
         form={"file": [("german.m4a", "audio/mp4", M4A)], "model": ["whisper-1"], "response_format": ["text"]},
         answer="Hello, my name is Wolfgang and I come from Germany.\n", answer_type="text/plain; charset=utf-8"),

    # batches
    Case("batches.list", {"after": "batch_abc000", "limit": 2}, "GET", f"{BASE}/batches?after=batch_abc000&limit=2",
         answer=BATCH_LIST),
    Case("batches.list-nothing-optional", {}, "GET", f"{BASE}/batches", answer=BATCH_LIST),
    Case("batches.create",
         {"input_file_id": "file-abc123", "endpoint": "/v1/chat/completions", "completion_window": "24h",
          "metadata": {"customer_id": "user_123456789", "batch_description": "Nightly eval job"}},
         "POST", f"{BASE}/batches",
         json={"input_file_id": "file-abc123", "endpoint": "/v1/chat/completions", "completion_window": "24h",
               "metadata": {"customer_id": "user_123456789", "batch_description": "Nightly eval job"}},
         answer=BATCH_VALIDATING),
    Case("batches.retrieve", {"batch_id": "batch_abc123"}, "GET", f"{BASE}/batches/batch_abc123",
         answer=BATCH_COMPLETED),
    Case("batches.cancel", {"batch_id": "batch_abc123"}, "POST", f"{BASE}/batches/batch_abc123/cancel",
         answer=BATCH_CANCELLING),

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
         answer=CHAT_COMPLETION),
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
         answer=CHAT_TOOL_CALL),
    Case("chat.completions.create-nothing-optional",
         {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello!"}]},
         "POST", f"{BASE}/chat/completions",
         json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello!"}]},
         answer=CHAT_COMPLETION),
    Case("completions.create",
         {"model": "gpt-3.5-turbo-instruct", "prompt": "Say this is a test", "max_tokens": 7, "temperature": 0,
          "best_of": 1, "echo": False, "logprobs": 2, "n": 1, "stop": "\n", "suffix": "!", "user": "user-1234"},
         "POST", f"{BASE}/completions",
         json={"model": "gpt-3.5-turbo-instruct", "prompt": "Say this is a test", "max_tokens": 7,
               "temperature": 0, "best_of": 1, "echo": False, "logprobs": 2, "n": 1, "stop": "\n", "suffix": "!",
               "user": "user-1234"},
         answer=COMPLETION),
    Case("completions.create-nothing-optional", {"model": "gpt-3.5-turbo-instruct", "prompt": ["Say", "this"]},
         "POST", f"{BASE}/completions", json={"model": "gpt-3.5-turbo-instruct", "prompt": ["Say", "this"]},
         answer=COMPLETION),
    Case("embeddings.create",
         {"input": "The food was delicious and the waiter...", "model": "text-embedding-3-small",
          "encoding_format": "float", "dimensions": 256, "user": "user-1234"},
         "POST", f"{BASE}/embeddings",
         json={"input": "The food was delicious and the waiter...", "model": "text-embedding-3-small",
               "encoding_format": "float", "dimensions": 256, "user": "user-1234"},
         answer=EMBEDDINGS),
    Case("embeddings.create-nothing-optional", {"input": [[1820, 25, 1], [42]], "model": "text-embedding-ada-002"},
         "POST", f"{BASE}/embeddings", json={"input": [[1820, 25, 1], [42]], "model": "text-embedding-ada-002"},
         answer=EMBEDDINGS),

    # files
    Case("files.list", {"purpose": "fine-tune", "limit": 100, "order": "asc", "after": "file-abc000"},
         "GET", f"{BASE}/files?purpose=fine-tune&limit=100&order=asc&after=file-abc000", answer=FILE_LIST),
    Case("files.list-nothing-optional", {}, "GET", f"{BASE}/files", answer=FILE_LIST),
    Case("files.create", {"file": ("mydata.jsonl", JSONL, "application/jsonl"), "purpose": "fine-tune"},
         "POST", f"{BASE}/files",
         form={"file": [("mydata.jsonl", "application/jsonl", JSONL)], "purpose": ["fine-tune"]}, answer=FILE),
    Case("files.retrieve", {"file_id": "file-abc123"}, "GET", f"{BASE}/files/file-abc123", answer=FILE),
    Case("files.delete", {"file_id": "file-abc123"}, "DELETE", f"{BASE}/files/file-abc123",
         answer={"id": "file-abc123", "object": "file", "deleted": True}),
    # The description labels the content application/json; it is the file's bytes, never parsed.
    Case("files.content", {"file_id": "file-abc123"}, "GET", f"{BASE}/files/file-abc123/content",
         answer=JSONL, answer_type="application/json"),

    # fine-tuning
    Case("fine_tuning.jobs.list", {"after": "ftjob-abc000", "limit": 5}, "GET",
         f"{BASE}/fine_tuning/jobs?after=ftjob-abc000&limit=5", answer=FT_JOB_LIST),
    Case("fine_tuning.jobs.list-nothing-optional", {}, "GET", f"{BASE}/fine_tuning/jobs", answer=FT_JOB_LIST),
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
         answer=FT_JOB_QUEUED),
    Case("fine_tuning.jobs.create-nothing-optional",
         {"model": "gpt-4o-mini-2024-07-18", "training_file": "file-abc123"}, "POST", f"{BASE}/fine_tuning/jobs",
         json={"model": "gpt-4o-mini-2024-07-18", "training_file": "file-abc123"}, answer=FT_JOB_QUEUED),
    Case("fine_tuning.jobs.retrieve", {"fine_tuning_job_id": "ftjob-abc123"}, "GET",
         f"{BASE}/fine_tuning/jobs/ftjob-abc123", answer=FT_JOB_SUCCEEDED),
    Case("fine_tuning.jobs.cancel", {"fine_tuning_job_id": "ftjob-abc123"}, "POST",
         f"{BASE}/fine_tuning/jobs/ftjob-abc123/cancel", answer=FT_JOB_CANCELLED),
    Case("fine_tuning.jobs.checkpoints.list",
         {"fine_tuning_job_id": "ftjob-abc123", "after": "ftckpt_abc000", "limit": 2}, "GET",
         f"{BASE}/fine_tuning/jobs/ftjob-abc123/checkpoints?after=ftckpt_abc000&limit=2", answer=FT_CHECKPOINTS),
    Case("fine_tuning.jobs.checkpoints.list-nothing-optional", {"fine_tuning_job_id": "ftjob-abc123"}, "GET",
         f"{BASE}/fine_tuning/jobs/ftjob-abc123/checkpoints", answer=FT_CHECKPOINTS),
    Case("fine_tuning.jobs.list_events",
         {"fine_tuning_job_id": "ftjob-abc123", "after": "ft-event-abc000", "limit": 2}, "GET",
         f"{BASE}/fine_tuning/jobs/ftjob-abc123/events?after=ft-event-abc000&limit=2", answer=FT_EVENTS),

    # images
    Case("images.edit",
         {"image": ("otter.png", PNG, "image/png"), "mask": ("mask.png", PNG, "image/png"),
          "prompt": "A cute baby sea otter wearing a beret", "model": "dall-e-2", "n": 2, "size": "1024x1024",
          "response_format": "url", "user": "user-1234"},
         "POST", f"{BASE}/images/edits",
         form={"image": [("otter.png", "image/png", PNG)], "mask": [("mask.png", "image/png", PNG)],
               "prompt": ["A cute baby sea otter wearing a beret"], "model": ["dall-e-2"], "n": ["2"],
               "size": ["1024x1024"], "response_format": ["url"], "user": ["user-1234"]},
         answer=IMAGES),
    Case("images.generate",
         {"prompt": "A cute baby sea otter", "model": "dall-e-3", "n": 1, "quality": "hd",
          "response_format": "b64_json", "size": "1792x1024", "style": "natural", "user": "user-1234"},
         "POST", f"{BASE}/images/generations",
         json={"prompt": "A cute baby sea otter", "model": "dall-e-3", "n": 1, "quality": "hd",
               "response_format": "b64_json", "size": "1792x1024", "style": "natural", "user": "user-1234"},
         answer=IMAGES),
    Case("images.generate-nothing-optional", {"prompt": "A cute baby sea otter"}, "POST",
         f"{BASE}/images/generations", json={"prompt": "A cute baby sea otter"}, answer=IMAGES),
    # Content given without a name goes out as a PNG file, as the API requires of `image`.
    Case("images.create_variation", {"image": PNG, "n": 2, "size": "1024x1024"},
         "POST", f"{BASE}/images/variations",
         form={"image": [("image.png", "image/png", PNG)], "n": ["2"], "size": ["1024x1024"]}, answer=IMAGES),

    # models
    Case("models.list", {}, "GET", f"{BASE}/models", answer=MODEL_LIST),
    Case("models.retrieve", {"model": "gpt-4o-mini"}, "GET", f"{BASE}/models/gpt-4o-mini",
         answer={"id": "VAR_chat_model_id", "object": "model", "created": 1686935002, "owned_by": "openai"}),
    Case("models.delete", {"model": "ft:gpt-4o-mini:acemeco:suffix:abc123"}, "DELETE",
         f"{BASE}/models/ft%3Agpt-4o-mini%3Aacemeco%3Asuffix%3Aabc123",
         answer={"id": "ft:gpt-4o-mini:acemeco:suffix:abc123", "object": "model", "deleted": True}),

    # moderations
    Case("moderations.create",
         {"model": "omni-moderation-latest",
          "input": [{"type": "text", "text": "...text to classify goes here..."},
                    {"type": "image_url", "image_url": {"url": "https://example.com/image.png"}}]},
         "POST", f"{BASE}/moderations",
         json={"model": "omni-moderation-latest",
               "input": [{"type": "text", "text": "...text to classify goes here..."},
                         {"type": "image_url", "image_url": {"url": "https://example.com/image.png"}}]},
         answer=MODERATION),
    Case("moderations.create-nothing-optional", {"input": "I want to kill them."}, "POST", f"{BASE}/moderations",
         json={"input": "I want to kill them."}, answer=MODERATION),

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
         answer=REALTIME_SESSION),
    Case("realtime.sessions.create-nothing-optional", {"model": "gpt-4o-realtime-preview"}, "POST",
         f"{BASE}/realtime/sessions", json={"model": "gpt-4o-realtime-preview"}, answer=REALTIME_SESSION),

    # uploads
    Case("uploads.create",
         {"filename": "training_examples.jsonl", "purpose": "fine-tune", "bytes": 2147483648,
          "mime_type": "text/jsonl"},
         "POST", f"{BASE}/uploads",
         json={"filename": "training_examples.jsonl", "purpose": "fine-tune", "bytes": 2147483648,
               "mime_type": "text/jsonl"},
         answer=UPLOAD_PENDING),
    Case("uploads.cancel", {"upload_id": "upload_abc123"}, "POST", f"{BASE}/uploads/upload_abc123/cancel",
         answer=UPLOAD_CANCELLED),
    Case("uploads.complete",
         {"upload_id": "upload_abc123", "part_ids": ["part_def456", "part_ghi789"],
          "md5": "9e107d9d372bb6826bd81d3542a419d6"},
         "POST", f"{BASE}/uploads/upload_abc123/complete",
         json={"part_ids": ["part_def456", "part_ghi789"], "md5": "9e107d9d372bb6826bd81d3542a419d6"},
         answer=UPLOAD_COMPLETED),
    Case("uploads.complete-nothing-optional", {"upload_id": "upload_abc123", "part_ids": ["part_def456"]},
         "POST", f"{BASE}/uploads/upload_abc123/complete", json={"part_ids": ["part_def456"]},
         answer=UPLOAD_COMPLETED),
    Case("uploads.parts.create", {"upload_id": "upload_abc123", "data": JSONL}, "POST",
         f"{BASE}/uploads/upload_abc123/parts", form={"data": [("part", "application/octet-stream", JSONL)]},
         answer=UPLOAD_PART),

    # vector stores (beta)
    Case("vector_stores.list", {"limit": 2, "order": "desc", "after": "vs_abc000", "before": "vs_abc999"},
         "GET", f"{BASE}/vector_stores?limit=2&order=desc&after=vs_abc000&before=vs_abc999", beta=True,
         answer=VECTOR_STORE_LIST),
    Case("vector_stores.list-nothing-optional", {}, "GET", f"{BASE}/vector_stores", beta=True,
         answer=VECTOR_STORE_LIST),
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
         answer=VECTOR_STORE),
    # The request body is required, with no required field: an empty object.
    Case("vector_stores.create-nothing-optional", {}, "POST", f"{BASE}/vector_stores", beta=True, json={},
         answer=VECTOR_STORE),
    Case("vector_stores.retrieve", {"vector_store_id": "vs_abc123"}, "GET", f"{BASE}/vector_stores/vs_abc123",
         beta=True, answer={"id": "vs_abc123", "object": "vector_store", "created_at": 1699061776}),
    Case("vector_stores.update",
         {"vector_store_id": "vs_abc123", "name": "Support FAQ", "expires_after": {"anchor": "last_active_at",
                                                                                   "days": 30},
          "metadata": {"team": "support", "tier": "gold"}},
         "POST", f"{BASE}/vector_stores/vs_abc123", beta=True,
         json={"name": "Support FAQ", "expires_after": {"anchor": "last_active_at", "days": 30},
               "metadata": {"team": "support", "tier": "gold"}},
         answer=VECTOR_STORE),
    Case("vector_stores.delete", {"vector_store_id": "vs_abc123"}, "DELETE", f"{BASE}/vector_stores/vs_abc123",
         beta=True, answer={"id": "vs_abc123", "object": "vector_store.deleted", "deleted": True}),
    Case("vector_stores.file_batches.create",
         {"vector_store_id": "vs_abc123", "file_ids": ["file-abc123", "file-abc456"],
          "chunking_strategy": {"type": "auto"}},
         "POST", f"{BASE}/vector_stores/vs_abc123/file_batches", beta=True,
         json={"file_ids": ["file-abc123", "file-abc456"], "chunking_strategy": {"type": "auto"}},
         answer=FILE_BATCH),
    Case("vector_stores.file_batches.retrieve", {"vector_store_id": "vs_abc123", "batch_id": "vsfb_abc123"},
         "GET", f"{BASE}/vector_stores/vs_abc123/file_batches/vsfb_abc123", beta=True, answer=FILE_BATCH),
    Case("vector_stores.file_batches.cancel", {"vector_store_id": "vs_abc123", "batch_id": "vsfb_abc123"},
         "POST", f"{BASE}/vector_stores/vs_abc123/file_batches/vsfb_abc123/cancel", beta=True,
         answer=FILE_BATCH_CANCELLING),
    Case("vector_stores.file_batches.list_files",
         {"vector_store_id": "vs_abc123", "batch_id": "vsfb_abc123", "limit": 2, "order": "asc",
          "after": "file-abc000", "before": "file-abc999", "filter": "completed"},
         "GET", f"{BASE}/vector_stores/vs_abc123/file_batches/vsfb_abc123/files"
                "?limit=2&order=asc&after=file-abc000&before=file-abc999&filter=completed",
         beta=True, answer=VS_FILE_LIST),
    Case("vector_stores.files.list",
         {"vector_store_id": "vs_abc123", "limit": 2, "order": "desc", "after": "file-abc000",
          "before": "file-abc999", "filter": "in_progress"},
         "GET", f"{BASE}/vector_stores/vs_abc123/files"
                "?limit=2&order=desc&after=file-abc000&before=file-abc999&filter=in_progress",
         beta=True, answer=VS_FILE_LIST),
    Case("vector_stores.files.list-nothing-optional", {"vector_store_id": "vs_abc123"}, "GET",
         f"{BASE}/vector_stores/vs_abc123/files", beta=True, answer=VS_FILE_LIST),
    Case("vector_stores.files.create",
         {"vector_store_id": "vs_abc123", "file_id": "file-abc123",
          "chunking_strategy": {"type": "static",
                                "static": {"max_chunk_size_tokens": 1200, "chunk_overlap_tokens": 200}}},
         "POST", f"{BASE}/vector_stores/vs_abc123/files", beta=True,
         json={"file_id": "file-abc123",
               "chunking_strategy": {"type": "static",
                                     "static": {"max_chunk_size_tokens": 1200, "chunk_overlap_tokens": 200}}},
         answer=VS_FILE),
    Case("vector_stores.files.retrieve", {"vector_store_id": "vs_abc123", "file_id": "file-abc123"}, "GET",
         f"{BASE}/vector_stores/vs_abc123/files/file-abc123", beta=True, answer=VS_FILE),
    Case("vector_stores.files.delete", {"vector_store_id": "vs_abc123", "file_id": "file-abc123"}, "DELETE",
         f"{BASE}/vector_stores/vs_abc123/files/file-abc123", beta=True,
         answer={"id": "file-abc123", "object": "vector_store.file.deleted", "deleted": True}),
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
    if isinstance(case.answer, dict):
        sent = {**case.answer, **UNLISTED}
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

    if isinstance(case.answer, dict):
        assert out == sent and out["x_added_later"] == {"kept": True}
    else:
        assert type(out) is type(case.answer) and out == case.answer
