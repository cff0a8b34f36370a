"""Requests the real API accepts must be accepted, and sent unchanged: assistants, threads, vector stores,
organization.

Each row is a request as the API reference (openai-2025-01-21.yaml and its documented examples) shows it
or as users really send it: every tool kind, content-part kind and `response_format` kind, every `oneOf`
branch of each body field, nullable fields set to null, optional objects with only their required keys,
every filter and `group_by` of the admin reports. `prepare` must accept it, both validators the engine
uses (jsonschema-rs and jsonschema) must agree, and the request must carry exactly those values: the
JSON body compared as canonical JSON text (so 1 stays 1, 1.0 stays 1.0, True stays true), the query
key by key. The reverse table holds requests the API refuses: each must be rejected naming the
parameter (its path inside the value) and the rule.
"""
from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import jsonschema
import jsonschema_rs
import pytest

import engine

# Method and path template of every action, from the API reference.
ROUTES = {
    "assistants.list": "GET /assistants",
    "assistants.create": "POST /assistants",
    "assistants.retrieve": "GET /assistants/{assistant_id}",
    "assistants.update": "POST /assistants/{assistant_id}",
    "assistants.delete": "DELETE /assistants/{assistant_id}",
    "threads.create": "POST /threads",
    "threads.retrieve": "GET /threads/{thread_id}",
    "threads.update": "POST /threads/{thread_id}",
    "threads.delete": "DELETE /threads/{thread_id}",
    "threads.create_and_run": "POST /threads/runs",
    "threads.messages.list": "GET /threads/{thread_id}/messages",
    "threads.messages.create": "POST /threads/{thread_id}/messages",
    "threads.messages.retrieve": "GET /threads/{thread_id}/messages/{message_id}",
    "threads.messages.update": "POST /threads/{thread_id}/messages/{message_id}",
    "threads.messages.delete": "DELETE /threads/{thread_id}/messages/{message_id}",
    "threads.runs.list": "GET /threads/{thread_id}/runs",
    "threads.runs.create": "POST /threads/{thread_id}/runs",
    "threads.runs.retrieve": "GET /threads/{thread_id}/runs/{run_id}",
    "threads.runs.update": "POST /threads/{thread_id}/runs/{run_id}",
    "threads.runs.cancel": "POST /threads/{thread_id}/runs/{run_id}/cancel",
    "threads.runs.submit_tool_outputs": "POST /threads/{thread_id}/runs/{run_id}/submit_tool_outputs",
    "threads.runs.steps.list": "GET /threads/{thread_id}/runs/{run_id}/steps",
    "threads.runs.steps.retrieve": "GET /threads/{thread_id}/runs/{run_id}/steps/{step_id}",
    "vector_stores.list": "GET /vector_stores",
    "vector_stores.create": "POST /vector_stores",
    "vector_stores.retrieve": "GET /vector_stores/{vector_store_id}",
    "vector_stores.update": "POST /vector_stores/{vector_store_id}",
    "vector_stores.delete": "DELETE /vector_stores/{vector_store_id}",
    "vector_stores.files.list": "GET /vector_stores/{vector_store_id}/files",
    "vector_stores.files.create": "POST /vector_stores/{vector_store_id}/files",
    "vector_stores.files.retrieve": "GET /vector_stores/{vector_store_id}/files/{file_id}",
    "vector_stores.files.delete": "DELETE /vector_stores/{vector_store_id}/files/{file_id}",
    "vector_stores.file_batches.create": "POST /vector_stores/{vector_store_id}/file_batches",
    "vector_stores.file_batches.retrieve": "GET /vector_stores/{vector_store_id}/file_batches/{batch_id}",
    "vector_stores.file_batches.cancel": "POST /vector_stores/{vector_store_id}/file_batches/{batch_id}/cancel",
    "vector_stores.file_batches.list_files": "GET /vector_stores/{vector_store_id}/file_batches/{batch_id}/files",
    "organization.admin_api_keys.list": "GET /organization/admin_api_keys",
    "organization.admin_api_keys.create": "POST /organization/admin_api_keys",
    "organization.admin_api_keys.retrieve": "GET /organization/admin_api_keys/{key_id}",
    "organization.admin_api_keys.delete": "DELETE /organization/admin_api_keys/{key_id}",
    "organization.audit_logs.list": "GET /organization/audit_logs",
    "organization.costs": "GET /organization/costs",
    "organization.invites.list": "GET /organization/invites",
    "organization.invites.create": "POST /organization/invites",
    "organization.invites.retrieve": "GET /organization/invites/{invite_id}",
    "organization.invites.delete": "DELETE /organization/invites/{invite_id}",
    "organization.projects.list": "GET /organization/projects",
    "organization.projects.create": "POST /organization/projects",
    "organization.projects.retrieve": "GET /organization/projects/{project_id}",
    "organization.projects.update": "POST /organization/projects/{project_id}",
    "organization.projects.archive": "POST /organization/projects/{project_id}/archive",
    "organization.projects.api_keys.list": "GET /organization/projects/{project_id}/api_keys",
    "organization.projects.api_keys.retrieve": "GET /organization/projects/{project_id}/api_keys/{key_id}",
    "organization.projects.api_keys.delete": "DELETE /organization/projects/{project_id}/api_keys/{key_id}",
    "organization.projects.rate_limits.list": "GET /organization/projects/{project_id}/rate_limits",
    "organization.projects.rate_limits.update":
        "POST /organization/projects/{project_id}/rate_limits/{rate_limit_id}",
    "organization.projects.service_accounts.list": "GET /organization/projects/{project_id}/service_accounts",
    "organization.projects.service_accounts.create": "POST /organization/projects/{project_id}/service_accounts",
    "organization.projects.service_accounts.retrieve":
        "GET /organization/projects/{project_id}/service_accounts/{service_account_id}",
    "organization.projects.service_accounts.delete":
        "DELETE /organization/projects/{project_id}/service_accounts/{service_account_id}",
    "organization.projects.users.list": "GET /organization/projects/{project_id}/users",
    "organization.projects.users.create": "POST /organization/projects/{project_id}/users",
    "organization.projects.users.retrieve": "GET /organization/projects/{project_id}/users/{user_id}",
    "organization.projects.users.update": "POST /organization/projects/{project_id}/users/{user_id}",
    "organization.projects.users.delete": "DELETE /organization/projects/{project_id}/users/{user_id}",
    "organization.users.list": "GET /organization/users",
    "organization.users.retrieve": "GET /organization/users/{user_id}",
    "organization.users.update": "POST /organization/users/{user_id}",
    "organization.users.delete": "DELETE /organization/users/{user_id}",
    **{f"organization.usage.{kind}": f"GET /organization/usage/{kind}" for kind in (
        "audio_speeches", "audio_transcriptions", "code_interpreter_sessions", "completions", "embeddings",
        "images", "moderations", "vector_stores")},
}
NO_BODY = {"threads.runs.cancel", "vector_stores.file_batches.cancel", "organization.projects.archive"}
QUERY_ON_POST = {"threads.runs.create": {"include"}}       # `include[]` rides in the query of a POST
BRACKETED = {                                              # query names the reference spells with `[]`
    "organization.audit_logs.list": {"project_ids", "event_types", "actor_ids", "actor_emails", "resource_ids"},
    "threads.runs.create": {"include"},
    "threads.runs.steps.list": {"include"},
    "threads.runs.steps.retrieve": {"include"},
}

