"""The instructions each AI operation sends: system prompts and the user turn that carries input.

Input text is fenced in <document> tags so the model treats it as material, not as orders.
"""

from __future__ import annotations

from app.errors import PermanentError

ANALYSES: dict[str, str] = {
    "summary": "Summarise the document in a few short paragraphs. Lead with its main point.",
    "key_points": "List the document's key points as a Markdown bullet list, most important first.",
    "sentiment": (
        "Assess the document's overall sentiment (positive, negative, neutral or mixed). Give the "
        "verdict on the first line in bold, then explain it briefly, quoting the passages that "
        "carry it."
    ),
    "entities": (
        "List the named entities in the document as a Markdown table with the columns Entity, "
        "Type (person, organisation, place, date, amount, product, other) and Context."
    ),
    "action_items": (
        "List every action item in the document as a Markdown checklist (- [ ] ...), naming the "
        "owner and the due date where the document gives them. Say so plainly if there are none."
    ),
    "question": "Answer the user's question using only the document. Say so if it does not say.",
}
ANALYSIS_LABELS = {
    "summary": "Summary",
    "key_points": "Key points",
    "sentiment": "Sentiment",
    "entities": "Entities",
    "action_items": "Action items",
    "question": "Custom question",
}

CONTENT_KINDS: dict[str, str] = {
    "email": "an email, with a subject line first (Subject: ...), a greeting and a sign-off",
    "blog_post": "a blog post with a title, a short introduction, headed sections and a close",
    "report_section": "a section of a business report, with a heading and factual paragraphs",
    "social_post": "a social media post, concise, with at most three relevant hashtags",
}
CONTENT_LABELS = {
    "email": "Email",
    "blog_post": "Blog post",
    "report_section": "Report section",
    "social_post": "Social post",
}
LENGTHS: dict[str, tuple[str, int]] = {
    "short": ("about 80 to 150 words", 600),
    "medium": ("about 250 to 400 words", 1500),
    "long": ("about 700 to 1000 words", 3500),
}

ANALYST = (
    "You are a careful analyst. Work only from the document you are given and write in "
    "Markdown. Reply in the document's language unless asked otherwise."
)
WRITER = (
    "You are a skilled business writer. Write ready-to-use text in Markdown, with no preamble "
    "and no remarks about the writing itself."
)
CHAT = "You are a helpful assistant for office work. Answer in Markdown."


def document(text: str) -> str:
    return f"<document>\n{text}\n</document>"


def analysis_prompt(analysis: str, text: str, question: str | None = None) -> tuple[str, str]:
    """(system, user) for one analysis of a text that fits the context budget."""
    instruction = _analysis_instruction(analysis, question)
    return ANALYST, f"{document(text)}\n\n{instruction}"


def analysis_map_prompt(
    analysis: str, text: str, part: int, parts: int, question: str | None = None
) -> tuple[str, str]:
    """(system, user) asking for notes on one part of a long document, for combining later."""
    goal = _analysis_instruction(analysis, question)
    user = (
        f"{document(text)}\n\nThis is part {part} of {parts} of a longer document. Write compact "
        "notes on this part only, keeping every fact, name, figure, date and quotation that the "
        f"final task below will need. Do not write the final answer yet.\n\nFinal task: {goal}"
    )
    return ANALYST, user


def analysis_reduce_prompt(
    analysis: str, notes: list[str], question: str | None = None
) -> tuple[str, str]:
    """(system, user) combining the notes of every part into the one final answer."""
    goal = _analysis_instruction(analysis, question)
    joined = "\n\n".join(f'<notes part="{i}">\n{n}\n</notes>' for i, n in enumerate(notes, 1))
    user = (
        f"{joined}\n\nThese are notes on consecutive parts of one document. Using them as the "
        f"whole document, do this: {goal}"
    )
    return ANALYST, user


def generation_prompt(
    kind: str, brief: str, tone: str, length: str, audience: str | None
) -> tuple[str, str, int]:
    """(system, user, output budget) for one piece of content."""
    if kind not in CONTENT_KINDS:
        raise PermanentError(f"'{kind}' is not a kind of content this page can write.")
    if length not in LENGTHS:
        raise PermanentError(f"Length must be one of: {', '.join(LENGTHS)}.")
    words, budget = LENGTHS[length]
    lines = [
        f"Write {CONTENT_KINDS[kind]}.",
        f"Tone: {tone or 'professional'}.",
        f"Length: {words}.",
        f"Audience: {audience}." if audience else "",
        f"\nWhat it is about:\n{brief}",
    ]
    return WRITER, "\n".join(line for line in lines if line), budget


def translation_prompt(
    text: str, target: str, source: str | None, part: int = 1, parts: int = 1
) -> tuple[str, str]:
    """(system, user) translating one part of a text, keeping its structure intact."""
    origin = f"from {source} " if source and source.lower() != "auto" else ""
    system = (
        f"You are a professional translator. Translate the text the user gives you {origin}into "
        f"{target}. Keep every paragraph break, line break, list, heading, table and Markdown or "
        "other formatting exactly as it is; translate only the words. Leave code, URLs and "
        "names of products unchanged. Reply with the translation only, no notes."
    )
    where = f" (part {part} of {parts} of a longer text)" if parts > 1 else ""
    return system, f"Translate this{where}:\n\n{text}"


def _analysis_instruction(analysis: str, question: str | None) -> str:
    if analysis not in ANALYSES:
        raise PermanentError(
            f"'{analysis}' is not an analysis this page offers; choose one of "
            f"{', '.join(ANALYSES)}."
        )
    if analysis == "question":
        if not (question and question.strip()):
            raise PermanentError("Write the question you want answered about the document.")
        return f"{ANALYSES['question']}\n\nQuestion: {question.strip()}"
    return ANALYSES[analysis]
