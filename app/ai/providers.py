"""The chat providers: Anthropic's Messages API and OpenAI's Chat Completions (official or a
compatible local server), both through their official SDKs.

Clients are built with max_retries=0: the task layer retries with backoff that honours
Retry-After, and SDK retries on top of ours would multiply the attempts. The SDKs are imported
when a provider is built, not with this module: they take seconds to load, and every worker
and page imports this module.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from app.ai.chunking import estimate_tokens
from app.ai.failures import to_job_error
from app.ai.pricing import estimate_cost
from app.ai.types import Completion, Message, ProviderInfo, Usage
from app.errors import PermanentError
from app.settings import Settings, get_settings

if TYPE_CHECKING:
    import anthropic

NO_PROVIDER = (
    "No AI provider is configured: set ANTHROPIC_API_KEY or OPENAI_API_KEY "
    "(or OPENAI_BASE_URL for a local server)"
)
# Local servers (Ollama, LM Studio) ignore the key, but the SDK insists on one.
LOCAL_KEY_PLACEHOLDER = "not-needed"
LABELS = {
    "anthropic": "Anthropic",
    "openai": "OpenAI",
    "openai-compatible": "The OpenAI-compatible server",
}


class ChatProvider(Protocol):
    """Anything that turns a conversation into one answer."""

    info: ProviderInfo

    def complete(
        self, messages: Sequence[Message], *, system: str | None, max_output: int
    ) -> Completion:
        """The model's reply to `messages`; raises PermanentError or TransientError."""

    def complete_json(
        self,
        messages: Sequence[Message],
        *,
        system: str | None,
        max_output: int,
        schema: dict[str, Any],
        name: str,
    ) -> Completion:
        """A structured reply: `text` is a JSON object meant to match `schema` (unchecked)."""


class AnthropicProvider:
    """Claude through the Messages API."""

    def __init__(self, settings: Settings, model: str | None = None) -> None:
        key = settings.anthropic_api_key.get_secret_value() if settings.anthropic_api_key else ""
        if not key:
            raise PermanentError("Anthropic is not configured: set ANTHROPIC_API_KEY.")
        self._secrets = [key]
        self._prices = settings.ai_prices
        self.info = anthropic_info(settings, model)
        import anthropic

        self._api_error = anthropic.APIError
        self._client = anthropic.Anthropic(
            api_key=key,
            base_url=settings.anthropic_base_url or None,
            timeout=settings.ai_timeout,
            max_retries=0,
        )

    def complete(
        self, messages: Sequence[Message], *, system: str | None, max_output: int
    ) -> Completion:
        extra = {"system": system} if system else {}
        try:
            reply = self._client.messages.create(
                model=self.info.model,
                max_tokens=max_output,
                messages=[m.as_dict() for m in alternate(messages)],
                **extra,
            )
        except self._api_error as exc:
            raise to_job_error(exc, "Anthropic", "ANTHROPIC_API_KEY", self._secrets) from None
        text = "".join(block.text for block in reply.content if block.type == "text")
        return Completion(
            text=text,
            usage=self._usage(reply.model or self.info.model, reply.usage),
            stop_reason=reply.stop_reason or "",
            cut=reply.stop_reason == "max_tokens",
        )

    def complete_json(
        self,
        messages: Sequence[Message],
        *,
        system: str | None,
        max_output: int,
        schema: dict[str, Any],
        name: str,
    ) -> Completion:
        """Tool use forced onto one tool whose input is the schema; that input is the answer."""
        extra = {"system": system} if system else {}
        tool = {"name": name, "description": f"Record the {name} found.", "input_schema": schema}
        try:
            reply = self._client.messages.create(
                model=self.info.model,
                max_tokens=max_output,
                messages=[m.as_dict() for m in alternate(messages)],
                tools=[tool],
                tool_choice={"type": "tool", "name": name},
                **extra,
            )
        except self._api_error as exc:
            raise to_job_error(exc, "Anthropic", "ANTHROPIC_API_KEY", self._secrets) from None
        found = [block.input for block in reply.content if block.type == "tool_use"]
        # No tool call at all leaves the text empty: the caller's validation says so.
        return Completion(
            text=json.dumps(found[0]) if found else "",
            usage=self._usage(reply.model or self.info.model, reply.usage),
            stop_reason=reply.stop_reason or "",
            cut=reply.stop_reason == "max_tokens",
        )

    def _usage(self, model: str, usage: anthropic.types.Usage) -> Usage:
        cached = usage.cache_read_input_tokens or 0
        # Anthropic counts cache reads and writes apart from input_tokens; ours include them.
        total_in = usage.input_tokens + cached + (usage.cache_creation_input_tokens or 0)
        return Usage(
            provider="anthropic",
            model=model,
            requests=1,
            input_tokens=total_in,
            output_tokens=usage.output_tokens,
            cached_tokens=cached,
            cost_usd=estimate_cost(
                "anthropic", model, total_in, usage.output_tokens, cached, self._prices
            ),
        )


