"""Token estimates and lossless splitting of long text into chunks that fit a token budget.

No tokenizer ships with the SDKs for every model, so counts are a deliberately generous estimate:
a chunk that the estimate says fits will fit the real tokenizer too.
"""

from __future__ import annotations

import math
import re

# Split points from coarse to fine; each keeps the separator, so "".join(chunks) == text.
_LEVELS = (
    re.compile(r"(?<=\n\n)"),  # paragraphs
    re.compile(r"(?<=\n)"),  # lines
    re.compile(r"(?<=[.!?。！？;])(?=\s)"),  # sentences
    re.compile(r"(?=\s)"),  # words
)
_WIDE = re.compile(r"[\u2e80-\u9fff\uac00-\ud7af\u3040-\u30ff\uff00-\uffef]")
CHARS_PER_TOKEN = 3.5


def estimate_tokens(text: str) -> int:
    """A generous token count: CJK characters count one each, other text one per 3.5 chars."""
    if not text:
        return 0
    wide = len(_WIDE.findall(text))
    return wide + math.ceil((len(text) - wide) / CHARS_PER_TOKEN)


def split_text(text: str, max_tokens: int) -> list[str]:
    """Chunks of at most `max_tokens` (estimated), cut at the coarsest boundary that works.

    Nothing is dropped: joining the chunks gives back the text exactly.
    """
    if max_tokens < 1:
        raise ValueError("max_tokens must be at least 1")
    if estimate_tokens(text) <= max_tokens:
        return [text] if text else []
    return _pack(_pieces(text, max_tokens, 0), max_tokens)


def _pieces(text: str, max_tokens: int, level: int) -> list[str]:
    if estimate_tokens(text) <= max_tokens:
        return [text]
    if level >= len(_LEVELS):
        return _hard_split(text, max_tokens)
    parts = [p for p in _LEVELS[level].split(text) if p]
    if len(parts) == 1:
        return _pieces(text, max_tokens, level + 1)
    out: list[str] = []
    for part in parts:
        out.extend(_pieces(part, max_tokens, level + 1))
    return out


def _hard_split(text: str, max_tokens: int) -> list[str]:
    out: list[str] = []
    start = 0
    while start < len(text):
        size = max(1, int(max_tokens * CHARS_PER_TOKEN))
        while size > 1 and estimate_tokens(text[start : start + size]) > max_tokens:
            size = max(1, size * 3 // 4)
        out.append(text[start : start + size])
        start += size
    return out


def _pack(pieces: list[str], max_tokens: int) -> list[str]:
    chunks: list[str] = []
    current: list[str] = []
    used = 0
    for piece in pieces:
        cost = estimate_tokens(piece)
        if current and used + cost > max_tokens:
            chunks.append("".join(current))
            current, used = [], 0
        current.append(piece)
        used += cost
    if current:
        chunks.append("".join(current))
    return chunks
