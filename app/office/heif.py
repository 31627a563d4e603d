"""HEIC/HEIF photos (iPhones save them) through pillow-heif; AVIF is read by Pillow itself.

`register()` teaches Pillow to open HEIF once per process. libheif applies the container's
rotation while decoding and pillow-heif then resets the EXIF orientation to 1, so a photo is
upright whichever way it was taken and is never turned twice.
"""

from __future__ import annotations

from functools import cache


@cache
def register() -> bool:
    """Make Image.open read HEIC/HEIF; False when pillow-heif is not installed."""
    try:
        from pillow_heif import register_heif_opener  # optional at import
    except ImportError:
        return False
    register_heif_opener()
    return True
