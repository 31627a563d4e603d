"""Untrusted email HTML made safe to show inside the app's own page.

Inbox messages come from anyone. Shown as they are, their `<style>` restyles the app, a `<form>`
can phish for a password, and a remote image tells the sender the message was opened (and from
where). Only formatting tags and attributes survive; links open in a new context without a
referrer; images keep only inline `data:image/...` sources, never a URL the browser would fetch.
"""

from __future__ import annotations

import nh3

# Formatting only: no style, script, form, input, iframe, object or link tags, no style attribute.
ALLOWED_TAGS = frozenset(nh3.ALLOWED_TAGS - {"map", "area"})
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "width", "height"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan"},
    "*": {"title", "lang", "dir"},
}
LINK_SCHEMES = ("http:", "https:", "mailto:")
INLINE_IMAGE = "data:image/"


def sanitise_html(html: str) -> str:
    """`html` with only safe tags and attributes, no remote images and no active content."""
    return nh3.clean(
        html,
        tags=set(ALLOWED_TAGS),
        attributes={tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items()},
        attribute_filter=_keep_attribute,
        url_schemes={"http", "https", "mailto", "data"},
        link_rel="noopener noreferrer nofollow",
    )


def _keep_attribute(tag: str, name: str, value: str) -> str | None:
    lowered = value.strip().lower()
    if name == "src":
        # A remote (or relative) image is a request the sender can watch: a read receipt.
        return value if lowered.startswith(INLINE_IMAGE) else None
    if name == "href":
        return value if lowered.startswith(LINK_SCHEMES) else None
    return value