# Realistic values, reused across rows.
T, R, A, VS = "thread_abc123", "run_abc123", "asst_abc123", "vs_abc123"
STEP_CONTENT = "step_details.tool_calls[*].file_search.results[*].content"
WEATHER = {"name": "get_current_weather", "description": "Get the current weather in a given location",
           "parameters": {"type": "object", "properties": {
               "location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA"},
               "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
               "required": ["location", "unit"], "additionalProperties": False},
           "strict": True}
MATH_SCHEMA = {"name": "math_response", "description": "Steps and the final answer", "strict": True,
               "schema": {"type": "object", "properties": {
                   "steps": {"type": "array", "items": {"type": "object", "properties": {
                       "explanation": {"type": "string"}, "output": {"type": "string"}},
                       "required": ["explanation", "output"], "additionalProperties": False}},
                   "final_answer": {"type": "string"}},
                   "required": ["steps", "final_answer"], "additionalProperties": False}}
STATIC = {"type": "static", "static": {"max_chunk_size_tokens": 800, "chunk_overlap_tokens": 400}}
TOOLS_ALL = [{"type": "code_interpreter"}, {"type": "file_search"}, {"type": "function", "function": WEATHER}]
FILE_SEARCH_TUNED = {"type": "file_search", "file_search": {
    "max_num_results": 50, "ranking_options": {"ranker": "default_2024_08_21", "score_threshold": 0.5}}}
PARTS = [{"type": "text", "text": "What is in these two images?"},
         {"type": "image_url", "image_url": {"url": "https://example.com/cat.png", "detail": "high"}},
         {"type": "image_file", "image_file": {"file_id": "file-abc123", "detail": "low"}}]
ATTACH = [{"file_id": "file-abc123", "tools": [{"type": "code_interpreter"}]},
          {"file_id": "file-def456", "tools": [{"type": "file_search"}, {"type": "code_interpreter"}]}]
META = {"user": "user_123", "topic": "billing"}
META16 = {f"key{i:02d}": "v" * 512 for i in range(16)}
NEW_STORE = {"file_search": {"vector_stores": [{"file_ids": ["file-abc123"], "chunking_strategy": STATIC,
                                                "metadata": {"team": "support"}}]}}
USAGE_FILTERS = {"start_time": 1730419200, "end_time": 1730505600, "bucket_width": "1h", "limit": 168,
                 "project_ids": ["proj_abc", "proj_def"], "page": "page_AAAAAGdGxdEiJdKOAAAAAGcqsYA="}
PER_KEY = {"user_ids": ["user-abc"], "api_key_ids": ["key_abc"], "models": ["gpt-4o-mini", "tts-1"]}
EVENTS = ["api_key.created", "api_key.updated", "api_key.deleted", "invite.sent", "invite.accepted",
          "invite.deleted", "login.succeeded", "login.failed", "logout.succeeded", "logout.failed",
          "organization.updated", "project.created", "project.updated", "project.archived",
          "service_account.created", "service_account.updated", "service_account.deleted",
          "rate_limit.updated", "rate_limit.deleted", "user.added", "user.updated", "user.deleted"]

ASSISTANT_NULLS = {"name": None, "description": None, "instructions": None, "tool_resources": None,
                   "metadata": None, "temperature": None, "top_p": None, "response_format": None}
RUN_NULLS = {"model": None, "instructions": None, "tools": None, "metadata": None, "temperature": None,
             "top_p": None, "stream": None, "max_prompt_tokens": None, "max_completion_tokens": None,
             "truncation_strategy": None, "tool_choice": None, "response_format": None}

