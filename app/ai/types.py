"""The small value types every AI module shares: messages, usage, completions, limiter hooks."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol

Role = Literal["user", "assistant"]


@dataclass(frozen=True)
class Message:
    """One turn of a conversation as the model sees it."""

    role: Role
    content: str

    def as_dict(self) -> dict[str, str]:
        return {"role": self.role, "content": self.content}


@dataclass
class Usage:
    """Tokens one or more calls used; input_tokens includes cached_tokens."""

    provider: str = ""
    model: str = ""
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    cost_usd: float | None = 0.0
    estimated_tokens: bool = False

    def add(self, other: Usage) -> None:
        """Fold another call's usage into this one; an unknown cost makes the total unknown."""
        self.provider = self.provider or other.provider
        self.model = self.model or other.model
        self.requests += other.requests
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.cached_tokens += other.cached_tokens
        self.estimated_tokens = self.estimated_tokens or other.estimated_tokens
        if self.cost_usd is None or other.cost_usd is None:
            self.cost_usd = None
        else:
            self.cost_usd = round(self.cost_usd + other.cost_usd, 6)

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "total_tokens": self.total_tokens}


@dataclass
class Completion:
    """One model answer: its text, whether the output limit cut it, and what it used."""

    text: str
    usage: Usage
    stop_reason: str = ""
    cut: bool = False


@dataclass
class ProviderInfo:
    """What the page and the results show about a provider; never holds a key."""

    name: str  # anthropic | openai | openai-compatible | offline
    label: str
    model: str
    models: list[str] = field(default_factory=list)
    base_url: str | None = None


class Limiter(Protocol):
    """A shared budget of requests and tokens per provider; reserve blocks or raises."""

    def reserve(self, provider: str, tokens: int) -> Any:
        """Take one request and `tokens` from the budget, waiting or raising TransientError."""

    def settle(self, reservation: Any, tokens: int) -> None:
        """Correct a reservation to the tokens the call really used."""


class NoLimit:
    """A limiter that never waits: for tests of pure code and for the offline analyser."""

    def reserve(self, provider: str, tokens: int) -> None:
        return None

    def settle(self, reservation: Any, tokens: int) -> None:
        return None
