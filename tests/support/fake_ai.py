"""A local HTTP server that speaks the Anthropic Messages and OpenAI Chat Completions wire formats.

The real SDKs are pointed at it through base_url. It answers with the providers' JSON shapes,
usage fields, error bodies and retry-after headers, records every request it receives, and can
be scripted: a queue of canned failures per provider, and failures keyed to a word in a prompt.

Structured requests (Anthropic tools with a forced tool_choice, OpenAI `response_format` of type
json_schema) get an object built from the schema: each property is filled from a "Name: value"
line of the prompt, or null (an empty list for arrays). `structured_reply` overrides that object.

    with FakeAIServer() as server:
        server.fail_next("anthropic", 429, retry_after=1)
        ...  # ANTHROPIC_BASE_URL=server.url, OPENAI_BASE_URL=server.openai_url
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

GOOD_KEY = "sk-test-good-key-0123456789"
BAD_KEY = "sk-test-revoked-key-9876543210"

ERROR_TYPES = {
    400: ("invalid_request_error", "invalid_request_error"),
    401: ("authentication_error", "invalid_api_key"),
    402: ("billing_error", "insufficient_quota"),
    403: ("permission_error", "permission_denied"),
    404: ("not_found_error", "model_not_found"),
    429: ("rate_limit_error", "rate_limit_exceeded"),
    500: ("api_error", "server_error"),
    529: ("overloaded_error", "overloaded"),
}


@dataclass
class Failure:
    """A canned error answer."""

    status: int
    retry_after: float | None = None
    message: str = ""
    code: str | None = None


@dataclass
class Received:
    """One request as the server saw it."""

    provider: str
    path: str
    body: dict[str, Any]
    at: float
    key_ok: bool
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def messages(self) -> list[dict[str, Any]]:
        return self.body.get("messages", [])

    @property
    def last_user_text(self) -> str:
        for message in reversed(self.messages):
            if message.get("role") == "user":
                return _text(message.get("content"))
        return ""


class FakeAIServer:
    """The fake provider; a context manager that serves on a free port in a thread."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.received: list[Received] = []
        self.failures: dict[str, deque[Failure]] = {"anthropic": deque(), "openai": deque()}
        self.fail_on_word: dict[str, Failure] = {}
        self.cut_on_word: set[str] = set()
        self.omit_usage = False
        self.structured_reply: dict[str, Any] | None = None
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    # lifecycle --------------------------------------------------------------------------

    def __enter__(self) -> FakeAIServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def openai_url(self) -> str:
        return f"{self.url}/v1"

    # scripting --------------------------------------------------------------------------

    def fail_next(
        self,
        provider: str,
        status: int,
        retry_after: float | None = None,
        message: str = "",
        code: str | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next `times` requests to `provider` with this error."""
        for _ in range(times):
            self.failures[provider].append(Failure(status, retry_after, message, code))

    def requests(self, provider: str | None = None) -> list[Received]:
        with self._lock:
            return [r for r in self.received if provider in (None, r.provider)]

    def clear(self) -> None:
        with self._lock:
            self.received.clear()
            for queue in self.failures.values():
                queue.clear()
            self.fail_on_word.clear()
            self.cut_on_word.clear()
            self.structured_reply = None

    # answering --------------------------------------------------------------------------

    def _answer(self, provider: str, received: Received) -> tuple[int, dict, dict[str, str]]:
        with self._lock:
            self.received.append(received)
            failure = self.failures[provider].popleft() if self.failures[provider] else None
        prompt = received.last_user_text
        if failure is None:
            failure = next((f for w, f in self.fail_on_word.items() if w in prompt), None)
        if failure is None and not received.key_ok:
            failure = Failure(401, message=f"Incorrect API key provided: {BAD_KEY[:10]}***")
        if failure is not None:
            return _error(provider, failure)
        cut = any(word in prompt for word in self.cut_on_word)
        schema = structured_schema(received)
        if schema is not None:
            data = self.structured_reply
            data = fill_schema(schema, prompt) if data is None else data
            if provider == "anthropic":
                return 200, _anthropic_tool_use(received, data, cut), {}
            return 200, _openai_completion(received, json.dumps(data), cut, self.omit_usage), {}
        text = reply_text(received)
        if provider == "anthropic":
            return 200, _anthropic_message(received, text, cut), {}
        return 200, _openai_completion(received, text, cut, self.omit_usage), {}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                provider = _provider_for(self.path)
                if provider is None:
                    self._send(404, {"error": {"message": f"no route {self.path}"}}, {})
                    return
                received = Received(
                    provider=provider,
                    path=self.path,
                    body=body,
                    at=time.time(),
                    key_ok=_key_ok(provider, self.headers),
                    headers={k.lower(): v for k, v in self.headers.items()},
                )
                if server.delay:
                    time.sleep(server.delay)
                status, payload, headers = server._answer(provider, received)
                self._send(status, payload, headers)

            def _send(self, status: int, payload: dict, headers: dict[str, str]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        return Handler


def reply_text(received: Received) -> str:
    """The deterministic answer: a translation marker, a chat echo or a summary marker."""
    prompt = received.last_user_text
    system = _system_of(received)
    if "Translate this" in prompt:
        source = prompt.split(":\n\n", 1)[1] if ":\n\n" in prompt else prompt
        return "\n\n".join(f"[fr] {p}" for p in source.split("\n\n"))
    if "part " in prompt and "of a longer document" in prompt:
        return f"Notes: {prompt.split('<document>')[1][:40].strip()}"
    if "notes on consecutive parts" in prompt:
        return f"Combined answer from {prompt.count('<notes part=')} notes."
    turns = sum(1 for m in received.messages if m.get("role") != "system")
    return f"Answer #{turns} to: {prompt[:60]}" + (" (with system)" if system else "")


def structured_schema(received: Received) -> dict[str, Any] | None:
    """The JSON schema a structured request asks for, or None for a plain one."""
    body = received.body
    choice = body.get("tool_choice") or {}
    if received.provider == "anthropic" and body.get("tools") and choice.get("type") == "tool":
        tool = next((t for t in body["tools"] if t.get("name") == choice.get("name")), None)
        return tool.get("input_schema") if tool else None
    response_format = body.get("response_format") or {}
    if received.provider == "openai" and response_format.get("type") == "json_schema":
        return response_format.get("json_schema", {}).get("schema")
    return None


def fill_schema(schema: dict[str, Any], prompt: str) -> dict[str, Any]:
    """An object for the schema: a property "invoice_number" takes the rest of a line
    "Invoice number: ..." of the prompt (a number or a string by its type), else null."""
    out: dict[str, Any] = {}
    for name, prop in (schema.get("properties") or {}).items():
        types = {prop.get("type")} | {p.get("type") for p in prop.get("anyOf", [])}
        if "array" in types:
            out[name] = []
            continue
        label = r"\s+".join(re.escape(w) for w in name.split("_"))
        match = re.search(rf"(?im)^\s*{label}\s*:\s*(.+?)\s*$", prompt)
        value: Any = match.group(1) if match else None
        if value is not None and ("number" in types or "integer" in types):
            digits = re.sub(r"[^0-9.]", "", value)
            value = float(digits) if digits.count(".") <= 1 and digits.strip(".") else None
        out[name] = value
    return out


def _anthropic_tool_use(received: Received, data: dict[str, Any], cut: bool) -> dict:
    name = received.body["tool_choice"]["name"]
    text = json.dumps(data)
    block = {"type": "tool_use", "id": f"toolu_{uuid.uuid4().hex[:24]}", "name": name,
             "input": data}
    return {
        "id": f"msg_{uuid.uuid4().hex[:24]}",
        "type": "message",
        "role": "assistant",
        "model": received.body.get("model", ""),
        "content": [block],
        "stop_reason": "max_tokens" if cut else "tool_use",
        "stop_sequence": None,
        "usage": {
            "input_tokens": _input_tokens(received),
            "output_tokens": _tokens(text),
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        },
    }


def _provider_for(path: str) -> str | None:
    if path.rstrip("/").endswith("/v1/messages"):
        return "anthropic"
    if path.rstrip("/").endswith("/chat/completions"):
        return "openai"
    return None


def _key_ok(provider: str, headers: Any) -> bool:
    if provider == "anthropic":
        # Newer Anthropic SDKs send the key as a bearer token, older ones as x-api-key.
        sent = headers.get("x-api-key") or headers.get("authorization", "").removeprefix("Bearer ")
        return sent == GOOD_KEY and bool(headers.get("anthropic-version"))
    return headers.get("authorization") in (f"Bearer {GOOD_KEY}", "Bearer not-needed")


def _tokens(text: str) -> int:
    return max(1, len(text) // 4)


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(block.get("text", "") for block in content if isinstance(block, dict))
    return ""


def _system_of(received: Received) -> str:
    if received.provider == "anthropic":
        return _text(received.body.get("system"))
    return "".join(_text(m.get("content")) for m in received.messages if m.get("role") == "system")


def _input_tokens(received: Received) -> int:
    sent = _system_of(received) + "".join(_text(m.get("content")) for m in received.messages)
    return _tokens(sent)


def _anthropic_message(received: Received, text: str, cut: bool) -> dict:
    return {
        "id": f"msg_{uuid.uuid4().hex[:24]}",
        "type": "message",
        "role": "assistant",
        "model": received.body.get("model", ""),
        "content": [{"type": "text", "text": text}],
        "stop_reason": "max_tokens" if cut else "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": _input_tokens(received),
            "output_tokens": _tokens(text),
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        },
    }


def _openai_completion(received: Received, text: str, cut: bool, omit_usage: bool) -> dict:
    prompt_tokens, completion_tokens = _input_tokens(received), _tokens(text)
    body: dict[str, Any] = {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": received.body.get("model", ""),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text, "refusal": None},
                "finish_reason": "length" if cut else "stop",
                "logprobs": None,
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": 0},
        },
    }
    if omit_usage:
        del body["usage"]
    return body


def _error(provider: str, failure: Failure) -> tuple[int, dict, dict[str, str]]:
    anthropic_type, openai_code = ERROR_TYPES.get(failure.status, ("api_error", "server_error"))
    message = failure.message or f"Simulated error {failure.status}"
    headers: dict[str, str] = {}
    if failure.retry_after is not None:
        headers["retry-after"] = f"{failure.retry_after:g}"
    if provider == "anthropic":
        request_id = f"req_{uuid.uuid4().hex[:20]}"
        headers["request-id"] = request_id
        error = {"type": anthropic_type, "message": message}
        return failure.status, {"type": "error", "error": error, "request_id": request_id}, headers
    error = {
        "message": message,
        "type": "requests" if failure.status == 429 else "invalid_request_error",
        "param": None,
        "code": failure.code or openai_code,
    }
    return failure.status, {"error": error}, headers