VALID = [
    # -- assistants
    ("assistants.create", "reference-code-interpreter", {
        "instructions": "You are a personal math tutor. When asked a question, write and run Python code to "
                        "answer the question.", "name": "Math Tutor", "tools": [{"type": "code_interpreter"}],
        "model": "gpt-4o"}),
    ("assistants.create", "required-only", {"model": "gpt-4o"}),
    ("assistants.create", "model-not-listed", {"model": "o3-mini"}),
    ("assistants.create", "reference-file-search", {
        "instructions": "You are an HR bot, and you have access to files to answer employee questions about "
                        "company policies.", "tools": [{"type": "file_search"}],
        "tool_resources": {"file_search": {"vector_store_ids": [VS]}}, "model": "gpt-4o"}),
    ("assistants.create", "every-tool-kind", {"model": "gpt-4o", "tools": TOOLS_ALL}),
    ("assistants.create", "file-search-tuned", {"model": "gpt-4o", "tools": [FILE_SEARCH_TUNED]}),
    ("assistants.create", "file-search-threshold-only", {"model": "gpt-4o", "tools": [
        {"type": "file_search", "file_search": {"ranking_options": {"score_threshold": 0}}}]}),
    ("assistants.create", "file-search-auto-ranker", {"model": "gpt-4o", "tools": [{"type": "file_search", "file_search": {
        "max_num_results": 1, "ranking_options": {"ranker": "auto", "score_threshold": 1}}}]}),
    ("assistants.create", "file-search-empty-options", {"model": "gpt-4o", "tools": [
        {"type": "file_search", "file_search": {}}]}),
    ("assistants.create", "function-name-only", {"model": "gpt-4o", "tools": [
        {"type": "function", "function": {"name": "get_time"}}]}),
    ("assistants.create", "function-strict-null", {"model": "gpt-4o", "tools": [
        {"type": "function", "function": {"name": "get_time", "parameters": {}, "strict": None}}]}),
    ("assistants.create", "no-tools", {"model": "gpt-4o", "tools": []}),
    ("assistants.create", "code-interpreter-files", {"model": "gpt-4o", "tools": [{"type": "code_interpreter"}],
                                                     "tool_resources": {"code_interpreter": {"file_ids": [
                                                         "file-abc123", "file-def456"]}}}),
    ("assistants.create", "new-vector-store-static", {"model": "gpt-4o", "tool_resources": NEW_STORE}),
    ("assistants.create", "new-vector-store-auto", {"model": "gpt-4o", "tool_resources": {"file_search": {
        "vector_stores": [{"file_ids": ["file-abc123"], "chunking_strategy": {"type": "auto"}}]}}}),
    ("assistants.create", "new-vector-store-files-only", {"model": "gpt-4o", "tool_resources": {"file_search": {
        "vector_stores": [{"file_ids": ["file-abc123"]}]}}}),
    ("assistants.create", "both-tool-resources", {"model": "gpt-4o", "tool_resources": {
        "code_interpreter": {"file_ids": ["file-abc123"]}, "file_search": {"vector_store_ids": [VS]}}}),
    ("assistants.create", "nullables-null", {"model": "gpt-4o", **ASSISTANT_NULLS}),
    ("assistants.create", "response-format-auto", {"model": "gpt-4o", "response_format": "auto"}),
    ("assistants.create", "response-format-text", {"model": "gpt-4o", "response_format": {"type": "text"}}),
    ("assistants.create", "response-format-json-object", {"model": "gpt-4o",
                                                          "response_format": {"type": "json_object"}}),
    ("assistants.create", "response-format-json-schema", {"model": "gpt-4o", "response_format": {
        "type": "json_schema", "json_schema": MATH_SCHEMA}}),
    ("assistants.create", "json-schema-name-only", {"model": "gpt-4o", "response_format": {
        "type": "json_schema", "json_schema": {"name": "answer"}}}),
    ("assistants.create", "json-schema-strict-null", {"model": "gpt-4o", "response_format": {
        "type": "json_schema", "json_schema": {"name": "answer", "schema": {"type": "object"}, "strict": None}}}),
    ("assistants.create", "sampling-edges", {"model": "gpt-4o", "temperature": 0, "top_p": 1}),
    ("assistants.create", "sampling-floats", {"model": "gpt-4o", "temperature": 2.0, "top_p": 0.1}),
    ("assistants.create", "metadata-16-keys", {"model": "gpt-4o", "metadata": META16}),
    ("assistants.create", "long-texts", {"model": "gpt-4o", "name": "n" * 256, "description": "d" * 512,
                                         "instructions": "i" * 256000}),
    ("assistants.list", "all", {"limit": 100, "order": "asc", "after": "asst_abc", "before": "asst_xyz"}),
    ("assistants.list", "none", {}),
    ("assistants.retrieve", "id", {"assistant_id": A}),
    ("assistants.update", "reference", {
        "assistant_id": A, "instructions": "You are an HR bot, and you have access to files to answer employee "
        "questions about company policies. Always response with info from either of the files.",
        "tools": [{"type": "file_search"}], "model": "gpt-4o"}),
    ("assistants.update", "tool-resources", {"assistant_id": A, "tool_resources": {
        "code_interpreter": {"file_ids": []}, "file_search": {"vector_store_ids": [VS]}}}),
    ("assistants.update", "nullables-null", {"assistant_id": A, **ASSISTANT_NULLS}),
    ("assistants.update", "json-schema", {"assistant_id": A, "model": "gpt-4o-mini", "response_format": {
        "type": "json_schema", "json_schema": MATH_SCHEMA}, "metadata": META}),
    ("assistants.update", "id-only", {"assistant_id": A}),
    # What a retrieved object's answer shows, sent back as is (the reference's response examples).
    ("assistants.update", "round-trip", {
        "assistant_id": A, "name": "HR Helper", "description": None, "model": "gpt-4o",
        "instructions": "You are an HR bot.", "tools": [{"type": "file_search", "file_search": {"ranking_options": {
            "ranker": "default_2024_08_21", "score_threshold": 0.0}}}],
        "tool_resources": {"file_search": {"vector_store_ids": []}}, "metadata": {}, "top_p": 1.0,
        "temperature": 1.0, "response_format": "auto"}),
    ("assistants.delete", "id", {"assistant_id": A}),
    # -- threads
    ("threads.create", "empty", {}),
    ("threads.create", "reference-messages", {"messages": [
        {"role": "user", "content": "Hello, what is AI?"},
        {"role": "user", "content": "How does AI work? Explain it in simple terms."}]}),
    ("threads.create", "content-parts", {"messages": [{"role": "user", "content": PARTS}]}),
    ("threads.create", "assistant-message", {"messages": [
        {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello! How can I help?",
                                            "metadata": None, "attachments": None}]}),
    ("threads.create", "attachments", {"messages": [{"role": "user", "content": "Summarize these files",
                                                     "attachments": ATTACH, "metadata": META}]}),
    ("threads.create", "new-vector-store", {"tool_resources": NEW_STORE, "metadata": META}),
    ("threads.create", "existing-vector-store", {"tool_resources": {"file_search": {"vector_store_ids": [VS]},
                                                                    "code_interpreter": {"file_ids": []}}}),
    ("threads.create", "nullables-null", {"tool_resources": None, "metadata": None}),
    ("threads.retrieve", "id", {"thread_id": T}),
    ("threads.update", "reference", {"thread_id": T, "metadata": {"modified": "true", "user": "abc123"}}),
    ("threads.update", "tool-resources", {"thread_id": T, "tool_resources": {
        "code_interpreter": {"file_ids": ["file-abc123"]}, "file_search": {"vector_store_ids": [VS]}}}),
    ("threads.update", "nullables-null", {"thread_id": T, "tool_resources": None, "metadata": None}),
    ("threads.delete", "id", {"thread_id": T}),
    ("threads.create_and_run", "reference", {"assistant_id": A, "thread": {"messages": [
        {"role": "user", "content": "Explain deep learning to a 5 year old."}]}}),
    ("threads.create_and_run", "reference-stream", {"assistant_id": A, "stream": True, "thread": {
        "messages": [{"role": "user", "content": "Hello"}]}}),
    ("threads.create_and_run", "reference-tools", {"assistant_id": A, "stream": True, "tools": [
        {"type": "function", "function": WEATHER}], "thread": {"messages": [
            {"role": "user", "content": "What is the weather like in San Francisco?"}]}}),
    ("threads.create_and_run", "required-only", {"assistant_id": A}),
    ("threads.create_and_run", "thread-with-resources", {"assistant_id": A, "thread": {
        "messages": [{"role": "user", "content": PARTS, "attachments": ATTACH}],
        "tool_resources": NEW_STORE, "metadata": META}}),
    ("threads.create_and_run", "empty-thread", {"assistant_id": A, "thread": {}}),
    ("threads.create_and_run", "run-resources", {"assistant_id": A, "tool_resources": {
        "code_interpreter": {"file_ids": ["file-abc123"]}, "file_search": {"vector_store_ids": [VS]}}}),
    ("threads.create_and_run", "nullables-null", {"assistant_id": A, "tool_resources": None, **RUN_NULLS}),
    ("threads.create_and_run", "every-option", {
        "assistant_id": A, "model": "gpt-4o-mini", "instructions": "Be brief.", "tools": TOOLS_ALL,
        "metadata": META, "temperature": 0.2, "top_p": 0.9, "stream": False, "max_prompt_tokens": 256,
        "max_completion_tokens": 1000, "truncation_strategy": {"type": "last_messages", "last_messages": 10},
        "tool_choice": {"type": "function", "function": {"name": "get_current_weather"}},
        "parallel_tool_calls": False, "response_format": {"type": "json_object"}}),
    ("threads.create_and_run", "round-trip", {
        "assistant_id": A, "model": "gpt-4o", "instructions": "You are a helpful assistant.", "tools": [],
        "tool_resources": {}, "metadata": {}, "temperature": 1.0, "top_p": 1.0, "max_completion_tokens": None,
        "max_prompt_tokens": None, "truncation_strategy": {"type": "auto", "last_messages": None},
        "response_format": "auto", "tool_choice": "auto", "parallel_tool_calls": True}),
    ("threads.update", "round-trip", {"thread_id": T, "metadata": {}, "tool_resources": {}}),
    ("threads.messages.create", "round-trip", {"thread_id": T, "role": "user", "content": "Hi", "attachments": [],
                                               "metadata": {}}),
    ("threads.create_and_run", "json-schema", {"assistant_id": A, "response_format": {
        "type": "json_schema", "json_schema": MATH_SCHEMA}}),
    ("threads.messages.list", "all", {"thread_id": T, "limit": 1, "order": "asc", "after": "msg_a",
                                      "before": "msg_b", "run_id": R}),
    ("threads.messages.list", "id-only", {"thread_id": T}),
    ("threads.messages.create", "reference", {"thread_id": T, "role": "user",
                                              "content": "How does AI work? Explain it in simple terms."}),
    ("threads.messages.create", "assistant-role", {"thread_id": T, "role": "assistant", "content": "Sure."}),
    ("threads.messages.create", "text-part", {"thread_id": T, "role": "user", "content": [
        {"type": "text", "text": "Hello"}]}),
    ("threads.messages.create", "every-part-kind", {"thread_id": T, "role": "user", "content": PARTS}),
    ("threads.messages.create", "image-parts-no-detail", {"thread_id": T, "role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
        {"type": "image_file", "image_file": {"file_id": "file-abc123"}}]}),
    ("threads.messages.create", "image-detail-auto", {"thread_id": T, "role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png", "detail": "auto"}},
        {"type": "image_file", "image_file": {"file_id": "file-abc123", "detail": "high"}}]}),
    ("threads.messages.create", "attachments", {"thread_id": T, "role": "user", "content": "Analyse this",
                                                "attachments": ATTACH, "metadata": META}),
    ("threads.messages.create", "nullables-null", {"thread_id": T, "role": "user", "content": "Hi",
                                                   "attachments": None, "metadata": None}),
    ("threads.messages.retrieve", "ids", {"thread_id": T, "message_id": "msg_abc123"}),
    ("threads.messages.update", "reference", {"thread_id": T, "message_id": "msg_abc123",
                                              "metadata": {"modified": "true", "user": "abc123"}}),
    ("threads.messages.update", "metadata-null", {"thread_id": T, "message_id": "msg_abc123", "metadata": None}),
    ("threads.messages.delete", "ids", {"thread_id": T, "message_id": "msg_abc123"}),
    ("threads.runs.list", "all", {"thread_id": T, "limit": 20, "order": "desc", "after": "run_a", "before": "run_b"}),
    ("threads.runs.list", "id-only", {"thread_id": T}),
    ("threads.runs.create", "reference", {"thread_id": T, "assistant_id": A}),
    ("threads.runs.create", "reference-stream", {"thread_id": T, "assistant_id": A, "stream": True}),
    ("threads.runs.create", "include-file-search-content", {"thread_id": T, "assistant_id": A,
                                                            "include": [STEP_CONTENT]}),
    ("threads.runs.create", "additional-messages", {"thread_id": T, "assistant_id": A,
                                                    "additional_instructions": "Address the user as Jane.",
                                                    "additional_messages": [
                                                        {"role": "user", "content": PARTS, "attachments": ATTACH},
                                                        {"role": "assistant", "content": "Noted."}]}),
    ("threads.runs.create", "tool-choice-none", {"thread_id": T, "assistant_id": A, "tool_choice": "none"}),
    ("threads.runs.create", "tool-choice-auto", {"thread_id": T, "assistant_id": A, "tool_choice": "auto"}),
    ("threads.runs.create", "tool-choice-required", {"thread_id": T, "assistant_id": A, "tool_choice": "required"}),
    ("threads.runs.create", "tool-choice-file-search", {"thread_id": T, "assistant_id": A,
                                                        "tool_choice": {"type": "file_search"}}),
    ("threads.runs.create", "tool-choice-code-interpreter", {"thread_id": T, "assistant_id": A,
                                                             "tool_choice": {"type": "code_interpreter"}}),
    ("threads.runs.create", "tool-choice-function", {"thread_id": T, "assistant_id": A, "tools": TOOLS_ALL,
                                                     "tool_choice": {"type": "function",
                                                                     "function": {"name": "get_current_weather"}}}),
    ("threads.runs.create", "truncation-auto", {"thread_id": T, "assistant_id": A,
                                                "truncation_strategy": {"type": "auto"}}),
    ("threads.runs.create", "truncation-last-messages", {"thread_id": T, "assistant_id": A,
                                                         "truncation_strategy": {"type": "last_messages",
                                                                                 "last_messages": 1}}),
    ("threads.runs.create", "truncation-last-null", {"thread_id": T, "assistant_id": A,
                                                     "truncation_strategy": {"type": "auto", "last_messages": None}}),
    ("threads.runs.create", "token-limits", {"thread_id": T, "assistant_id": A, "max_prompt_tokens": 256,
                                             "max_completion_tokens": 100000}),
    ("threads.runs.create", "parallel-tool-calls", {"thread_id": T, "assistant_id": A, "parallel_tool_calls": True}),
    ("threads.runs.create", "tools-override", {"thread_id": T, "assistant_id": A,
                                               "tools": [FILE_SEARCH_TUNED, {"type": "code_interpreter"}]}),
    ("threads.runs.create", "response-format-auto", {"thread_id": T, "assistant_id": A, "response_format": "auto"}),
    ("threads.runs.create", "response-format-text", {"thread_id": T, "assistant_id": A,
                                                     "response_format": {"type": "text"}}),
    ("threads.runs.create", "response-format-json-schema", {"thread_id": T, "assistant_id": A, "response_format": {
        "type": "json_schema", "json_schema": MATH_SCHEMA}}),
    ("threads.runs.create", "nullables-null", {"thread_id": T, "assistant_id": A, "additional_instructions": None,
                                               "additional_messages": None, **RUN_NULLS}),
    ("threads.runs.create", "model-and-sampling", {"thread_id": T, "assistant_id": A, "model": "gpt-4o",
                                                   "instructions": "Be terse.", "temperature": 1.5, "top_p": 1,
                                                   "metadata": META}),
    ("threads.runs.retrieve", "ids", {"thread_id": T, "run_id": R}),
    ("threads.runs.update", "reference", {"thread_id": T, "run_id": R, "metadata": {"user_id": "user_abc123"}}),
    ("threads.runs.update", "metadata-null", {"thread_id": T, "run_id": R, "metadata": None}),
    ("threads.runs.cancel", "ids", {"thread_id": T, "run_id": R}),
    ("threads.runs.submit_tool_outputs", "reference", {"thread_id": T, "run_id": R, "tool_outputs": [
        {"tool_call_id": "call_001", "output": "70 degrees and sunny."}]}),
    ("threads.runs.submit_tool_outputs", "reference-stream", {"thread_id": T, "run_id": R, "stream": True,
                                                              "tool_outputs": [{"tool_call_id": "call_001",
                                                                                "output": "70 degrees and sunny."}]}),
    ("threads.runs.submit_tool_outputs", "several-outputs", {"thread_id": T, "run_id": R, "stream": None,
                                                             "tool_outputs": [
                                                                 {"tool_call_id": "call_001", "output": "22C"},
                                                                 {"tool_call_id": "call_002", "output": '{"ok":true}'}]}),
    ("threads.runs.steps.list", "all", {"thread_id": T, "run_id": R, "limit": 50, "order": "asc",
                                        "after": "step_a", "before": "step_b", "include": [STEP_CONTENT]}),
    ("threads.runs.steps.list", "ids-only", {"thread_id": T, "run_id": R}),
    ("threads.runs.steps.retrieve", "include", {"thread_id": T, "run_id": R, "step_id": "step_abc123",
                                                "include": [STEP_CONTENT]}),
    ("threads.runs.steps.retrieve", "ids-only", {"thread_id": T, "run_id": R, "step_id": "step_abc123"}),
    # -- vector stores
    ("vector_stores.create", "reference", {"name": "Support FAQ"}),
    ("vector_stores.create", "empty", {}),
    ("vector_stores.create", "files-auto-chunking", {"file_ids": ["file-abc123", "file-def456"],
                                                     "chunking_strategy": {"type": "auto"}}),
    ("vector_stores.create", "files-static-chunking", {"file_ids": ["file-abc123"], "chunking_strategy": STATIC}),
    ("vector_stores.create", "static-bounds", {"file_ids": ["file-abc123"], "chunking_strategy": {
        "type": "static", "static": {"max_chunk_size_tokens": 4096, "chunk_overlap_tokens": 0}}}),
    ("vector_stores.create", "expiry-and-metadata", {"name": "Tmp", "expires_after": {
        "anchor": "last_active_at", "days": 7}, "metadata": META}),
    ("vector_stores.create", "metadata-null", {"name": "Tmp", "metadata": None}),
    ("vector_stores.list", "all", {"limit": 10, "order": "asc", "after": "vs_a", "before": "vs_b"}),
    ("vector_stores.retrieve", "id", {"vector_store_id": VS}),
    ("vector_stores.update", "reference", {"vector_store_id": VS, "name": "Support FAQ"}),
    ("vector_stores.update", "expiry", {"vector_store_id": VS, "expires_after": {"anchor": "last_active_at",
                                                                                 "days": 365}, "metadata": META}),
    ("vector_stores.update", "nullables-null", {"vector_store_id": VS, "name": None, "expires_after": None,
                                                "metadata": None}),
    ("vector_stores.delete", "id", {"vector_store_id": VS}),
    ("vector_stores.files.create", "reference", {"vector_store_id": VS, "file_id": "file-abc123"}),
    ("vector_stores.files.create", "auto-chunking", {"vector_store_id": VS, "file_id": "file-abc123",
                                                     "chunking_strategy": {"type": "auto"}}),
    ("vector_stores.files.create", "static-chunking", {"vector_store_id": VS, "file_id": "file-abc123",
                                                       "chunking_strategy": STATIC}),
    ("vector_stores.files.list", "completed", {"vector_store_id": VS, "filter": "completed", "limit": 100}),
    ("vector_stores.files.list", "in-progress", {"vector_store_id": VS, "filter": "in_progress", "order": "asc"}),
    ("vector_stores.files.list", "failed", {"vector_store_id": VS, "filter": "failed", "after": "file-a"}),
    ("vector_stores.files.list", "cancelled", {"vector_store_id": VS, "filter": "cancelled", "before": "file-b"}),
    ("vector_stores.files.retrieve", "ids", {"vector_store_id": VS, "file_id": "file-abc123"}),
    ("vector_stores.files.delete", "ids", {"vector_store_id": VS, "file_id": "file-abc123"}),
    ("vector_stores.file_batches.create", "reference", {"vector_store_id": VS,
                                                        "file_ids": ["file-abc123", "file-abc456"]}),
    ("vector_stores.file_batches.create", "one-file-auto", {"vector_store_id": VS, "file_ids": ["file-abc123"],
                                                            "chunking_strategy": {"type": "auto"}}),
    ("vector_stores.file_batches.create", "static", {"vector_store_id": VS, "file_ids": [
        f"file-{i:03d}" for i in range(500)], "chunking_strategy": STATIC}),
    ("vector_stores.file_batches.retrieve", "ids", {"vector_store_id": VS, "batch_id": "vsfb_abc123"}),
    ("vector_stores.file_batches.cancel", "ids", {"vector_store_id": VS, "batch_id": "vsfb_abc123"}),
    ("vector_stores.file_batches.list_files", "all", {"vector_store_id": VS, "batch_id": "vsfb_abc123",
                                                      "filter": "failed", "limit": 5, "order": "desc",
                                                      "after": "file-a", "before": "file-b"}),
    ("vector_stores.file_batches.list_files", "ids-only", {"vector_store_id": VS, "batch_id": "vsfb_abc123"}),
    # -- organization: admin keys, audit logs, invites, projects, users
    ("organization.admin_api_keys.list", "all", {"after": "key_abc", "order": "asc", "limit": 100}),
    ("organization.admin_api_keys.create", "reference", {"name": "New Admin Key"}),
    ("organization.admin_api_keys.retrieve", "id", {"key_id": "key_abc"}),
    ("organization.admin_api_keys.delete", "id", {"key_id": "key_abc"}),
    ("organization.audit_logs.list", "every-filter", {
        "effective_at": {"gt": 1704067199, "gte": 1704067200, "lt": 1706745600, "lte": 1706745599},
        "project_ids": ["proj_abc", "proj_def"], "event_types": EVENTS, "actor_ids": ["user-abc", "svc_acct_abc"],
        "actor_emails": ["user@example.com"], "resource_ids": ["proj_abc"], "limit": 100, "after": "audit_log-a"}),
    ("organization.audit_logs.list", "since", {"effective_at": {"gte": 1704067200}, "before": "audit_log-b"}),
    ("organization.audit_logs.list", "one-event-type", {"event_types": ["login.failed"], "limit": 1}),
    ("organization.audit_logs.list", "none", {}),
    ("organization.invites.list", "all", {"limit": 100, "after": "invite-abc"}),
    ("organization.invites.create", "reference", {"email": "user@example.com", "role": "owner"}),
    ("organization.invites.create", "with-projects", {"email": "anotheruser@example.com", "role": "reader",
                                                      "projects": [{"id": "project-xyz", "role": "member"},
                                                                   {"id": "project-abc", "role": "owner"}]}),
    ("organization.invites.retrieve", "id", {"invite_id": "invite-abc"}),
    ("organization.invites.delete", "id", {"invite_id": "invite-abc"}),
    ("organization.projects.list", "archived", {"limit": 20, "after": "proj_abc", "include_archived": True}),
    ("organization.projects.list", "not-archived", {"include_archived": False}),
    ("organization.projects.create", "reference", {"name": "Project ABC"}),
    ("organization.projects.retrieve", "id", {"project_id": "proj_abc"}),
    ("organization.projects.update", "reference", {"project_id": "proj_abc", "name": "Project DEF"}),
    ("organization.projects.archive", "id", {"project_id": "proj_abc"}),
    ("organization.projects.api_keys.list", "all", {"project_id": "proj_abc", "limit": 20, "after": "key_abc"}),
    ("organization.projects.api_keys.retrieve", "ids", {"project_id": "proj_abc", "key_id": "key_abc"}),
    ("organization.projects.api_keys.delete", "ids", {"project_id": "proj_abc", "key_id": "key_abc"}),
    ("organization.projects.rate_limits.list", "all", {"project_id": "proj_abc", "limit": 100,
                                                       "after": "rl-a", "before": "rl-b"}),
    ("organization.projects.rate_limits.update", "reference", {"project_id": "proj_abc", "rate_limit_id": "rl-ada",
                                                               "max_requests_per_1_minute": 500}),
    ("organization.projects.rate_limits.update", "every-limit", {
        "project_id": "proj_abc", "rate_limit_id": "rl-gpt-4o", "max_requests_per_1_minute": 10000,
        "max_tokens_per_1_minute": 2000000, "max_images_per_1_minute": 50, "max_audio_megabytes_per_1_minute": 100,
        "max_requests_per_1_day": 100000, "batch_1_day_max_input_tokens": 20000000}),
    ("organization.projects.rate_limits.update", "nothing", {"project_id": "proj_abc", "rate_limit_id": "rl-ada"}),
    ("organization.projects.service_accounts.list", "all", {"project_id": "proj_abc", "limit": 1, "after": "svc_a"}),
    ("organization.projects.service_accounts.create", "reference", {"project_id": "proj_abc",
                                                                    "name": "Production App"}),
    ("organization.projects.service_accounts.retrieve", "ids", {"project_id": "proj_abc",
                                                                "service_account_id": "svc_acct_abc"}),
    ("organization.projects.service_accounts.delete", "ids", {"project_id": "proj_abc",
                                                              "service_account_id": "svc_acct_abc"}),
    ("organization.projects.users.list", "all", {"project_id": "proj_abc", "limit": 50, "after": "user-a"}),
    ("organization.projects.users.create", "owner", {"project_id": "proj_abc", "user_id": "user_abc",
                                                     "role": "owner"}),
    ("organization.projects.users.create", "member", {"project_id": "proj_abc", "user_id": "user_abc",
                                                      "role": "member"}),
    ("organization.projects.users.retrieve", "ids", {"project_id": "proj_abc", "user_id": "user_abc"}),
    ("organization.projects.users.update", "reference", {"project_id": "proj_abc", "user_id": "user_abc",
                                                         "role": "owner"}),
    ("organization.projects.users.delete", "ids", {"project_id": "proj_abc", "user_id": "user_abc"}),
    ("organization.users.list", "all", {"limit": 100, "after": "user-a"}),
    ("organization.users.retrieve", "id", {"user_id": "user_abc"}),
    ("organization.users.update", "reference", {"user_id": "user_abc", "role": "owner"}),
    ("organization.users.update", "reader", {"user_id": "user_abc", "role": "reader"}),
    ("organization.users.delete", "id", {"user_id": "user_abc"}),
    # -- organization: costs and usage, every bucket width, filter and group_by
    ("organization.costs", "reference", {"start_time": 1730419200, "limit": 1}),
    ("organization.costs", "every-filter", {"start_time": 1730419200, "end_time": 1730505600, "bucket_width": "1d",
                                            "project_ids": ["proj_abc"], "group_by": ["project_id", "line_item"],
                                            "limit": 180, "page": "page_AAAAAGdGxdEiJdKOAAAAAGcqsYA="}),
    ("organization.costs", "by-line-item", {"start_time": 1730419200, "group_by": ["line_item"]}),
    ("organization.usage.completions", "reference", {"start_time": 1730419200, "limit": 1}),
    ("organization.usage.completions", "every-filter", {**USAGE_FILTERS, **PER_KEY, "batch": True, "group_by": [
        "project_id", "user_id", "api_key_id", "model", "batch"]}),
    ("organization.usage.completions", "not-batch-per-minute", {"start_time": 1730419200, "bucket_width": "1m",
                                                                "batch": False, "limit": 1440}),
    ("organization.usage.embeddings", "every-filter", {**USAGE_FILTERS, **PER_KEY, "group_by": [
        "project_id", "user_id", "api_key_id", "model"]}),
    ("organization.usage.moderations", "every-filter", {**USAGE_FILTERS, **PER_KEY, "bucket_width": "1d",
                                                        "group_by": ["project_id", "user_id", "api_key_id", "model"]}),
    ("organization.usage.images", "every-filter", {**USAGE_FILTERS, **PER_KEY,
                                                   "sources": ["image.generation", "image.edit", "image.variation"],
                                                   "sizes": ["256x256", "512x512", "1024x1024", "1792x1792",
                                                             "1024x1792"],
                                                   "group_by": ["project_id", "user_id", "api_key_id", "model",
                                                                "size", "source"]}),
    ("organization.usage.audio_speeches", "every-filter", {**USAGE_FILTERS, **PER_KEY, "group_by": [
        "project_id", "user_id", "api_key_id", "model"]}),
    ("organization.usage.audio_transcriptions", "every-filter", {**USAGE_FILTERS, **PER_KEY, "group_by": [
        "project_id", "user_id", "api_key_id", "model"]}),
    ("organization.usage.vector_stores", "every-filter", {**USAGE_FILTERS, "group_by": ["project_id"]}),
    ("organization.usage.code_interpreter_sessions", "every-filter", {**USAGE_FILTERS, "group_by": ["project_id"]}),
    *[(f"organization.usage.{kind}", "start-only", {"start_time": 1730419200}) for kind in (
        "audio_speeches", "audio_transcriptions", "code_interpreter_sessions", "embeddings", "images",
        "moderations", "vector_stores")],
]

