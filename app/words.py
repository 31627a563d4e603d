"""Words that agree with their numbers, for every sentence a person reads."""

from __future__ import annotations


def plural(count: int, noun: str, many: str | None = None) -> str:
    """ "1 job", "3 jobs", "0 jobs", "1,204 jobs"; `many` for nouns that do not just take an s."""
    return f"{count:,} {noun if count == 1 else many or noun + 's'}"
