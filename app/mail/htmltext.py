"""Plain text from HTML, for the text/plain part of a message written only in HTML."""

from __future__ import annotations

import re
from html.parser import HTMLParser

_BLOCKS = frozenset({
    "p", "div", "section", "article", "header", "footer", "main", "aside", "nav",
    "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "table", "tr", "blockquote",
    "pre", "hr", "address", "figure", "form", "fieldset", "dl", "dt", "dd",
})
_SKIPPED = frozenset({"script", "style", "head", "title", "template", "noscript"})
_SPACES = re.compile(r"[ \t\r\f\v]+")
_BLANK_LINES = re.compile(r"\n{3,}")


class _TextCollector(HTMLParser):
    """Collects visible text, keeping paragraphs, line breaks, list items and link targets."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self._skip_depth = 0
        self._pre_depth = 0
        self._links: list[tuple[str | None, int]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED:
            self._skip_depth += 1
        elif tag == "br":
            self.chunks.append("\n")
        elif tag == "li":
            self.chunks.append("\n- ")
        elif tag in ("td", "th"):
            self.chunks.append("\t")
        elif tag == "a":
            self._links.append((dict(attrs).get("href"), len(self.chunks)))
        elif tag == "img":
            alt = dict(attrs).get("alt")
            if alt:
                self.chunks.append(alt)
        if tag in _BLOCKS:
            self.chunks.append("\n\n")
        if tag == "pre":
            self._pre_depth += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED:
            self._skip_depth = max(0, self._skip_depth - 1)
        elif tag == "a" and self._links:
            href, start = self._links.pop()
            shown = "".join(self.chunks[start:]).strip()
            # A link's text alone loses where it goes; mail clients show text parts verbatim.
            if href and href.startswith(("http://", "https://", "mailto:")):
                target = href.removeprefix("mailto:")
                if target != shown:
                    self.chunks.append(f" ({target})")
        if tag == "pre":
            self._pre_depth = max(0, self._pre_depth - 1)
        if tag in _BLOCKS:
            self.chunks.append("\n\n")

    def handle_data(self, data: str) -> None:
        if self._skip_depth:
            return
        if not self._pre_depth:
            data = _SPACES.sub(" ", data.replace("\n", " "))
            if self._at_line_start():
                data = data.lstrip(" ")
        self.chunks.append(data)

    def _at_line_start(self) -> bool:
        for chunk in reversed(self.chunks):
            if chunk:
                return chunk.endswith("\n")
        return True


def html_to_text(html: str) -> str:
    """Readable plain text for `html`: paragraphs kept, tags, scripts and styles dropped."""
    parser = _TextCollector()
    parser.feed(html or "")
    parser.close()
    text = "".join(parser.chunks)
    lines = [line.rstrip(" \t") for line in text.split("\n")]
    text = _BLANK_LINES.sub("\n\n", "\n".join(lines))
    return text.strip() + "\n" if text.strip() else ""