# Requests the API refuses: (action, label, params, the parameter path named, the rule).
INVALID = [
    ("assistants.create", "no-model", {"name": "Tutor"}, "model", "required"),
    ("assistants.create", "model-not-text", {"model": 4}, "model", "type"),
    ("assistants.create", "temperature-above-2", {"model": "gpt-4o", "temperature": 2.5}, "temperature", "maximum"),
    ("assistants.create", "top-p-negative", {"model": "gpt-4o", "top_p": -0.1}, "top_p", "minimum"),
    ("assistants.create", "unknown-tool", {"model": "gpt-4o", "tools": [{"type": "browser"}]}, "tools[0].type", "enum"),
    ("assistants.create", "function-without-function", {"model": "gpt-4o", "tools": [{"type": "function"}]},
     "tools[0]", "required"),
    ("assistants.create", "max-results-51", {"model": "gpt-4o", "tools": [
        {"type": "file_search", "file_search": {"max_num_results": 51}}]},
     "tools[0].file_search.max_num_results", "maximum"),
    ("assistants.create", "129-tools", {"model": "gpt-4o", "tools": [{"type": "code_interpreter"}] * 129},
     "tools", "maxItems"),
    ("assistants.create", "unknown-response-format", {"model": "gpt-4o", "response_format": {"type": "xml"}},
     "response_format.type", "enum"),
    ("assistants.create", "json-schema-without-name", {"model": "gpt-4o", "response_format": {
        "type": "json_schema", "json_schema": {"schema": {"type": "object"}}}}, "response_format.json_schema",
     "required"),
    ("assistants.create", "name-257", {"model": "gpt-4o", "name": "n" * 257}, "name", "maxLength"),
    ("assistants.create", "metadata-17-keys", {"model": "gpt-4o", "metadata": {f"k{i}": "v" for i in range(17)}},
     "metadata", "maxProperties"),
    ("assistants.create", "metadata-value-not-text", {"model": "gpt-4o", "metadata": {"n": 1}}, "metadata.n", "type"),
    ("assistants.create", "two-vector-stores", {"model": "gpt-4o", "tool_resources": {"file_search": {
        "vector_store_ids": ["vs_a", "vs_b"]}}}, "tool_resources.file_search.vector_store_ids", "maxItems"),
    ("assistants.create", "21-code-files", {"model": "gpt-4o", "tool_resources": {"code_interpreter": {
        "file_ids": [f"file-{i}" for i in range(21)]}}}, "tool_resources.code_interpreter.file_ids", "maxItems"),
    ("assistants.list", "limit-0", {"limit": 0}, "limit", "minimum"),
    ("assistants.list", "limit-101", {"limit": 101}, "limit", "maximum"),
    ("assistants.list", "order-up", {"order": "up"}, "order", "enum"),
    ("assistants.update", "no-id", {"name": "x"}, "assistant_id", "required"),
    ("assistants.update", "temperature-text", {"assistant_id": A, "temperature": "hot"}, "temperature", "type"),
    ("threads.create", "system-role", {"messages": [{"role": "system", "content": "x"}]}, "messages[0].role", "enum"),
    ("threads.create", "message-without-content", {"messages": [{"role": "user"}]}, "messages[0]", "required"),
    ("threads.create", "unknown-message-field", {"messages": [{"role": "user", "content": "x", "name": "bob"}]},
     "messages[0]", "additionalProperties"),
    ("threads.update", "metadata-list", {"thread_id": T, "metadata": ["a"]}, "metadata", "type"),
    ("threads.messages.create", "no-content", {"thread_id": T, "role": "user"}, "content", "required"),
    ("threads.messages.create", "empty-parts", {"thread_id": T, "role": "user", "content": []}, "content", "minItems"),
    ("threads.messages.create", "unknown-part", {"thread_id": T, "role": "user", "content": [
        {"type": "audio", "audio": {}}]}, "content[0].type", "enum"),
    ("threads.messages.create", "image-url-without-url", {"thread_id": T, "role": "user", "content": [
        {"type": "image_url", "image_url": {"detail": "high"}}]}, "content[0].image_url", "required"),
    ("threads.messages.create", "detail-medium", {"thread_id": T, "role": "user", "content": [
        {"type": "image_file", "image_file": {"file_id": "file-a", "detail": "medium"}}]},
     "content[0].image_file.detail", "enum"),
    ("threads.messages.create", "attachment-id-number", {"thread_id": T, "role": "user", "content": "x",
                                                         "attachments": [{"file_id": 7, "tools": []}]},
     "attachments[0].file_id", "type"),
    ("threads.messages.update", "metadata-key-65", {"thread_id": T, "message_id": "msg_a", "metadata": {"k" * 65: "v"}},
     "metadata", "maxLength"),
    ("threads.runs.update", "metadata-value-513", {"thread_id": T, "run_id": R, "metadata": {"k": "v" * 513}},
     "metadata.k", "maxLength"),
    ("threads.messages.create", "attachment-function-tool", {"thread_id": T, "role": "user", "content": "x",
                                                             "attachments": [{"file_id": "file-a", "tools": [
                                                                 {"type": "function"}]}]},
     "attachments[0].tools[0].type", "enum"),
    ("threads.messages.list", "order-newest", {"thread_id": T, "order": "newest"}, "order", "enum"),
    ("threads.runs.create", "no-assistant", {"thread_id": T}, "assistant_id", "required"),
    ("threads.runs.create", "prompt-tokens-255", {"thread_id": T, "assistant_id": A, "max_prompt_tokens": 255},
     "max_prompt_tokens", "minimum"),
    ("threads.runs.create", "completion-tokens-float", {"thread_id": T, "assistant_id": A,
                                                        "max_completion_tokens": 1000.5},
     "max_completion_tokens", "type"),
    ("threads.runs.create", "truncation-first", {"thread_id": T, "assistant_id": A,
                                                 "truncation_strategy": {"type": "first_messages"}},
     "truncation_strategy.type", "enum"),
    ("threads.runs.create", "last-messages-0", {"thread_id": T, "assistant_id": A, "truncation_strategy": {
        "type": "last_messages", "last_messages": 0}}, "truncation_strategy.last_messages", "minimum"),
    ("threads.runs.create", "tool-choice-always", {"thread_id": T, "assistant_id": A, "tool_choice": "always"},
     "tool_choice", "enum"),
    ("threads.runs.create", "tool-choice-function-unnamed", {"thread_id": T, "assistant_id": A, "tool_choice": {
        "type": "function", "function": {}}}, "tool_choice.function", "required"),
    ("threads.runs.create", "include-unknown", {"thread_id": T, "assistant_id": A, "include": ["usage"]},
     "include[0]", "enum"),
    ("threads.runs.create", "parallel-text", {"thread_id": T, "assistant_id": A, "parallel_tool_calls": "yes"},
     "parallel_tool_calls", "type"),
    ("threads.runs.create", "21-tools", {"thread_id": T, "assistant_id": A,
                                         "tools": [{"type": "code_interpreter"}] * 21}, "tools", "maxItems"),
    ("threads.create_and_run", "no-assistant", {"thread": {}}, "assistant_id", "required"),
    ("threads.create_and_run", "thread-text", {"assistant_id": A, "thread": "hello"}, "thread", "type"),
    ("threads.create_and_run", "stream-text", {"assistant_id": A, "stream": "true"}, "stream", "type"),
    ("threads.runs.submit_tool_outputs", "outputs-missing", {"thread_id": T, "run_id": R}, "tool_outputs", "required"),
    ("threads.runs.submit_tool_outputs", "outputs-object", {"thread_id": T, "run_id": R, "tool_outputs": {
        "tool_call_id": "call_1", "output": "x"}}, "tool_outputs", "type"),
    ("threads.runs.steps.list", "include-text", {"thread_id": T, "run_id": R, "include": STEP_CONTENT},
     "include", "type"),
    ("vector_stores.create", "expiry-366-days", {"expires_after": {"anchor": "last_active_at", "days": 366}},
     "expires_after.days", "maximum"),
    ("vector_stores.create", "expiry-anchor", {"expires_after": {"anchor": "created_at", "days": 1}},
     "expires_after.anchor", "enum"),
    ("vector_stores.create", "expiry-no-days", {"expires_after": {"anchor": "last_active_at"}},
     "expires_after", "required"),
    ("vector_stores.create", "chunk-size-99", {"chunking_strategy": {"type": "static", "static": {
        "max_chunk_size_tokens": 99, "chunk_overlap_tokens": 0}}},
     "chunking_strategy.static.max_chunk_size_tokens", "minimum"),
    ("vector_stores.create", "static-without-sizes", {"chunking_strategy": {"type": "static"}},
     "chunking_strategy", "required"),
    ("vector_stores.create", "chunking-other", {"chunking_strategy": {"type": "semantic"}},
     "chunking_strategy.type", "enum"),
    ("vector_stores.create", "501-files", {"file_ids": [f"file-{i}" for i in range(501)]}, "file_ids", "maxItems"),
    ("vector_stores.update", "name-number", {"vector_store_id": VS, "name": 7}, "name", "type"),
    ("vector_stores.files.create", "no-file", {"vector_store_id": VS}, "file_id", "required"),
    ("vector_stores.files.list", "filter-done", {"vector_store_id": VS, "filter": "done"}, "filter", "enum"),
    ("vector_stores.file_batches.create", "no-files", {"vector_store_id": VS, "file_ids": []}, "file_ids", "minItems"),
    ("vector_stores.file_batches.create", "file-ids-text", {"vector_store_id": VS, "file_ids": "file-a"},
     "file_ids", "type"),
    ("organization.admin_api_keys.create", "no-name", {}, "name", "required"),
    ("organization.admin_api_keys.list", "order-sideways", {"order": "sideways"}, "order", "enum"),
    ("organization.audit_logs.list", "unknown-event", {"event_types": ["project.deleted"]}, "event_types[0]", "enum"),
    ("organization.audit_logs.list", "effective-at-date", {"effective_at": {"gte": "2024-01-01"}},
     "effective_at.gte", "type"),
    ("organization.audit_logs.list", "limit-101", {"limit": 101}, "limit", "maximum"),
    ("organization.invites.create", "no-email", {"role": "reader"}, "email", "required"),
    ("organization.invites.create", "admin-role", {"email": "a@example.com", "role": "admin"}, "role", "enum"),
    ("organization.invites.create", "project-role-viewer", {"email": "a@example.com", "role": "reader",
                                                            "projects": [{"id": "proj_a", "role": "viewer"}]},
     "projects[0].role", "enum"),
    ("organization.invites.create", "project-without-role", {"email": "a@example.com", "role": "reader",
                                                             "projects": [{"id": "proj_a"}]}, "projects[0]", "required"),
    ("organization.projects.create", "no-name", {}, "name", "required"),
    ("organization.projects.list", "archived-text", {"include_archived": "yes"}, "include_archived", "type"),
    ("organization.projects.update", "no-name", {"project_id": "proj_abc"}, "name", "required"),
    ("organization.projects.users.create", "reader-role", {"project_id": "proj_abc", "user_id": "user_abc",
                                                           "role": "reader"}, "role", "enum"),
    ("organization.projects.users.update", "no-role", {"project_id": "proj_abc", "user_id": "user_abc"},
     "role", "required"),
    ("organization.projects.rate_limits.update", "limit-as-text", {"project_id": "proj_abc", "rate_limit_id": "rl-a",
                                                                   "max_requests_per_1_minute": "500"},
     "max_requests_per_1_minute", "type"),
    ("organization.projects.service_accounts.create", "no-name", {"project_id": "proj_abc"}, "name", "required"),
    ("organization.users.update", "member-role", {"user_id": "user_abc", "role": "member"}, "role", "enum"),
    ("organization.costs", "no-start", {"end_time": 1730505600}, "start_time", "required"),
    ("organization.costs", "hourly", {"start_time": 1730419200, "bucket_width": "1h"}, "bucket_width", "enum"),
    ("organization.costs", "limit-181", {"start_time": 1730419200, "limit": 181}, "limit", "maximum"),
    ("organization.costs", "group-by-model", {"start_time": 1730419200, "group_by": ["model"]}, "group_by[0]", "enum"),
    ("organization.usage.completions", "start-as-date", {"start_time": "2024-11-01"}, "start_time", "type"),
    ("organization.usage.completions", "weekly", {"start_time": 1730419200, "bucket_width": "1w"},
     "bucket_width", "enum"),
    ("organization.usage.completions", "group-by-size", {"start_time": 1730419200, "group_by": ["size"]},
     "group_by[0]", "enum"),
    ("organization.usage.images", "source-upscale", {"start_time": 1730419200, "sources": ["image.upscale"]},
     "sources[0]", "enum"),
    ("organization.usage.images", "size-2048", {"start_time": 1730419200, "sizes": ["2048x2048"]},
     "sizes[0]", "enum"),
    ("organization.usage.embeddings", "group-by-batch", {"start_time": 1730419200, "group_by": ["batch"]},
     "group_by[0]", "enum"),
    ("organization.usage.vector_stores", "group-by-model", {"start_time": 1730419200, "group_by": ["model"]},
     "group_by[0]", "enum"),
    ("organization.usage.code_interpreter_sessions", "no-start", {}, "start_time", "required"),
    ("organization.usage.audio_speeches", "group-by-source", {"start_time": 1730419200, "group_by": ["source"]},
     "group_by[0]", "enum"),
    ("organization.usage.audio_transcriptions", "models-text", {"start_time": 1730419200, "models": "whisper-1"},
     "models", "type"),
    ("organization.usage.moderations", "end-as-float", {"start_time": 1730419200, "end_time": 1730505600.5},
     "end_time", "type"),
    ("vector_stores.list", "limit-as-text", {"limit": "10"}, "limit", "type"),
    ("organization.invites.list", "limit-0", {"limit": 0}, "limit", "minimum"),
    ("organization.users.list", "limit-101", {"limit": 101}, "limit", "maximum"),
    # Every action with ids in its path: the last id missing, then empty.
    *[row for action, route in ROUTES.items() if "{" in route for *given, last in [
        [n for n in route.split("{")[1:] for n in [n.split("}")[0]]]] for row in (
        (action, f"no-{last}", {n: "id_abc" for n in given}, last, "required"),
        (action, f"empty-{last}", {**{n: "id_abc" for n in given}, last: ""}, last, "minLength"))],
]


