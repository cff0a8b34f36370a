"""The request every organization.* and threads.* action builds, and how its answer is decoded.

Each case spells out, from the OpenAPI description (openai-2025-01-21.yaml) and nothing the engine
computes, the request one call must produce: method, full URL, the key in Authorization, the
OpenAI-Beta header (the Assistants family only) and the JSON body. Query strings are written fully
percent-encoded (every character outside RFC 3986's unreserved set), so a wire name such as
`include[]` travels as `include%5B%5D`. The "required" rows give only what the API requires: the
request must then carry nothing else, since defaults are the server's to apply.

Answers are the description's own response examples, read from it by `spec.Example` (its JSON slips
mended by rule), served with one field the description does not list, which must survive decoding.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import pytest

from conftest import ADMIN_KEY, API_KEY
from spec import Example

BETA = "assistants=v2"
ADDED_LATER = {"field_added_later": {"kept": [1, "two"]}}


@dataclass(frozen=True)
class Case:
    """One call and the request the API reference says it must produce."""

    action: str
    label: str
    params: dict[str, Any]
    method: str
    url: str
    key: str                      # the key Authorization must carry
    beta: str | None              # OpenAI-Beta, or None when it must be absent
    body: dict[str, Any] | None   # the JSON body, or None when no body may be sent

    @property
    def id(self) -> str:
        return f"{self.action}-{self.label}"


ORGANIZATION = [
    # Admin API keys
    Case("organization.admin_api_keys.list", "all",
         {"after": "key_abc", "order": "desc", "limit": 5},
         "GET", "https://api.openai.com/v1/organization/admin_api_keys?after=key_abc&order=desc&limit=5",
         ADMIN_KEY, None, None),
    Case("organization.admin_api_keys.list", "required", {},
         "GET", "https://api.openai.com/v1/organization/admin_api_keys",
         ADMIN_KEY, None, None),
    Case("organization.admin_api_keys.create", "all",
         {"name": "New Admin Key"},
         "POST", "https://api.openai.com/v1/organization/admin_api_keys",
         ADMIN_KEY, None, {"name": "New Admin Key"}),
    Case("organization.admin_api_keys.retrieve", "all",
         {"key_id": "key_abc"},
         "GET", "https://api.openai.com/v1/organization/admin_api_keys/key_abc",
         ADMIN_KEY, None, None),
    Case("organization.admin_api_keys.delete", "all",
         {"key_id": "key_abc"},
         "DELETE", "https://api.openai.com/v1/organization/admin_api_keys/key_abc",
         ADMIN_KEY, None, None),
    # Audit logs: a deep-object filter and `[]` arrays
    Case("organization.audit_logs.list", "all",
         {"effective_at": {"gte": 1704067200, "lt": 1706745600},
          "project_ids": ["proj_abc", "proj_def"],
          "event_types": ["project.archived", "api_key.updated"],
          "actor_ids": ["user-xxx"],
          "actor_emails": ["user@example.com"],
          "resource_ids": ["proj_abc"],
          "limit": 10,
          "after": "audit_log-xxx_yyyymmdd"},
         "GET", "https://api.openai.com/v1/organization/audit_logs"
                "?effective_at%5Bgte%5D=1704067200&effective_at%5Blt%5D=1706745600"
                "&project_ids%5B%5D=proj_abc&project_ids%5B%5D=proj_def"
                "&event_types%5B%5D=project.archived&event_types%5B%5D=api_key.updated"
                "&actor_ids%5B%5D=user-xxx&actor_emails%5B%5D=user%40example.com"
                "&resource_ids%5B%5D=proj_abc&limit=10&after=audit_log-xxx_yyyymmdd",
         ADMIN_KEY, None, None),
    Case("organization.audit_logs.list", "backwards",
         {"effective_at": {"gt": 1704067199, "lte": 1706745600}, "before": "audit_log-yyy__20240101"},
         "GET", "https://api.openai.com/v1/organization/audit_logs"
                "?effective_at%5Bgt%5D=1704067199&effective_at%5Blte%5D=1706745600"
                "&before=audit_log-yyy__20240101",
         ADMIN_KEY, None, None),
    Case("organization.audit_logs.list", "required", {},
         "GET", "https://api.openai.com/v1/organization/audit_logs",
         ADMIN_KEY, None, None),
    # Costs: arrays without `[]` repeat the plain name
    Case("organization.costs", "all",
         {"start_time": 1730419200, "end_time": 1730505600, "bucket_width": "1d",
          "project_ids": ["proj_abc", "proj_def"], "group_by": ["project_id", "line_item"],
          "limit": 7, "page": "page_AAAAAGdGxdEiJdKOAAAAAGcqsYA="},
         "GET", "https://api.openai.com/v1/organization/costs"
                "?start_time=1730419200&end_time=1730505600&bucket_width=1d"
                "&project_ids=proj_abc&project_ids=proj_def&group_by=project_id&group_by=line_item"
                "&limit=7&page=page_AAAAAGdGxdEiJdKOAAAAAGcqsYA%3D",
         ADMIN_KEY, None, None),
    Case("organization.costs", "required",
         {"start_time": 1730419200},
         "GET", "https://api.openai.com/v1/organization/costs?start_time=1730419200",
         ADMIN_KEY, None, None),
    # Invites
    Case("organization.invites.list", "all",
         {"limit": 10, "after": "invite-abc"},
         "GET", "https://api.openai.com/v1/organization/invites?limit=10&after=invite-abc",
         ADMIN_KEY, None, None),
    Case("organization.invites.list", "required", {},
         "GET", "https://api.openai.com/v1/organization/invites",
         ADMIN_KEY, None, None),
    Case("organization.invites.create", "all",
         {"email": "anotheruser@example.com", "role": "reader",
          "projects": [{"id": "project-xyz", "role": "member"}, {"id": "project-abc", "role": "owner"}]},
         "POST", "https://api.openai.com/v1/organization/invites",
         ADMIN_KEY, None,
         {"email": "anotheruser@example.com", "role": "reader",
          "projects": [{"id": "project-xyz", "role": "member"}, {"id": "project-abc", "role": "owner"}]}),
    Case("organization.invites.create", "required",
         {"email": "anotheruser@example.com", "role": "reader"},
         "POST", "https://api.openai.com/v1/organization/invites",
         ADMIN_KEY, None, {"email": "anotheruser@example.com", "role": "reader"}),
    Case("organization.invites.retrieve", "all",
         {"invite_id": "invite-abc"},
         "GET", "https://api.openai.com/v1/organization/invites/invite-abc",
         ADMIN_KEY, None, None),
    Case("organization.invites.delete", "all",
         {"invite_id": "invite-abc"},
         "DELETE", "https://api.openai.com/v1/organization/invites/invite-abc",
         ADMIN_KEY, None, None),
    # Projects
    Case("organization.projects.list", "all",
         {"limit": 10, "after": "proj_abc", "include_archived": True},
         "GET", "https://api.openai.com/v1/organization/projects?limit=10&after=proj_abc&include_archived=true",
         ADMIN_KEY, None, None),
    Case("organization.projects.list", "false-is-sent",
         {"include_archived": False},
         "GET", "https://api.openai.com/v1/organization/projects?include_archived=false",
         ADMIN_KEY, None, None),
    Case("organization.projects.list", "required", {},
         "GET", "https://api.openai.com/v1/organization/projects",
         ADMIN_KEY, None, None),
    Case("organization.projects.create", "all",
         {"name": "Project ABC"},
         "POST", "https://api.openai.com/v1/organization/projects",
         ADMIN_KEY, None, {"name": "Project ABC"}),
    Case("organization.projects.retrieve", "all",
         {"project_id": "proj_abc"},
         "GET", "https://api.openai.com/v1/organization/projects/proj_abc",
         ADMIN_KEY, None, None),
    Case("organization.projects.update", "all",
         {"project_id": "proj_abc", "name": "Project DEF"},
         "POST", "https://api.openai.com/v1/organization/projects/proj_abc",
         ADMIN_KEY, None, {"name": "Project DEF"}),
    Case("organization.projects.archive", "all",
         {"project_id": "proj_abc"},
         "POST", "https://api.openai.com/v1/organization/projects/proj_abc/archive",
         ADMIN_KEY, None, None),
    # Project API keys
    Case("organization.projects.api_keys.list", "all",
         {"project_id": "proj_abc", "limit": 10, "after": "key_abc"},
         "GET", "https://api.openai.com/v1/organization/projects/proj_abc/api_keys?limit=10&after=key_abc",
         ADMIN_KEY, None, None),
    Case("organization.projects.api_keys.list", "required",
         {"project_id": "proj_abc"},
         "GET", "https://api.openai.com/v1/organization/projects/proj_abc/api_keys",
         ADMIN_KEY, None, None),
    Case("organization.projects.api_keys.retrieve", "all",
         {"project_id": "proj_abc", "key_id": "key_abc"},
         "GET", "https://api.openai.com/v1/organization/projects/proj_abc/api_keys/key_abc",
         ADMIN_KEY, None, None),
    Case("organization.projects.api_keys.delete", "all",
         {"project_id": "proj_abc", "key_id": "key_abc"},
         "DELETE", "https://api.openai.com/v1/organization/projects/proj_abc/api_keys/key_abc",
         ADMIN_KEY, None, None),
    # Project rate limits
    Case("organization.projects.rate_limits.list", "all",
         {"project_id": "proj_abc", "limit": 20, "after": "rl-ada"},
         "GET", "https://api.openai.com/v1/organization/projects/proj_abc/rate_limits?limit=20&after=rl-ada",
         ADMIN_KEY, None, None),
    Case("organization.projects.rate_limits.list", "backwards",
         {"project_id": "proj_abc", "before": "rl-babbage"},
         "GET", "https://api.openai.com/v1/organization/projects/proj_abc/rate_limits?before=rl-babbage",
         ADMIN_KEY, None, None),
    Case("organization.projects.rate_limits.list", "required",
         {"project_id": "proj_abc"},
         "GET", "https://api.openai.com/v1/organization/projects/proj_abc/rate_limits",
         ADMIN_KEY, None, None),
    Case("organization.projects.rate_limits.update", "all",
         {"project_id": "proj_abc", "rate_limit_id": "rl-ada",
          "max_requests_per_1_minute": 500, "max_tokens_per_1_minute": 100000,
          "max_images_per_1_minute": 5, "max_audio_megabytes_per_1_minute": 10,
          "max_requests_per_1_day": 10000, "batch_1_day_max_input_tokens": 1000000},
         "POST", "https://api.openai.com/v1/organization/projects/proj_abc/rate_limits/rl-ada",
         ADMIN_KEY, None,
         {"max_requests_per_1_minute": 500, "max_tokens_per_1_minute": 100000,
          "max_images_per_1_minute": 5, "max_audio_megabytes_per_1_minute": 10,
          "max_requests_per_1_day": 10000, "batch_1_day_max_input_tokens": 1000000}),
    Case("organization.projects.rate_limits.update", "required",
         {"project_id": "proj_abc", "rate_limit_id": "rl-ada"},
         "POST", "https://api.openai.com/v1/organization/projects/proj_abc/rate_limits/rl-ada",
         ADMIN_KEY, None, {}),
    # Project service accounts
    Case("organization.projects.service_accounts.list", "all",
         {"project_id": "proj_abc", "limit": 10, "after": "svc_acct_abc"},
         "GET", "https://api.openai.com/v1/organization/projects/proj_abc/service_accounts"
                "?limit=10&after=svc_acct_abc",
         ADMIN_KEY, None, None),
    Case("organization.projects.service_accounts.list", "required",
         {"project_id": "proj_abc"},
         "GET", "https://api.openai.com/v1/organization/projects/proj_abc/service_accounts",
         ADMIN_KEY, None, None),
    Case("organization.projects.service_accounts.create", "all",
         {"project_id": "proj_abc", "name": "Production App"},
         "POST", "https://api.openai.com/v1/organization/projects/proj_abc/service_accounts",
         ADMIN_KEY, None, {"name": "Production App"}),
    Case("organization.projects.service_accounts.retrieve", "all",
         {"project_id": "proj_abc", "service_account_id": "svc_acct_abc"},
         "GET", "https://api.openai.com/v1/organization/projects/proj_abc/service_accounts/svc_acct_abc",
         ADMIN_KEY, None, None),
    Case("organization.projects.service_accounts.delete", "all",
         {"project_id": "proj_abc", "service_account_id": "svc_acct_abc"},
         "DELETE", "https://api.openai.com/v1/organization/projects/proj_abc/service_accounts/svc_acct_abc",
         ADMIN_KEY, None, None),
    # Project users
    Case("organization.projects.users.list", "all",
         {"project_id": "proj_abc", "limit": 10, "after": "user_abc"},
         "GET", "https://api.openai.com/v1/organization/projects/proj_abc/users?limit=10&after=user_abc",
         ADMIN_KEY, None, None),
    Case("organization.projects.users.list", "required",
         {"project_id": "proj_abc"},
         "GET", "https://api.openai.com/v1/organization/projects/proj_abc/users",
         ADMIN_KEY, None, None),
    Case("organization.projects.users.create", "all",
         {"project_id": "proj_abc", "user_id": "user_abc", "role": "owner"},
         "POST", "https://api.openai.com/v1/organization/projects/proj_abc/users",
         ADMIN_KEY, None, {"user_id": "user_abc", "role": "owner"}),
    Case("organization.projects.users.retrieve", "all",
         {"project_id": "proj_abc", "user_id": "user_abc"},
         "GET", "https://api.openai.com/v1/organization/projects/proj_abc/users/user_abc",
         ADMIN_KEY, None, None),
    Case("organization.projects.users.update", "all",
         {"project_id": "proj_abc", "user_id": "user_abc", "role": "member"},
         "POST", "https://api.openai.com/v1/organization/projects/proj_abc/users/user_abc",
         ADMIN_KEY, None, {"role": "member"}),
    Case("organization.projects.users.delete", "all",
         {"project_id": "proj_abc", "user_id": "user_abc"},
         "DELETE", "https://api.openai.com/v1/organization/projects/proj_abc/users/user_abc",
         ADMIN_KEY, None, None),
    # Usage
    Case("organization.usage.audio_speeches", "all",
         {"start_time": 1730419200, "end_time": 1730505600, "bucket_width": "1h",
          "project_ids": ["proj_abc"], "user_ids": ["user-abc", "user-def"], "api_key_ids": ["key_abc"],
          "models": ["tts-1", "tts-1-hd"], "group_by": ["project_id", "model"], "limit": 24,
          "page": "page_AAAAAGdGxdEiJdKOAAAAAGcqsYA="},
         "GET", "https://api.openai.com/v1/organization/usage/audio_speeches"
                "?start_time=1730419200&end_time=1730505600&bucket_width=1h&project_ids=proj_abc"
                "&user_ids=user-abc&user_ids=user-def&api_key_ids=key_abc&models=tts-1&models=tts-1-hd"
                "&group_by=project_id&group_by=model&limit=24&page=page_AAAAAGdGxdEiJdKOAAAAAGcqsYA%3D",
         ADMIN_KEY, None, None),
    Case("organization.usage.audio_speeches", "required",
         {"start_time": 1730419200},
         "GET", "https://api.openai.com/v1/organization/usage/audio_speeches?start_time=1730419200",
         ADMIN_KEY, None, None),
    Case("organization.usage.audio_transcriptions", "all",
         {"start_time": 1730419200, "end_time": 1730505600, "bucket_width": "1d",
          "project_ids": ["proj_abc", "proj_def"], "user_ids": ["user-abc"], "api_key_ids": ["key_abc", "key_def"],
          "models": ["whisper-1"], "group_by": ["user_id", "api_key_id"], "limit": 31},
         "GET", "https://api.openai.com/v1/organization/usage/audio_transcriptions"
                "?start_time=1730419200&end_time=1730505600&bucket_width=1d"
                "&project_ids=proj_abc&project_ids=proj_def&user_ids=user-abc"
                "&api_key_ids=key_abc&api_key_ids=key_def&models=whisper-1"
                "&group_by=user_id&group_by=api_key_id&limit=31",
         ADMIN_KEY, None, None),
    Case("organization.usage.audio_transcriptions", "required",
         {"start_time": 1730419200},
         "GET", "https://api.openai.com/v1/organization/usage/audio_transcriptions?start_time=1730419200",
         ADMIN_KEY, None, None),
    Case("organization.usage.code_interpreter_sessions", "all",
         {"start_time": 1730419200, "end_time": 1730505600, "bucket_width": "1m",
          "project_ids": ["proj_abc"], "group_by": ["project_id"], "limit": 60, "page": "page_2"},
         "GET", "https://api.openai.com/v1/organization/usage/code_interpreter_sessions"
                "?start_time=1730419200&end_time=1730505600&bucket_width=1m"
                "&project_ids=proj_abc&group_by=project_id&limit=60&page=page_2",
         ADMIN_KEY, None, None),
    Case("organization.usage.code_interpreter_sessions", "required",
         {"start_time": 1730419200},
         "GET", "https://api.openai.com/v1/organization/usage/code_interpreter_sessions?start_time=1730419200",
         ADMIN_KEY, None, None),
    Case("organization.usage.completions", "all",
         {"start_time": 1730419200, "end_time": 1730505600, "bucket_width": "1d",
          "project_ids": ["proj_abc"], "user_ids": ["user-abc"], "api_key_ids": ["key_abc"],
          "models": ["gpt-4o", "gpt-4o-mini"], "batch": True, "group_by": ["model", "batch"],
          "limit": 7, "page": "page_AAAAAGdGxdEiJdKOAAAAAGcqsYA="},
         "GET", "https://api.openai.com/v1/organization/usage/completions"
                "?start_time=1730419200&end_time=1730505600&bucket_width=1d&project_ids=proj_abc"
                "&user_ids=user-abc&api_key_ids=key_abc&models=gpt-4o&models=gpt-4o-mini&batch=true"
                "&group_by=model&group_by=batch&limit=7&page=page_AAAAAGdGxdEiJdKOAAAAAGcqsYA%3D",
         ADMIN_KEY, None, None),
    Case("organization.usage.completions", "false-is-sent",
         {"start_time": 1730419200, "batch": False},
         "GET", "https://api.openai.com/v1/organization/usage/completions?start_time=1730419200&batch=false",
         ADMIN_KEY, None, None),
    Case("organization.usage.completions", "required",
         {"start_time": 1730419200},
         "GET", "https://api.openai.com/v1/organization/usage/completions?start_time=1730419200",
         ADMIN_KEY, None, None),
    Case("organization.usage.embeddings", "all",
         {"start_time": 1730419200, "end_time": 1730505600, "bucket_width": "1h",
          "project_ids": ["proj_abc"], "user_ids": ["user-abc"], "api_key_ids": ["key_abc"],
          "models": ["text-embedding-3-small"], "group_by": ["project_id", "user_id", "api_key_id", "model"],
          "limit": 168},
         "GET", "https://api.openai.com/v1/organization/usage/embeddings"
                "?start_time=1730419200&end_time=1730505600&bucket_width=1h&project_ids=proj_abc"
                "&user_ids=user-abc&api_key_ids=key_abc&models=text-embedding-3-small"
                "&group_by=project_id&group_by=user_id&group_by=api_key_id&group_by=model&limit=168",
         ADMIN_KEY, None, None),
    Case("organization.usage.embeddings", "required",
         {"start_time": 1730419200},
         "GET", "https://api.openai.com/v1/organization/usage/embeddings?start_time=1730419200",
         ADMIN_KEY, None, None),
    Case("organization.usage.images", "all",
         {"start_time": 1730419200, "end_time": 1730505600, "bucket_width": "1d",
          "sources": ["image.generation", "image.edit"], "sizes": ["1024x1024", "1792x1792"],
          "project_ids": ["proj_abc"], "user_ids": ["user-abc"], "api_key_ids": ["key_abc"],
          "models": ["dall-e-3"], "group_by": ["size", "source"], "limit": 7, "page": "page_2"},
         "GET", "https://api.openai.com/v1/organization/usage/images"
                "?start_time=1730419200&end_time=1730505600&bucket_width=1d"
                "&sources=image.generation&sources=image.edit&sizes=1024x1024&sizes=1792x1792"
                "&project_ids=proj_abc&user_ids=user-abc&api_key_ids=key_abc&models=dall-e-3"
                "&group_by=size&group_by=source&limit=7&page=page_2",
         ADMIN_KEY, None, None),
    Case("organization.usage.images", "required",
         {"start_time": 1730419200},
         "GET", "https://api.openai.com/v1/organization/usage/images?start_time=1730419200",
         ADMIN_KEY, None, None),
    Case("organization.usage.moderations", "all",
         {"start_time": 1730419200, "end_time": 1730505600, "bucket_width": "1d",
          "project_ids": ["proj_abc"], "user_ids": ["user-abc"], "api_key_ids": ["key_abc"],
          "models": ["omni-moderation-latest"], "group_by": ["model"], "limit": 3},
         "GET", "https://api.openai.com/v1/organization/usage/moderations"
                "?start_time=1730419200&end_time=1730505600&bucket_width=1d&project_ids=proj_abc"
                "&user_ids=user-abc&api_key_ids=key_abc&models=omni-moderation-latest&group_by=model&limit=3",
         ADMIN_KEY, None, None),
    Case("organization.usage.moderations", "required",
         {"start_time": 1730419200},
         "GET", "https://api.openai.com/v1/organization/usage/moderations?start_time=1730419200",
         ADMIN_KEY, None, None),
    Case("organization.usage.vector_stores", "all",
         {"start_time": 1730419200, "end_time": 1730505600, "bucket_width": "1d",
          "project_ids": ["proj_abc", "proj_def"], "group_by": ["project_id"], "limit": 7, "page": "page_2"},
         "GET", "https://api.openai.com/v1/organization/usage/vector_stores"
                "?start_time=1730419200&end_time=1730505600&bucket_width=1d"
                "&project_ids=proj_abc&project_ids=proj_def&group_by=project_id&limit=7&page=page_2",
         ADMIN_KEY, None, None),
    Case("organization.usage.vector_stores", "required",
         {"start_time": 1730419200},
         "GET", "https://api.openai.com/v1/organization/usage/vector_stores?start_time=1730419200",
         ADMIN_KEY, None, None),
    # Organization users
    Case("organization.users.list", "all",
         {"limit": 10, "after": "user_abc"},
         "GET", "https://api.openai.com/v1/organization/users?limit=10&after=user_abc",
         ADMIN_KEY, None, None),
    Case("organization.users.list", "required", {},
         "GET", "https://api.openai.com/v1/organization/users",
         ADMIN_KEY, None, None),
    Case("organization.users.retrieve", "all",
         {"user_id": "user_abc"},
         "GET", "https://api.openai.com/v1/organization/users/user_abc",
         ADMIN_KEY, None, None),
    Case("organization.users.retrieve", "encoded-id",
         {"user_id": "user abc/../invites?x#y"},
         "GET", "https://api.openai.com/v1/organization/users/user%20abc%2F..%2Finvites%3Fx%23y",
         ADMIN_KEY, None, None),
    Case("organization.users.update", "all",
         {"user_id": "user_abc", "role": "reader"},
         "POST", "https://api.openai.com/v1/organization/users/user_abc",
         ADMIN_KEY, None, {"role": "reader"}),
    Case("organization.users.delete", "all",
         {"user_id": "user_abc"},
         "DELETE", "https://api.openai.com/v1/organization/users/user_abc",
         ADMIN_KEY, None, None),
]

WEATHER_TOOL = {"type": "function", "function": {
    "name": "get_current_weather",
    "description": "Get the current weather in a given location",
    "parameters": {"type": "object",
                   "properties": {"location": {"type": "string"},
                                  "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
                   "required": ["location"]},
}}

THREADS = [
    # Threads
    Case("threads.create", "all",
         {"messages": [{"role": "user", "content": "Hello, what is AI?"},
                       {"role": "user", "content": "How does AI work? Explain it in simple terms.",
                        "attachments": [{"file_id": "file-abc123", "tools": [{"type": "file_search"}]}]}],
          "tool_resources": {"code_interpreter": {"file_ids": ["file-abc123"]},
                             "file_search": {"vector_store_ids": ["vs_abc123"]}},
          "metadata": {"user": "abc123"}},
         "POST", "https://api.openai.com/v1/threads",
         API_KEY, BETA,
         {"messages": [{"role": "user", "content": "Hello, what is AI?"},
                       {"role": "user", "content": "How does AI work? Explain it in simple terms.",
                        "attachments": [{"file_id": "file-abc123", "tools": [{"type": "file_search"}]}]}],
          "tool_resources": {"code_interpreter": {"file_ids": ["file-abc123"]},
                             "file_search": {"vector_store_ids": ["vs_abc123"]}},
          "metadata": {"user": "abc123"}}),
    Case("threads.create", "required", {},
         "POST", "https://api.openai.com/v1/threads",
         API_KEY, BETA, {}),
    Case("threads.create_and_run", "all",
         {"assistant_id": "asst_abc123",
          "thread": {"messages": [{"role": "user", "content": "Explain deep learning to a 5 year old."}]},
          "model": "gpt-4o", "instructions": "You are a helpful assistant.",
          "tools": [{"type": "code_interpreter"}, WEATHER_TOOL],
          "tool_resources": {"code_interpreter": {"file_ids": ["file-abc123"]}},
          "metadata": {"session": "s-1"}, "temperature": 0.2, "top_p": 0.9, "stream": False,
          "max_prompt_tokens": 1000, "max_completion_tokens": 500,
          "truncation_strategy": {"type": "last_messages", "last_messages": 10},
          "tool_choice": {"type": "function", "function": {"name": "get_current_weather"}},
          "parallel_tool_calls": False, "response_format": {"type": "json_object"}},
         "POST", "https://api.openai.com/v1/threads/runs",
         API_KEY, BETA,
         {"assistant_id": "asst_abc123",
          "thread": {"messages": [{"role": "user", "content": "Explain deep learning to a 5 year old."}]},
          "model": "gpt-4o", "instructions": "You are a helpful assistant.",
          "tools": [{"type": "code_interpreter"}, {"type": "function", "function": {
              "name": "get_current_weather",
              "description": "Get the current weather in a given location",
              "parameters": {"type": "object",
                             "properties": {"location": {"type": "string"},
                                            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
                             "required": ["location"]}}}],
          "tool_resources": {"code_interpreter": {"file_ids": ["file-abc123"]}},
          "metadata": {"session": "s-1"}, "temperature": 0.2, "top_p": 0.9, "stream": False,
          "max_prompt_tokens": 1000, "max_completion_tokens": 500,
          "truncation_strategy": {"type": "last_messages", "last_messages": 10},
          "tool_choice": {"type": "function", "function": {"name": "get_current_weather"}},
          "parallel_tool_calls": False, "response_format": {"type": "json_object"}}),
    Case("threads.create_and_run", "required",
         {"assistant_id": "asst_abc123"},
         "POST", "https://api.openai.com/v1/threads/runs",
         API_KEY, BETA, {"assistant_id": "asst_abc123"}),
    Case("threads.retrieve", "all",
         {"thread_id": "thread_abc123"},
         "GET", "https://api.openai.com/v1/threads/thread_abc123",
         API_KEY, BETA, None),
    Case("threads.retrieve", "encoded-id",
         {"thread_id": "thread_abc/../runs"},
         "GET", "https://api.openai.com/v1/threads/thread_abc%2F..%2Fruns",
         API_KEY, BETA, None),
    Case("threads.update", "all",
         {"thread_id": "thread_abc123",
          "tool_resources": {"file_search": {"vector_store_ids": ["vs_abc123"]}},
          "metadata": {"modified": "true", "user": "abc123"}},
         "POST", "https://api.openai.com/v1/threads/thread_abc123",
         API_KEY, BETA,
         {"tool_resources": {"file_search": {"vector_store_ids": ["vs_abc123"]}},
          "metadata": {"modified": "true", "user": "abc123"}}),
    Case("threads.update", "required",
         {"thread_id": "thread_abc123"},
         "POST", "https://api.openai.com/v1/threads/thread_abc123",
         API_KEY, BETA, {}),
    Case("threads.delete", "all",
         {"thread_id": "thread_abc123"},
         "DELETE", "https://api.openai.com/v1/threads/thread_abc123",
         API_KEY, BETA, None),
    # Messages
    Case("threads.messages.list", "all",
         {"thread_id": "thread_abc123", "limit": 20, "order": "asc", "after": "msg_abc123",
          "run_id": "run_abc123"},
         "GET", "https://api.openai.com/v1/threads/thread_abc123/messages"
                "?limit=20&order=asc&after=msg_abc123&run_id=run_abc123",
         API_KEY, BETA, None),
    Case("threads.messages.list", "backwards",
         {"thread_id": "thread_abc123", "before": "msg_abc456"},
         "GET", "https://api.openai.com/v1/threads/thread_abc123/messages?before=msg_abc456",
         API_KEY, BETA, None),
    Case("threads.messages.list", "required",
         {"thread_id": "thread_abc123"},
         "GET", "https://api.openai.com/v1/threads/thread_abc123/messages",
         API_KEY, BETA, None),
    Case("threads.messages.create", "all",
         {"thread_id": "thread_abc123", "role": "user",
          "content": [{"type": "text", "text": "What is in this image?"},
                      {"type": "image_url", "image_url": {"url": "https://example.com/cat.png", "detail": "low"}},
                      {"type": "image_file", "image_file": {"file_id": "file-abc123"}}],
          "attachments": [{"file_id": "file-abc456", "tools": [{"type": "code_interpreter"}]}],
          "metadata": {"source": "web"}},
         "POST", "https://api.openai.com/v1/threads/thread_abc123/messages",
         API_KEY, BETA,
         {"role": "user",
          "content": [{"type": "text", "text": "What is in this image?"},
                      {"type": "image_url", "image_url": {"url": "https://example.com/cat.png", "detail": "low"}},
                      {"type": "image_file", "image_file": {"file_id": "file-abc123"}}],
          "attachments": [{"file_id": "file-abc456", "tools": [{"type": "code_interpreter"}]}],
          "metadata": {"source": "web"}}),
    Case("threads.messages.create", "required",
         {"thread_id": "thread_abc123", "role": "user", "content": "How does AI work? Explain it in simple terms."},
         "POST", "https://api.openai.com/v1/threads/thread_abc123/messages",
         API_KEY, BETA, {"role": "user", "content": "How does AI work? Explain it in simple terms."}),
    Case("threads.messages.retrieve", "all",
         {"thread_id": "thread_abc123", "message_id": "msg_abc123"},
         "GET", "https://api.openai.com/v1/threads/thread_abc123/messages/msg_abc123",
         API_KEY, BETA, None),
    Case("threads.messages.update", "all",
         {"thread_id": "thread_abc123", "message_id": "msg_abc123",
          "metadata": {"modified": "true", "user": "abc123"}},
         "POST", "https://api.openai.com/v1/threads/thread_abc123/messages/msg_abc123",
         API_KEY, BETA, {"metadata": {"modified": "true", "user": "abc123"}}),
    Case("threads.messages.update", "required",
         {"thread_id": "thread_abc123", "message_id": "msg_abc123"},
         "POST", "https://api.openai.com/v1/threads/thread_abc123/messages/msg_abc123",
         API_KEY, BETA, {}),
    Case("threads.messages.delete", "all",
         {"thread_id": "thread_abc123", "message_id": "msg_abc123"},
         "DELETE", "https://api.openai.com/v1/threads/thread_abc123/messages/msg_abc123",
         API_KEY, BETA, None),
    # Runs
    Case("threads.runs.list", "all",
         {"thread_id": "thread_abc123", "limit": 2, "order": "desc", "after": "run_abc123"},
         "GET", "https://api.openai.com/v1/threads/thread_abc123/runs?limit=2&order=desc&after=run_abc123",
         API_KEY, BETA, None),
    Case("threads.runs.list", "backwards",
         {"thread_id": "thread_abc123", "before": "run_abc456"},
         "GET", "https://api.openai.com/v1/threads/thread_abc123/runs?before=run_abc456",
         API_KEY, BETA, None),
    Case("threads.runs.list", "required",
         {"thread_id": "thread_abc123"},
         "GET", "https://api.openai.com/v1/threads/thread_abc123/runs",
         API_KEY, BETA, None),
    Case("threads.runs.create", "all",
         {"thread_id": "thread_abc123",
          "include": ["step_details.tool_calls[*].file_search.results[*].content"],
          "assistant_id": "asst_abc123", "model": "gpt-4o",
          "instructions": "You summarize books.", "additional_instructions": "Answer in French.",
          "additional_messages": [{"role": "assistant", "content": "Which book?"},
                                  {"role": "user", "content": "Dune."}],
          "tools": [{"type": "file_search", "file_search": {"max_num_results": 5}}],
          "metadata": {"user_id": "user_abc123"}, "temperature": 1, "top_p": 1, "stream": False,
          "max_prompt_tokens": 2000, "max_completion_tokens": 1000,
          "truncation_strategy": {"type": "auto"}, "tool_choice": {"type": "file_search"},
          "parallel_tool_calls": True, "response_format": "auto"},
         "POST", "https://api.openai.com/v1/threads/thread_abc123/runs"
                 "?include%5B%5D=step_details.tool_calls%5B%2A%5D.file_search.results%5B%2A%5D.content",
         API_KEY, BETA,
         {"assistant_id": "asst_abc123", "model": "gpt-4o",
          "instructions": "You summarize books.", "additional_instructions": "Answer in French.",
          "additional_messages": [{"role": "assistant", "content": "Which book?"},
                                  {"role": "user", "content": "Dune."}],
          "tools": [{"type": "file_search", "file_search": {"max_num_results": 5}}],
          "metadata": {"user_id": "user_abc123"}, "temperature": 1, "top_p": 1, "stream": False,
          "max_prompt_tokens": 2000, "max_completion_tokens": 1000,
          "truncation_strategy": {"type": "auto"}, "tool_choice": {"type": "file_search"},
          "parallel_tool_calls": True, "response_format": "auto"}),
    Case("threads.runs.create", "required",
         {"thread_id": "thread_abc123", "assistant_id": "asst_abc123"},
         "POST", "https://api.openai.com/v1/threads/thread_abc123/runs",
         API_KEY, BETA, {"assistant_id": "asst_abc123"}),
    Case("threads.runs.retrieve", "all",
         {"thread_id": "thread_abc123", "run_id": "run_abc123"},
         "GET", "https://api.openai.com/v1/threads/thread_abc123/runs/run_abc123",
         API_KEY, BETA, None),
    Case("threads.runs.update", "all",
         {"thread_id": "thread_abc123", "run_id": "run_abc123", "metadata": {"user_id": "user_abc123"}},
         "POST", "https://api.openai.com/v1/threads/thread_abc123/runs/run_abc123",
         API_KEY, BETA, {"metadata": {"user_id": "user_abc123"}}),
    Case("threads.runs.update", "required",
         {"thread_id": "thread_abc123", "run_id": "run_abc123"},
         "POST", "https://api.openai.com/v1/threads/thread_abc123/runs/run_abc123",
         API_KEY, BETA, {}),
    Case("threads.runs.cancel", "all",
         {"thread_id": "thread_abc123", "run_id": "run_abc123"},
         "POST", "https://api.openai.com/v1/threads/thread_abc123/runs/run_abc123/cancel",
         API_KEY, BETA, None),
    Case("threads.runs.submit_tool_outputs", "all",
         {"thread_id": "thread_123", "run_id": "run_123",
          "tool_outputs": [{"tool_call_id": "call_001", "output": "70 degrees and sunny."},
                           {"tool_call_id": "call_002", "output": "{\"temperature\": 21, \"unit\": \"celsius\"}"}],
          "stream": False},
         "POST", "https://api.openai.com/v1/threads/thread_123/runs/run_123/submit_tool_outputs",
         API_KEY, BETA,
         {"tool_outputs": [{"tool_call_id": "call_001", "output": "70 degrees and sunny."},
                           {"tool_call_id": "call_002", "output": "{\"temperature\": 21, \"unit\": \"celsius\"}"}],
          "stream": False}),
    Case("threads.runs.submit_tool_outputs", "required",
         {"thread_id": "thread_123", "run_id": "run_123",
          "tool_outputs": [{"tool_call_id": "call_001", "output": "70 degrees and sunny."}]},
         "POST", "https://api.openai.com/v1/threads/thread_123/runs/run_123/submit_tool_outputs",
         API_KEY, BETA, {"tool_outputs": [{"tool_call_id": "call_001", "output": "70 degrees and sunny."}]}),
    # Run steps
    Case("threads.runs.steps.list", "all",
         {"thread_id": "thread_abc123", "run_id": "run_abc123", "limit": 20, "order": "asc",
          "after": "step_abc123", "include": ["step_details.tool_calls[*].file_search.results[*].content"]},
         "GET", "https://api.openai.com/v1/threads/thread_abc123/runs/run_abc123/steps"
                "?limit=20&order=asc&after=step_abc123"
                "&include%5B%5D=step_details.tool_calls%5B%2A%5D.file_search.results%5B%2A%5D.content",
         API_KEY, BETA, None),
    Case("threads.runs.steps.list", "backwards",
         {"thread_id": "thread_abc123", "run_id": "run_abc123", "before": "step_abc456"},
         "GET", "https://api.openai.com/v1/threads/thread_abc123/runs/run_abc123/steps?before=step_abc456",
         API_KEY, BETA, None),
    Case("threads.runs.steps.list", "required",
         {"thread_id": "thread_abc123", "run_id": "run_abc123"},
         "GET", "https://api.openai.com/v1/threads/thread_abc123/runs/run_abc123/steps",
         API_KEY, BETA, None),
    Case("threads.runs.steps.retrieve", "all",
         {"thread_id": "thread_abc123", "run_id": "run_abc123", "step_id": "step_abc123",
          "include": ["step_details.tool_calls[*].file_search.results[*].content"]},
         "GET", "https://api.openai.com/v1/threads/thread_abc123/runs/run_abc123/steps/step_abc123"
                "?include%5B%5D=step_details.tool_calls%5B%2A%5D.file_search.results%5B%2A%5D.content",
         API_KEY, BETA, None),
    Case("threads.runs.steps.retrieve", "required",
         {"thread_id": "thread_abc123", "run_id": "run_abc123", "step_id": "step_abc123"},
         "GET", "https://api.openai.com/v1/threads/thread_abc123/runs/run_abc123/steps/step_abc123",
         API_KEY, BETA, None),
]

CASES = ORGANIZATION + THREADS


# The description's response example of the operation each action calls (the first, where it gives
# several), looked up when the test runs.
ANSWERS: dict[str, Example | dict[str, Any]] = {
    "organization.admin_api_keys.list": Example("GET /organization/admin_api_keys"),
    "organization.admin_api_keys.create": Example("POST /organization/admin_api_keys"),
    "organization.admin_api_keys.retrieve": Example("GET /organization/admin_api_keys/{key_id}"),
    "organization.admin_api_keys.delete": Example("DELETE /organization/admin_api_keys/{key_id}"),
    "organization.audit_logs.list": Example("GET /organization/audit_logs"),
    "organization.costs": Example("GET /organization/costs"),
    "organization.invites.list": Example("GET /organization/invites"),
    "organization.invites.create": Example("POST /organization/invites"),
    "organization.invites.retrieve": Example("GET /organization/invites/{invite_id}"),
    "organization.invites.delete": Example("DELETE /organization/invites/{invite_id}"),
    "organization.projects.list": Example("GET /organization/projects"),
    "organization.projects.create": Example("POST /organization/projects"),
    "organization.projects.retrieve": Example("GET /organization/projects/{project_id}"),
    # The description gives no example here: a Project object as its schema describes it, renamed as
    # the request asks.
    "organization.projects.update": {
        "id": "proj_abc",
        "object": "organization.project",
        "name": "Project DEF",
        "created_at": 1711471533,
        "archived_at": None,
        "status": "active",
    },
    "organization.projects.api_keys.list": Example("GET /organization/projects/{project_id}/api_keys"),
    "organization.projects.api_keys.retrieve":
        Example("GET /organization/projects/{project_id}/api_keys/{key_id}"),
    "organization.projects.api_keys.delete":
        Example("DELETE /organization/projects/{project_id}/api_keys/{key_id}"),
    "organization.projects.archive": Example("POST /organization/projects/{project_id}/archive"),
    "organization.projects.rate_limits.list": Example("GET /organization/projects/{project_id}/rate_limits"),
    "organization.projects.rate_limits.update":
        Example("POST /organization/projects/{project_id}/rate_limits/{rate_limit_id}"),
    "organization.projects.service_accounts.list":
        Example("GET /organization/projects/{project_id}/service_accounts"),
    "organization.projects.service_accounts.create":
        Example("POST /organization/projects/{project_id}/service_accounts"),
    "organization.projects.service_accounts.retrieve":
        Example("GET /organization/projects/{project_id}/service_accounts/{service_account_id}"),
    "organization.projects.service_accounts.delete":
        Example("DELETE /organization/projects/{project_id}/service_accounts/{service_account_id}"),
    "organization.projects.users.list": Example("GET /organization/projects/{project_id}/users"),
    "organization.projects.users.create": Example("POST /organization/projects/{project_id}/users"),
    "organization.projects.users.retrieve": Example("GET /organization/projects/{project_id}/users/{user_id}"),
    "organization.projects.users.update": Example("POST /organization/projects/{project_id}/users/{user_id}"),
    "organization.projects.users.delete": Example("DELETE /organization/projects/{project_id}/users/{user_id}"),
    "organization.usage.audio_speeches": Example("GET /organization/usage/audio_speeches"),
    "organization.usage.audio_transcriptions": Example("GET /organization/usage/audio_transcriptions"),
    "organization.usage.code_interpreter_sessions": Example("GET /organization/usage/code_interpreter_sessions"),
    "organization.usage.completions": Example("GET /organization/usage/completions"),
    "organization.usage.embeddings": Example("GET /organization/usage/embeddings"),
    "organization.usage.images": Example("GET /organization/usage/images"),
    "organization.usage.moderations": Example("GET /organization/usage/moderations"),
    "organization.usage.vector_stores": Example("GET /organization/usage/vector_stores"),
    "organization.users.list": Example("GET /organization/users"),
    "organization.users.retrieve": Example("GET /organization/users/{user_id}"),
    "organization.users.update": Example("POST /organization/users/{user_id}"),
    "organization.users.delete": Example("DELETE /organization/users/{user_id}"),
    "threads.create": Example("POST /threads"),
    "threads.create_and_run": Example("POST /threads/runs"),
    "threads.retrieve": Example("GET /threads/{thread_id}"),
    "threads.update": Example("POST /threads/{thread_id}"),
    "threads.delete": Example("DELETE /threads/{thread_id}"),
    "threads.messages.list": Example("GET /threads/{thread_id}/messages"),
    "threads.messages.create": Example("POST /threads/{thread_id}/messages"),
    "threads.messages.retrieve": Example("GET /threads/{thread_id}/messages/{message_id}"),
    "threads.messages.update": Example("POST /threads/{thread_id}/messages/{message_id}"),
    "threads.messages.delete": Example("DELETE /threads/{thread_id}/messages/{message_id}"),
    "threads.runs.list": Example("GET /threads/{thread_id}/runs"),
    "threads.runs.create": Example("POST /threads/{thread_id}/runs"),
    "threads.runs.retrieve": Example("GET /threads/{thread_id}/runs/{run_id}"),
    "threads.runs.update": Example("POST /threads/{thread_id}/runs/{run_id}"),
    "threads.runs.cancel": Example("POST /threads/{thread_id}/runs/{run_id}/cancel"),
    "threads.runs.steps.list": Example("GET /threads/{thread_id}/runs/{run_id}/steps"),
    "threads.runs.steps.retrieve": Example("GET /threads/{thread_id}/runs/{run_id}/steps/{step_id}"),
    "threads.runs.submit_tool_outputs": Example("POST /threads/{thread_id}/runs/{run_id}/submit_tool_outputs"),
}


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_request_and_decoded_answer(eng, mocked, case):
    """The wire request matches the reference exactly; the answer comes back whole, extras included."""
    answer = ANSWERS[case.action]
    served = {**(answer.load() if isinstance(answer, Example) else answer), **ADDED_LATER}
    # Any URL answers: the request is then checked field by field, so a wrong URL fails with a diff.
    mocked.add(case.method, re.compile(r"https://api\.openai\.com/.*"), json=served)

    result = eng.run(case.action, case.params)

    assert len(mocked.calls) == 1
    request = mocked.calls[0].request
    assert request.method == case.method
    assert request.url == case.url
    assert request.headers["Authorization"] == f"Bearer {case.key}"
    assert request.headers.get("OpenAI-Beta") == case.beta
    if case.body is None:
        assert "Content-Type" not in request.headers
        assert not request.body
    else:
        assert request.headers["Content-Type"] == "application/json"
        assert json.loads(request.body) == case.body
    assert result == served


def test_every_action_of_both_groups_has_a_case(eng):
    """41 organization actions and 18 thread actions, as the description lists them."""
    covered = {c.action for c in CASES}
    wanted = {a.name for a in eng.actions() if not a.composite
              and a.name.split(".")[0] in ("organization", "threads")}
    assert covered == wanted
    assert len({n for n in covered if n.startswith("organization.")}) == 41
    assert len({n for n in covered if n.startswith("threads.")}) == 18
    assert set(ANSWERS) == covered