class OpenAIProvider:
    """OpenAI's Chat Completions, or the same wire format from a local server."""

    def __init__(self, settings: Settings, model: str | None = None) -> None:
        key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else ""
        if not key and not settings.openai_base_url:
            raise PermanentError("OpenAI is not configured: set OPENAI_API_KEY or OPENAI_BASE_URL.")
        self._secrets = [key]
        self._prices = settings.ai_prices
        self.info = openai_info(settings, model)
        self._label = LABELS[self.info.name]
        import openai

        self._api_error = openai.APIError
        self._client = openai.OpenAI(
            api_key=key or LOCAL_KEY_PLACEHOLDER,
            base_url=settings.openai_base_url or None,
            timeout=settings.ai_timeout,
            max_retries=0,
        )

    def complete(
        self, messages: Sequence[Message], *, system: str | None, max_output: int
    ) -> Completion:
        return self._create(messages, system, max_output)

    def complete_json(
        self,
        messages: Sequence[Message],
        *,
        system: str | None,
        max_output: int,
        schema: dict[str, Any],
        name: str,
    ) -> Completion:
        """Structured output: response_format carries the JSON schema, to be followed strictly."""
        response_format = {
            "type": "json_schema",
            "json_schema": {"name": name, "schema": schema, "strict": True},
        }
        return self._create(messages, system, max_output, response_format=response_format)

    def _create(
        self, messages: Sequence[Message], system: str | None, max_output: int, **extra: Any
    ) -> Completion:
        payload = [{"role": "system", "content": system}] if system else []
        payload += [m.as_dict() for m in messages]
        # OpenAI's newer models refuse max_tokens; local servers mostly know only max_tokens.
        limit_field = (
            "max_tokens" if self.info.name == "openai-compatible" else "max_completion_tokens"
        )
        try:
            reply = self._client.chat.completions.create(
                model=self.info.model, messages=payload, **{limit_field: max_output}, **extra
            )
        except self._api_error as exc:
            raise to_job_error(exc, self._label, "OPENAI_API_KEY", self._secrets) from None
        if not reply.choices:
            raise PermanentError(f"{self._label} returned no answer.")
        choice = reply.choices[0]
        refusal = getattr(choice.message, "refusal", None)
        if refusal:
            raise PermanentError(f"{self._label} declined to answer: {refusal[:300]}")
        text = choice.message.content or ""
        return Completion(
            text=text,
            usage=self._usage(reply, messages, system, text),
            stop_reason=choice.finish_reason or "",
            cut=choice.finish_reason == "length",
        )

    def _usage(
        self, reply: Any, messages: Sequence[Message], system: str | None, text: str
    ) -> Usage:
        model = reply.model or self.info.model
        usage = reply.usage
        if usage is None:
            # Some local servers send no usage; count it ourselves and say so.
            sent = [system or "", *(m.content for m in messages)]
            spent_in, spent_out, cached = sum(map(estimate_tokens, sent)), estimate_tokens(text), 0
        else:
            details = usage.prompt_tokens_details
            spent_in, spent_out = usage.prompt_tokens, usage.completion_tokens
            cached = (details.cached_tokens or 0) if details else 0
        return Usage(
            provider=self.info.name,
            model=model,
            requests=1,
            input_tokens=spent_in,
            output_tokens=spent_out,
            cached_tokens=cached,
            cost_usd=estimate_cost(
                self.info.name, model, spent_in, spent_out, cached, self._prices
            ),
            estimated_tokens=usage is None,
        )


def alternate(messages: Sequence[Message]) -> list[Message]:
    """Messages that start with the user and alternate roles, as Anthropic requires.

    Neighbouring turns of the same role are joined rather than dropped.
    """
    out: list[Message] = []
    for message in messages:
        if not out and message.role == "assistant":
            out.append(Message("user", "(The conversation continues.)"))
        if out and out[-1].role == message.role:
            out[-1] = Message(message.role, f"{out[-1].content}\n\n{message.content}")
        else:
            out.append(message)
    return out


def anthropic_info(settings: Settings, model: str | None = None) -> ProviderInfo:
    models = _unique([settings.anthropic_model, *settings.anthropic_models])
    return ProviderInfo(
        "anthropic",
        "Anthropic",
        model or settings.anthropic_model,
        models,
        _host(settings.anthropic_base_url),
    )


def openai_info(settings: Settings, model: str | None = None) -> ProviderInfo:
    local = bool(settings.openai_base_url)
    name = "openai-compatible" if local else "openai"
    extra = settings.openai_models
    if local and "openai_models" not in settings.model_fields_set:
        extra = []  # OpenAI's own model names mean nothing to a local server
    models = _unique([settings.openai_model, *extra])
    label = "OpenAI-compatible server" if local else "OpenAI"
    return ProviderInfo(
        name, label, model or settings.openai_model, models, _host(settings.openai_base_url)
    )


def configured(settings: Settings | None = None) -> list[ProviderInfo]:
    """The providers that have what they need to run, default first."""
    settings = settings or get_settings()
    found = []
    if settings.anthropic_api_key:
        found.append(anthropic_info(settings))
    if settings.openai_api_key or settings.openai_base_url:
        found.append(openai_info(settings))
    return found


def get_provider(
    name: str | None = None, model: str | None = None, settings: Settings | None = None
) -> ChatProvider:
    """A ready provider: the one named, or the first configured; PermanentError if none is."""
    settings = settings or get_settings()
    if not settings.ai_provider_configured:
        raise PermanentError(NO_PROVIDER)
    if name in (None, "", "auto"):
        name = configured(settings)[0].name
    if name == "anthropic":
        return AnthropicProvider(settings, model or None)
    if name in ("openai", "openai-compatible"):
        return OpenAIProvider(settings, model or None)
    raise PermanentError(f"'{name}' is not an AI provider this platform knows.")


def _host(url: str | None) -> str | None:
    """Scheme, host and path of a base URL; any user:password part is left out."""
    if not url:
        return None
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return f"{parts.scheme}://{host}{parts.path}"


def _unique(items: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(i for i in items if i))
