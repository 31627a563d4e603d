"""One chat turn: the stored history goes to the model as real alternating messages, and the
question and its answer are stored together once the answer exists.

Storing only after the reply means a retried job never stores a question twice, and a
redelivered one (same turn id) never stores its turn twice.
"""

from __future__ import annotations

from typing import Any

from app.ai import store
from app.ai.service import AIResult, AIService
from app.ai.types import Message
from app.errors import PermanentError


def reply(
    ai: AIService,
    message: str,
    *,
    owner: str,
    turn_id: str,
    conversation_id: str | None = None,
    system: str | None = None,
    client: store.Client | None = None,
) -> tuple[AIResult, str]:
    """The assistant's answer to `message` and the id of the conversation that now holds both."""
    conversation = open_conversation(conversation_id, owner, client)
    history = [Message(m["role"], m["content"]) for m in conversation.get("messages", [])]
    result = ai.chat([*history, Message("user", message)], system)
    if not conversation.get("id"):
        conversation = store.create_conversation(
            owner, message, result.usage.provider, result.usage.model, client=client
        )
    store.append_turn(
        conversation["id"],
        message,
        result.text,
        turn_id=turn_id,
        provider=result.usage.provider,
        model=result.usage.model,
        usage=result.usage.as_dict(),
        client=client,
    )
    return result, conversation["id"]


def open_conversation(
    conversation_id: str | None, owner: str, client: store.Client | None = None
) -> dict[str, Any]:
    """The stored conversation to continue, or a blank one created once the reply exists."""
    if not conversation_id:
        return {"owner": owner, "messages": []}
    conversation = store.owned_conversation(conversation_id, owner, client)
    if conversation is None:
        raise PermanentError("That conversation no longer exists; start a new one.")
    return conversation
