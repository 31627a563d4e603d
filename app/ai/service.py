"""The AI operations the tasks run: completion, analysis, generation, translation and chat.

Each operation budgets its input against the model's context, splits what does not fit and
combines the parts map-reduce, and reports in its result anything that had to be cut. Every
call goes through the shared limiter and is reported to `on_usage` as soon as it returns.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from app.ai import offline, prompts
from app.ai.chunking import estimate_tokens, split_text
from app.ai.providers import NO_PROVIDER, ChatProvider, get_provider
from app.ai.types import Completion, Limiter, Message, NoLimit, Usage
from app.errors import PermanentError
from app.settings import Settings, get_settings

OFFLINE_ANALYSES = ("summary", "key_points")
OFFLINE_MODEL = "offline-extractive"
# Room for the wrapping words of a prompt (tags, instructions) around the text it carries.
PROMPT_OVERHEAD = 200
# How much longer a translation may run than its source (German and French run long).
TRANSLATION_GROWTH = 1.5

Progress = Callable[[int, int, str], None]


@dataclass
class AIResult:
    """What an operation produced: Markdown text, its usage, and plain notes on anything cut."""

    operation: str
    text: str
    usage: Usage
    notes: list[str] = field(default_factory=list)
    cut: bool = False
    chunks: int = 1
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "operation": self.operation,
            "text": self.text,
            "provider": self.usage.provider,
            "model": self.usage.model,
            "usage": self.usage.as_dict(),
            "notes": self.notes,
            "cut": self.cut,
            "chunks": self.chunks,
            **self.extra,
        }


@dataclass
class AIService:
    """The operations, bound to one provider (None: offline only), limiter and budget."""

    provider: ChatProvider | None
    context_tokens: int = 100_000
    max_output: int = 4096
    limiter: Limiter = field(default_factory=NoLimit)
    on_usage: Callable[[Usage], None] | None = None
    on_progress: Progress | None = None

    def __post_init__(self) -> None:
        # A small context must still leave most of itself for input.
        self.max_output = max(64, min(self.max_output, self.context_tokens // 4))

    # budgets ----------------------------------------------------------------------------

    def input_budget(self, system: str = "", max_output: int | None = None) -> int:
        """Tokens left for input once the system prompt, the answer and a margin are set aside."""
        reserve = (max_output or self.max_output) + estimate_tokens(system)
        margin = 64 + self.context_tokens // 50
        return max(1, self.context_tokens - reserve - margin)

    # operations -------------------------------------------------------------------------

    def complete(self, prompt: str, system: str | None = None) -> AIResult:
        """One answer to one prompt; a prompt beyond the context budget is refused, not cut."""
        self.require()
        self._check_fits(prompt, system or "", "The prompt")
        reply = self.call([Message("user", prompt)], system)
        result = AIResult("completion", reply.text, reply.usage)
        self._note_cut(result, reply, "The answer")
        return result

    def analyze(
        self, text: str, analysis: str = "summary", question: str | None = None
    ) -> AIResult:
        """An analysis of text of any length; without a provider, summary and key points only."""
        if not text.strip():
            raise PermanentError("There is no text to analyse.")
        extra = _facts(text)
        if self.provider is None:
            return self._offline(text, analysis, extra)
        system, user = prompts.analysis_prompt(analysis, text, question)
        if estimate_tokens(user) <= self.input_budget(system):
            reply = self.call([Message("user", user)], system)
            result = AIResult(
                "analyze", reply.text, reply.usage, extra={**extra, "analysis": analysis}
            )
            self._note_cut(result, reply, "The answer")
            return result
        return self._map_reduce(text, analysis, question, extra)

    def generate(
        self,
        kind: str,
        brief: str,
        tone: str = "professional",
        length: str = "medium",
        audience: str | None = None,
    ) -> AIResult:
        """A piece of content (email, blog post, report section, social post) from a brief."""
        self.require()
        if not brief.strip():
            raise PermanentError("Describe what the text should be about.")
        system, user, budget = prompts.generation_prompt(kind, brief, tone, length, audience)
        budget = min(budget, self.max_output)
        self._check_fits(user, system, "The brief", budget)
        reply = self.call([Message("user", user)], system, budget)
        result = AIResult("generate", reply.text, reply.usage, extra={"kind": kind})
        self._note_cut(result, reply, "The text")
        return result

    def translate(self, text: str, target: str, source: str | None = None) -> AIResult:
        """The text in another language, paragraph for paragraph, in as many parts as needed."""
        self.require()
        if not text.strip():
            raise PermanentError("There is no text to translate.")
        if not target.strip():
            raise PermanentError("Choose the language to translate into.")
        system, _ = prompts.translation_prompt("", target, source)
        size = min(
            self.input_budget(system) - PROMPT_OVERHEAD, int(self.max_output / TRANSLATION_GROWTH)
        )
        parts = split_text(text, max(1, size))
        result = AIResult("translate", "", Usage(), chunks=len(parts), extra={"target": target})
        pieces = []
        for number, part in enumerate(parts, 1):
            self._progress(number - 1, len(parts), f"Translating part {number} of {len(parts)}")
            piece = self._translate_part(part, target, source, number, len(parts), result)
            pieces.append(piece)
        result.text = "".join(pieces)
        self._progress(len(parts), len(parts), "Translated")
        return result

    def chat(self, history: Sequence[Message], system: str | None = None) -> AIResult:
        """The assistant's next turn; when too long, the earliest turns are left out and said so."""
        self.require()
        if not history or history[-1].role != "user":
            raise PermanentError("A chat turn needs a message from you.")
        system = system or prompts.CHAT
        sent, dropped = self._fit_history(history, system)
        reply = self.call(sent, system)
        result = AIResult("chat", reply.text, reply.usage, extra={"messages_sent": len(sent)})
        if dropped:
            result.cut = True
            result.notes.append(
                f"The conversation is longer than the model's context budget, so the {dropped} "
                "earliest messages were not sent with this turn."
            )
        self._note_cut(result, reply, "The reply")
        return result

    # one call ---------------------------------------------------------------------------

    def call(
        self, messages: Sequence[Message], system: str | None, max_output: int | None = None
    ) -> Completion:
        """One request through the limiter; its usage is reported even if the caller fails later."""
        provider = self.require()
        limit = max_output or self.max_output
        return self._limited(
            messages, system, limit, 0,
            lambda: provider.complete(messages, system=system, max_output=limit),
        )

    def call_json(
        self,
        messages: Sequence[Message],
        system: str | None,
        schema: dict[str, Any],
        name: str,
        max_output: int | None = None,
    ) -> Completion:
        """One structured request (a JSON object for `schema`) through the same limiter and
        usage reporting as `call`; the caller validates the reply."""
        provider = self.require()
        limit = max_output or self.max_output
        return self._limited(
            messages, system, limit, estimate_tokens(json.dumps(schema)),
            lambda: provider.complete_json(
                messages, system=system, max_output=limit, schema=schema, name=name
            ),
        )

    def _limited(
        self,
        messages: Sequence[Message],
        system: str | None,
        limit: int,
        extra_tokens: int,
        request: Callable[[], Completion],
    ) -> Completion:
        provider = self.require()
        planned = sum(estimate_tokens(m.content) for m in messages) + estimate_tokens(system or "")
        planned += extra_tokens
        reservation = self.limiter.reserve(provider.info.name, planned + limit)
        try:
            reply = request()
        except BaseException:
            self.limiter.settle(reservation, planned)  # a failed call still spent its request
            raise
        self.limiter.settle(reservation, reply.usage.total_tokens)
        if self.on_usage:
            self.on_usage(reply.usage)
        return reply

    # helpers ----------------------------------------------------------------------------

    def require(self) -> ChatProvider:
        """The provider, or the "no provider is configured" failure."""
        if self.provider is None:
            raise PermanentError(NO_PROVIDER)
        return self.provider

    def _check_fits(self, text: str, system: str, what: str, max_output: int | None = None) -> None:
        size, budget = estimate_tokens(text), self.input_budget(system, max_output)
        if size > budget:
            raise PermanentError(
                f"{what} is about {size:,} tokens, more than the {budget:,} the model's context "
                "budget leaves for input. Shorten it, or use Analyse, which splits long documents."
            )

    def _offline(self, text: str, analysis: str, extra: dict[str, Any]) -> AIResult:
        if analysis not in OFFLINE_ANALYSES:
            raise PermanentError(NO_PROVIDER)
        found = offline.analyse(text, analysis)
        usage = Usage(provider="offline", model=OFFLINE_MODEL, cost_usd=0.0)
        extra = {**extra, "analysis": analysis, "label": found["label"], "items": found["items"]}
        # The text itself carries the label, in the page and in the output file alike.
        return AIResult("analyze", found["text"], usage, extra=extra)

    def _map_reduce(
        self, text: str, analysis: str, question: str | None, extra: dict[str, Any]
    ) -> AIResult:
        system = prompts.ANALYST
        notes_size = min(self.max_output, max(256, self.input_budget(system) // 4))
        parts = split_text(text, self.input_budget(system, notes_size) - PROMPT_OVERHEAD)
        result = AIResult(
            "analyze", "", Usage(), chunks=len(parts), extra={**extra, "analysis": analysis}
        )
        result.notes.append(
            f"The document is longer than the model's context budget, so it was read in "
            f"{len(parts)} parts and the parts' notes were combined."
        )
        steps = len(parts) + 1
        notes = []
        for number, part in enumerate(parts, 1):
            self._progress(number - 1, steps, f"Reading part {number} of {len(parts)}")
            _, user = prompts.analysis_map_prompt(analysis, part, number, len(parts), question)
            reply = self.call([Message("user", user)], system, notes_size)
            result.usage.add(reply.usage)
            self._note_cut(result, reply, f"The notes on part {number}")
            notes.append(reply.text)
        self._progress(len(parts), steps, "Combining the parts")
        notes = self._condense(notes, analysis, question, result, notes_size)
        _, user = prompts.analysis_reduce_prompt(analysis, notes, question)
        reply = self.call([Message("user", user)], system)
        result.usage.add(reply.usage)
        result.text = reply.text
        self._note_cut(result, reply, "The answer")
        self._progress(steps, steps, "Done")
        return result

    def _condense(
        self, notes: list[str], analysis: str, question: str | None, result: AIResult, size: int
    ) -> list[str]:
        """Notes merged in groups until all of them fit one final request."""
        budget = self.input_budget(prompts.ANALYST) - PROMPT_OVERHEAD
        while sum(map(estimate_tokens, notes)) > budget and len(notes) > 1:
            groups = _group(notes, budget)
            if len(groups) == len(notes):
                groups = [notes[i : i + 2] for i in range(0, len(notes), 2)]
            merged = []
            for group in groups:
                _, user = prompts.analysis_reduce_prompt(analysis, group, question)
                user += "\n\nWrite the result as compact notes; they will be combined further."
                reply = self.call([Message("user", user)], prompts.ANALYST, size)
                result.usage.add(reply.usage)
                self._note_cut(result, reply, "Combined notes")
                merged.append(reply.text)
            notes = merged
        return notes

    def _translate_part(
        self, part: str, target: str, source: str | None, number: int, total: int, result: AIResult
    ) -> str:
        if not part.strip():
            return part  # blank runs between parts are kept exactly as they were
        system, user = prompts.translation_prompt(part.strip(), target, source, number, total)
        reply = self.call([Message("user", user)], system)
        result.usage.add(reply.usage)
        label = f"Part {number} of the translation" if total > 1 else "The translation"
        self._note_cut(result, reply, label)
        lead = part[: len(part) - len(part.lstrip())]
        tail = part[len(part.rstrip()) :]
        return f"{lead}{reply.text.strip()}{tail}"

    def _fit_history(self, history: Sequence[Message], system: str) -> tuple[list[Message], int]:
        budget = self.input_budget(system)
        last = history[-1]
        if estimate_tokens(last.content) > budget:
            self._check_fits(last.content, system, "Your message")
        kept: list[Message] = []
        used = 0
        for message in reversed(history):
            cost = estimate_tokens(message.content) + 4
            if kept and used + cost > budget:
                break
            kept.append(message)
            used += cost
        kept.reverse()
        while len(kept) > 1 and kept[0].role == "assistant":
            kept.pop(0)  # a conversation the model sees must open with the user
        return kept, len(history) - len(kept)

    def _note_cut(self, result: AIResult, reply: Completion, what: str) -> None:
        if reply.cut:
            result.cut = True
            result.notes.append(
                f"{what} reached the model's output limit and stops early; it is incomplete."
            )

    def _progress(self, current: int, total: int, message: str) -> None:
        if self.on_progress:
            self.on_progress(current, total, message)


def build_service(
    provider: str | None = None,
    model: str | None = None,
    *,
    limiter: Limiter | None = None,
    on_usage: Callable[[Usage], None] | None = None,
    on_progress: Progress | None = None,
    settings: Settings | None = None,
) -> AIService:
    """A service for a provider name ("auto", "anthropic", "openai", "openai-compatible",
    "offline"); with none configured it is offline-only."""
    settings = settings or get_settings()
    chosen = None
    if provider != "offline" and settings.ai_provider_configured:
        chosen = get_provider(provider, model, settings)
    return AIService(
        provider=chosen,
        context_tokens=settings.ai_context_tokens,
        max_output=settings.ai_max_output_tokens,
        limiter=limiter or NoLimit(),
        on_usage=on_usage,
        on_progress=on_progress,
    )


def _facts(text: str) -> dict[str, Any]:
    language = offline.detect_language(text)
    return {
        "stats": offline.statistics(text),
        "language": {"code": language.code, "name": language.name},
    }


def _group(notes: list[str], budget: int) -> list[list[str]]:
    groups: list[list[str]] = [[]]
    used = 0
    for note in notes:
        cost = estimate_tokens(note)
        if groups[-1] and used + cost > budget:
            groups.append([])
            used = 0
        groups[-1].append(note)
        used += cost
    return groups
