"""Saving images found inside documents: real formats, unique names, no duplicates."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterable
from typing import Any

from PIL import Image

from app import filetypes
from app.errors import PermanentError
from app.office.guard import pillow_limits
from app.office.outputs import OutputFolder

# Formats Office stores that the byte sniffer does not know, by content type.
_CONTENT_TYPE_FORMATS = {
    "image/x-emf": "emf",
    "image/emf": "emf",
    "image/x-wmf": "wmf",
    "image/wmf": "wmf",
    "image/svg+xml": "svg",
    "image/vnd.ms-photo": "jxr",
}
_EXTENSIONS = {"jpeg": "jpg", "tiff": "tif"}


def real_format(blob: bytes, content_type: str = "") -> str:
    """The image format from its bytes; the declared content type only as a fallback."""
    kind = filetypes.sniff_bytes(blob[:64])
    if kind in filetypes.IMAGE_TYPES:
        return kind
    if blob[:4] == b"\x01\x00\x00\x00" and blob[40:44] == b" EMF":
        return "emf"
    if blob[:4] == b"\xd7\xcd\xc6\x9a":
        return "wmf"
    return _CONTENT_TYPE_FORMATS.get(content_type, content_type.rpartition("/")[2] or "bin")


def save_images(items: Iterable[tuple[bytes, str, str]], out: OutputFolder) -> dict[str, Any]:
    """Write each distinct (blob, content type, name prefix) as <prefix>-NNN.<real extension>."""
    seen: set[str] = set()
    images = []
    for blob, content_type, prefix in items:
        digest = hashlib.sha1(blob).hexdigest()
        if digest in seen:
            continue
        seen.add(digest)
        fmt = real_format(blob, content_type)
        name = out.write_bytes(f"{prefix}-{len(images) + 1:03d}.{_EXTENSIONS.get(fmt, fmt)}", blob)
        images.append({"name": name, "format": fmt, "bytes": len(blob), **_dimensions(blob, fmt)})
    return {"count": len(images), "images": images}


def _dimensions(blob: bytes, fmt: str) -> dict[str, int]:
    """Width and height from the image header, when Pillow can read it safely."""
    if fmt not in filetypes.IMAGE_TYPES:
        return {}
    try:
        with pillow_limits(), Image.open(io.BytesIO(blob)) as image:
            width, height = image.size
    except (OSError, ValueError, SyntaxError, PermanentError):
        return {}
    return {"width": width, "height": height}