def _wire(action: str, params: dict[str, Any]) -> tuple[str, str, dict[str, list[str]], Any]:
    """The method, path, query and JSON body the API reference says `params` travel as."""
    method, template = ROUTES[action].split(" ", 1)
    rest = dict(params)
    path = template.format(**{k: rest.pop(k) for k in list(rest) if "{" + k + "}" in template})
    in_query = rest if method != "POST" else {k: rest.pop(k) for k in list(rest) if k in QUERY_ON_POST.get(action, ())}
    query: dict[str, list[str]] = {}
    for name, value in in_query.items():
        key = name + "[]" if name in BRACKETED.get(action, ()) else name
        items = value.items() if isinstance(value, dict) else [(None, v) for v in
                                                               (value if isinstance(value, list) else [value])]
        for sub, v in items:
            text = {True: "true", False: "false"}.get(v, str(v)) if isinstance(v, bool) else str(v)
            query.setdefault(key if sub is None else f"{key}[{sub}]", []).append(text)
    body = None if method != "POST" or action in NO_BODY else rest
    return method, path, query, body


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _schema_says(eng: engine.Engine, action: str, params: dict[str, Any]) -> tuple[bool, bool]:
    """(jsonschema-rs, jsonschema) verdicts on the action's input schema: they must agree."""
    schema = eng.action(action).input_schema()
    return (jsonschema_rs.validator_for(schema, validate_formats=False).is_valid(params),
            jsonschema.Draft202012Validator(schema).is_valid(params))


