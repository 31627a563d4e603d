"""The offline analyser: extractive summaries, key phrases, statistics and language detection.

It needs no network and no model, so it serves summaries and key points when no AI provider is
configured. It only ever quotes the text; it never writes new sentences.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass

LABEL = "Offline analysis: sentences and phrases picked from the text itself, no AI model used."


def _wordset(text: str) -> frozenset[str]:
    return frozenset(text.split())


_STOPWORDS: dict[str, frozenset[str]] = {
    "en": _wordset(
        "a about above after again all also am an and any are as at be because been before being "
        "between both but by can could did do does doing down during each few for from further "
        "had has have having he her here hers him his how i if in into is it its itself just me "
        "more most my no nor not now of off on once only or other our ours out over own same she "
        "should so some such than that the their theirs them then there these they this those "
        "through to too under until up very was we were what when where which while who whom why "
        "will with would you your yours"
    ),
    "de": _wordset(
        "aber alle als also am an auch auf aus bei bin bis bist da damit dann das dass dem den der "
        "des dich die dir doch du durch ein eine einem einen einer eines er es für hat hatte "
        "ich ihr im in ist ja kann mich mir mit nach nicht noch nur ob oder ohne sehr sein sich "
        "sie sind so über um und uns unter vom von vor war was weil wenn werden wie wir wird zu "
        "zum zur"
    ),
    "fr": _wordset(
        "a au aux avec ce ces cette dans de des du elle en est et été être il ils je la le les "
        "leur lui mais me même mes moi mon ne nos notre nous on ont ou par pas pour qu que qui "
        "sa sans se ses son sont sur ta te tes toi ton tu un une vos votre vous y"
    ),
    "es": _wordset(
        "a al algo como con de del el ella ellos en era es esa ese esta este esto fue ha hay la "
        "las le les lo los más me mi muy no nos o para pero por que se sin sobre su sus también "
        "te tiene todo un una uno y ya"
    ),
    "it": _wordset(
        "a al alla anche che chi ci come con da dal del della delle di e è gli ha hanno il in io "
        "la le lei lo loro ma mi nel nella non per più quando questo se si sono su sua suo tra "
        "un una uno"
    ),
    "pt": _wordset(
        "a ao aos as com como da das de do dos e é ela ele eles em entre era essa esse esta este "
        "foi há isso já mais mas me muito na não nas no nos o os ou para pela pelo por que se "
        "sem ser seu sua também um uma"
    ),
    "nl": _wordset(
        "aan al als bij dan dat de der deze die dit door een en er ge geen had heb heeft het hij "
        "hoe ik in is je kan maar me met mij na naar niet nog nu of om ons ook op over te tot uit "
        "van veel voor was wat we wel werd wie wij worden zal ze zei zij zich zijn zo"
    ),
}
LANGUAGE_NAMES = {
    "en": "English",
    "de": "German",
    "fr": "French",
    "es": "Spanish",
    "it": "Italian",
    "pt": "Portuguese",
    "nl": "Dutch",
    "ru": "Russian",
    "el": "Greek",
    "ar": "Arabic",
    "he": "Hebrew",
    "zh": "Chinese",
    "ja": "Japanese",
    "ko": "Korean",
    "und": "undetermined",
}
_SCRIPTS = (
    ("ja", re.compile(r"[\u3040-\u30ff]")),
    ("ko", re.compile(r"[\uac00-\ud7af]")),
    ("zh", re.compile(r"[\u4e00-\u9fff]")),
    ("ru", re.compile(r"[\u0400-\u04ff]")),
    ("el", re.compile(r"[\u0370-\u03ff]")),
    ("ar", re.compile(r"[\u0600-\u06ff]")),
    ("he", re.compile(r"[\u0590-\u05ff]")),
)
_WORD = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*", re.UNICODE)
_TOKEN = re.compile(r"\w+(?:['’.,-]\w+)*", re.UNICODE)  # words and numbers, for counting
_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s+|\n\s*\n+|\n(?=\s*[-*•]|\s*\d+[.)])")
_PHRASE_BREAK = re.compile(r"[.,;:!?()\[\]{}\"“”«»/\\|\n\t—–]+|\s-\s")
ALL_STOPWORDS = frozenset().union(*_STOPWORDS.values())


@dataclass(frozen=True)
class Language:
    """A detected language: ISO 639-1 code, English name and a 0–1 confidence."""

    code: str
    name: str
    confidence: float


def words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def split_sentences(text: str) -> list[str]:
    """The text's sentences, whitespace-trimmed, list items and paragraphs kept apart."""
    return [s.strip() for s in _SENTENCE_END.split(text) if s and s.strip()]


def detect_language(text: str) -> Language:
    """The text's language from its script, or for Latin script from its commonest small words."""
    sample = text[:20000]
    letters = [ch for ch in sample if ch.isalpha()]
    if not letters:
        return Language("und", LANGUAGE_NAMES["und"], 0.0)
    for code, script in _SCRIPTS:
        share = len(script.findall(sample)) / len(letters)
        if share > 0.3:
            return Language(code, LANGUAGE_NAMES[code], round(min(1.0, share + 0.2), 2))
    tokens = words(sample)
    hits = {code: sum(1 for w in tokens if w in stop) for code, stop in _STOPWORDS.items()}
    best = max(hits, key=hits.get)
    total = sum(hits.values())
    if not tokens or hits[best] == 0:
        return Language("und", LANGUAGE_NAMES["und"], 0.0)
    confidence = (hits[best] / total) * min(1.0, hits[best] / 5)
    return Language(best, LANGUAGE_NAMES[best], round(confidence, 2))


def statistics(text: str) -> dict:
    """Counts a reader cares about: words, sentences, paragraphs, reading time, vocabulary."""
    tokens = [t.lower() for t in _TOKEN.findall(text)]
    sentences = split_sentences(text)
    paragraphs = [p for p in re.split(r"\n\s*\n", text) if p.strip()]
    return {
        "characters": len(text),
        "words": len(tokens),
        "unique_words": len(set(tokens)),
        "sentences": len(sentences),
        "paragraphs": len(paragraphs),
        "average_sentence_words": round(len(tokens) / len(sentences), 1) if sentences else 0.0,
        "reading_minutes": round(len(tokens) / 230, 1),
        "lexical_diversity": round(len(set(tokens)) / len(tokens), 3) if tokens else 0.0,
    }


def summarize(text: str, max_sentences: int = 5) -> list[str]:
    """The most representative sentences, in the order they appear.

    A sentence scores by how frequent its content words are across the whole text, with a small
    lead bonus because openings usually state the topic.
    """
    sentences = split_sentences(text)
    if len(sentences) <= max_sentences:
        return sentences
    freq = _content_frequencies(text)
    scored = [(_sentence_score(s, i, freq), i) for i, s in enumerate(sentences)]
    chosen = sorted(i for _, i in sorted(scored, reverse=True)[:max_sentences])
    return [sentences[i] for i in chosen]


def key_phrases(text: str, top: int = 10) -> list[str]:
    """The phrases (one to three content words) that carry the text, most telling first.

    A phrase scores by how often it occurs times how frequent its words are overall; a phrase
    already covered by a better one is skipped, so "solar power" does not also yield "solar".
    """
    counts: Counter[tuple[str, ...]] = Counter()
    for run in _content_runs(text):
        for size in range(1, 4):
            for start in range(len(run) - size + 1):
                counts[tuple(run[start : start + size])] += 1
    word_freq = {g[0]: c for g, c in counts.items() if len(g) == 1}

    def score(gram: tuple[str, ...]) -> float:
        # A lone word counts half: "solar power" says more than "solar" when both recur.
        weight = 0.5 if len(gram) == 1 else 1.0
        return counts[gram] * sum(word_freq[w] for w in gram) * weight

    chosen: list[tuple[str, ...]] = []
    for gram in sorted(counts, key=lambda g: (-score(g), g)):
        if not any(_overlaps(gram, kept) for kept in chosen):
            chosen.append(gram)
        if len(chosen) == top:
            break
    return [" ".join(g) for g in chosen]


def analyse(text: str, analysis: str = "summary", max_sentences: int = 5) -> dict:
    """The offline result for a summary or key points: Markdown text plus the numbers."""
    language = detect_language(text)
    if analysis == "key_points":
        points = key_phrases(text, top=10)
        body = "\n".join(f"- {p}" for p in points) or "_No key phrases found._"
        heading = "Key phrases"
    else:
        points = summarize(text, max_sentences)
        body = "\n".join(f"> {s}\n>" for s in points).rstrip(">\n") or "_The text is empty._"
        heading = "Summary (extracted sentences)"
    return {
        "analysis": analysis,
        "provider": "offline",
        "label": LABEL,
        "text": f"### {heading}\n\n{body}\n\n_{LABEL}_",
        "items": points,
        "language": {
            "code": language.code,
            "name": language.name,
            "confidence": language.confidence,
        },
        "stats": statistics(text),
    }


def _content_frequencies(text: str) -> dict[str, float]:
    counts = Counter(w for w in words(text) if w not in ALL_STOPWORDS and len(w) > 2)
    top = max(counts.values(), default=1)
    return {w: c / top for w, c in counts.items()}


def _sentence_score(sentence: str, index: int, freq: dict[str, float]) -> float:
    tokens = [w for w in words(sentence) if w in freq]
    if not tokens:
        return 0.0
    lead = 0.15 if index == 0 else 0.05 if index < 3 else 0.0
    return sum(freq[w] for w in tokens) / math.sqrt(len(words(sentence))) + lead


def _content_runs(text: str) -> list[list[str]]:
    """Runs of neighbouring content words, broken at punctuation and at stopwords."""
    runs: list[list[str]] = []
    for fragment in _PHRASE_BREAK.split(text):
        current: list[str] = []
        for word in [*words(fragment), ""]:
            if word and word not in ALL_STOPWORDS and len(word) > 1:
                current.append(word)
            elif current:
                runs.append(current)
                current = []
    return runs


def _overlaps(gram: tuple[str, ...], kept: tuple[str, ...]) -> bool:
    small, large = sorted((gram, kept), key=len)
    return any(large[i : i + len(small)] == small for i in range(len(large) - len(small) + 1))