@pytest.mark.parametrize("action,params", [pytest.param(a, p, id=f"{a}-{label}") for a, label, p in VALID])
def test_accepts_and_sends_unchanged(eng, action, params):
    request = eng.prepare(action, params)
    method, path, query, body = _wire(action, params)
    url = urlsplit(request.url)
    assert (request.method, url.path) == (method, "/v1" + path)
    sent: dict[str, list[str]] = {}
    for key, value in parse_qsl(url.query, keep_blank_values=True):
        sent.setdefault(key, []).append(value)
    assert sent == query
    if body is None:
        assert not request.body
    else:
        assert request.headers["Content-Type"] == "application/json"
        assert _canonical(json.loads(request.body)) == _canonical(body)
    assert _schema_says(eng, action, params) == (True, True)


@pytest.mark.parametrize("action,params,where,rule",
                         [pytest.param(a, p, w, r, id=f"{a}-{label}") for a, label, p, w, r in INVALID])
def test_rejects_naming_the_parameter(eng, action, params, where, rule):
    with pytest.raises(engine.ValidationError) as caught:
        eng.prepare(action, params)
    found = [(p.param, p.rule) for p in caught.value.problems]
    assert (where, rule) in found, str(caught.value)
    assert str(caught.value).startswith(f"{action}: ")
    fast, slow = _schema_says(eng, action, params)
    assert fast == slow
    assert not fast or params.get(where) == ""  # an empty path id is the engine's own check, not the schema's


# The polling composites take their call's params (less `stream`) plus their own.
POLLED = {"threads.runs.create": "threads.runs.create_and_poll", "threads.create_and_run": "threads.create_and_run_poll",
          "threads.runs.submit_tool_outputs": "threads.runs.submit_tool_outputs_and_poll",
          "vector_stores.files.create": "vector_stores.files.create_and_poll",
          "vector_stores.file_batches.create": "vector_stores.file_batches.create_and_poll"}


@pytest.mark.parametrize("action,params", [pytest.param(a, p, id=f"{POLLED[a]}-{label}") for a, label, p in VALID
                                           if a in POLLED and "stream" not in p])
def test_polling_composites_accept_them_too(eng, action, params):
    assert eng.action(POLLED[action]).validate({**params, "poll_interval": 0.5, "poll_timeout": 60}) is None


def test_every_action_of_the_groups_has_valid_and_invalid_cases(eng):
    wanted = {a.name for a in eng.actions() if not a.composite
              and a.name.split(".")[0] in ("assistants", "threads", "vector_stores", "organization")}
    assert set(ROUTES) == wanted
    assert {a for a, _, _ in VALID} == wanted
    assert {a for a, *_ in INVALID} == wanted
