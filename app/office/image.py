"""Images: information and EXIF, thumbnails, resizing, format conversion, metadata removal.

HEIC/HEIF photos (through pillow-heif) and AVIF are read like any other image; what is made
from a HEIC photo is a JPEG, since browsers and most programs cannot show HEIC.

Every open runs with Pillow's decompression-bomb limit on (see guard.pillow_limits). EXIF
orientation is honoured, so a photo taken sideways comes out upright. JPEG thumbnails use
draft mode: the decoder scales down while decoding, several times faster than a full decode.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from PIL import ExifTags, Image, ImageColor, ImageOps, UnidentifiedImageError

from app.errors import PermanentError
from app.office import heif
from app.office.guard import pillow_limits
from app.office.outputs import OutputFolder, Progress, no_progress, stem_of

OPERATIONS: dict[str, str] = {
    "info": "Read size, format and EXIF",
    "thumbnail": "Make a thumbnail",
    "resize": "Resize",
    "convert": "Convert to PNG, JPEG or WebP",
    "strip_metadata": "Remove EXIF and other metadata",
    "images_to_pdf": "Put all images into one PDF, in order",
}
DEFAULT_OPERATIONS = ("info", "thumbnail")
MULTI_FILE_OPERATIONS = ("images_to_pdf",)
TARGET_FORMATS = {"png": "PNG", "jpeg": "JPEG", "jpg": "JPEG", "webp": "WEBP"}
RESIZE_MODES = ("fit", "fill", "exact")

DEFAULT_THUMBNAIL_SIZE = 256
MAX_SIDE = 10_000
JPEG_QUALITY = 90
MAX_EXIF_VALUE = 200
ORIENTATION = 0x0112
_ORIENTATIONS = {
    1: "normal",
    2: "mirrored",
    3: "rotated 180°",
    4: "mirrored and rotated 180°",
    5: "mirrored and rotated 90° counter-clockwise",
    6: "rotated 90° clockwise",
    7: "mirrored and rotated 90° clockwise",
    8: "rotated 90° counter-clockwise",
}
_SAVE_AS = {
    "JPEG": "JPEG",
    "PNG": "PNG",
    "WEBP": "WEBP",
    "GIF": "GIF",
    "TIFF": "TIFF",
    "BMP": "BMP",
    "HEIF": "JPEG",
    "AVIF": "AVIF",
}
_EXTENSIONS = {
    "JPEG": "jpg",
    "PNG": "png",
    "WEBP": "webp",
    "GIF": "gif",
    "TIFF": "tif",
    "BMP": "bmp",
    "AVIF": "avif",
}
_ANIMATED_OK = {"PNG", "WEBP", "GIF"}
# Image properties that are not metadata about the person or device; everything else goes.
_KEEP_INFO = ("icc_profile", "transparency", "duration", "loop", "background", "dpi", "gamma")


@contextmanager
def open_image(path: Path) -> Iterator[Image.Image]:
    """The image, opened lazily under the pixel limit; a broken file becomes a sentence."""
    heif.register()
    with pillow_limits():
        try:
            image = Image.open(path)
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
            raise PermanentError("This file is not a valid image, or it is damaged.") from None
        try:
            yield image
        except (OSError, SyntaxError, ValueError) as exc:  # raised while decoding the pixels
            raise PermanentError(f"This image is damaged or incomplete ({exc}).") from None
        finally:
            image.close()


def process(
    path: Path,
    operations: list[str],
    out: OutputFolder,
    options: dict[str, Any] | None = None,
    progress: Progress = no_progress,
) -> dict[str, Any]:
    """Run each operation on one image; returns {operation: summary}."""
    options = options or {}
    actions = {
        "info": lambda: info(path),
        "thumbnail": lambda: thumbnail(
            path, out, int(options.get("thumbnail_size") or DEFAULT_THUMBNAIL_SIZE)
        ),
        "resize": lambda: resize(
            path, out, options.get("width"), options.get("height"), options.get("mode") or "fit"
        ),
        "convert": lambda: convert(
            path,
            out,
            options.get("format") or "png",
            options.get("background") or "white",
            int(options.get("quality") or JPEG_QUALITY),
        ),
        "strip_metadata": lambda: strip_metadata(path, out),
    }
    results = {}
    for done, operation in enumerate(operations):
        progress(done, len(operations), OPERATIONS[operation])
        results[operation] = actions[operation]()
    return results


# info ---------------------------------------------------------------------------------------


def info(path: Path) -> dict[str, Any]:
    """Format, size, mode, frames, colour profile and EXIF including orientation."""
    with open_image(path) as image:
        exif = image.getexif()
        orientation = exif.get(ORIENTATION)
        tags = exif_tags(exif)
        summary = {
            "format": image.format,
            "width": image.width,
            "height": image.height,
            "mode": image.mode,
            "frames": getattr(image, "n_frames", 1),
            "animated": bool(getattr(image, "is_animated", False)),
            "has_alpha": _has_alpha(image),
            "icc_profile": bool(image.info.get("icc_profile")),
            "dpi": _dpi(image),
            "orientation": orientation,
            "orientation_label": _ORIENTATIONS.get(orientation) if orientation else None,
            "exif": tags,
        }
        if orientation in (5, 6, 7, 8):
            summary["displayed_size"] = [image.height, image.width]
    summary["bytes"] = path.stat().st_size
    return summary


def exif_tags(exif: Image.Exif) -> dict[str, Any]:
    """EXIF as readable names and short values, with the Exif and GPS sub-directories."""
    tags = {_tag_name(ExifTags.TAGS, key): _exif_value(value) for key, value in exif.items()}
    for ifd, names in (
        (ExifTags.IFD.Exif, ExifTags.TAGS),
        (ExifTags.IFD.GPSInfo, ExifTags.GPSTAGS),
    ):
        try:
            directory = exif.get_ifd(ifd)
        except (KeyError, ValueError, TypeError):
            continue
        for key, value in directory.items():
            tags[_tag_name(names, key)] = _exif_value(value)
    tags.pop("ExifOffset", None)
    tags.pop("GPSInfo", None)
    return tags


def _tag_name(names: dict[int, str], key: int) -> str:
    return names.get(key, f"Tag{key:#06x}")


def _exif_value(value: Any) -> Any:
    if isinstance(value, bytes):
        text = value.rstrip(b"\x00")
        if text.isascii() and text.decode("ascii").isprintable():
            return text.decode("ascii")[:MAX_EXIF_VALUE]
        return f"<{len(value)} bytes>"
    if isinstance(value, tuple):
        return [_exif_value(v) for v in value[:16]]
    if isinstance(value, (int, str, bool)) or value is None:
        return value[:MAX_EXIF_VALUE] if isinstance(value, str) else value
    try:
        return round(float(value), 6)
    except (TypeError, ValueError, ZeroDivisionError):
        return str(value)[:MAX_EXIF_VALUE]


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in image.info


def _dpi(image: Image.Image) -> list[float] | None:
    dpi = image.info.get("dpi")
    return [round(float(v), 2) for v in dpi] if dpi else None


# thumbnail and resize ---------------------------------------------------------------------


def thumbnail(path: Path, out: OutputFolder, size: int = DEFAULT_THUMBNAIL_SIZE) -> dict[str, Any]:
    """The image shrunk to fit a size×size box, upright, aspect ratio kept."""
    size = _side(size, "thumbnail size")
    with open_image(path) as image:
        source_format = image.format
        if source_format == "JPEG":
            image.draft("RGB", (size, size))
        image.thumbnail((size, size))
        upright = ImageOps.exif_transpose(image)
    save_format = "JPEG" if source_format in ("JPEG", "HEIF") else "PNG"
    target = out.path(f"{stem_of(path)}-thumb.{_EXTENSIONS[save_format]}")
    save_image(upright, target, save_format)
    return {"name": target.name, "width": upright.width, "height": upright.height}


def resize(
    path: Path,
    out: OutputFolder,
    width: Any = None,
    height: Any = None,
    mode: str = "fit",
) -> dict[str, Any]:
    """Resize to width×height: 'fit' inside the box, 'fill' it and crop, or 'exact' (stretch)."""
    if mode not in RESIZE_MODES:
        raise PermanentError(f"Resize mode must be fit, fill or exact, not '{mode}'.")
    if not width and not height:
        raise PermanentError("Give a width, a height or both to resize to.")
    with open_image(path) as image:
        upright = ImageOps.exif_transpose(image)
        save_format = _SAVE_AS.get(image.format or "", "PNG")
    box = _box(upright.size, width, height, mode)
    if mode == "fit":
        resized = ImageOps.contain(upright, box)
    elif mode == "fill":
        resized = ImageOps.fit(upright, box)
    else:
        resized = upright.resize(box)
    target = out.path(
        f"{stem_of(path)}-{resized.width}x{resized.height}.{_EXTENSIONS[save_format]}"
    )
    notes = save_image(resized, target, save_format)
    return {
        "name": target.name,
        "width": resized.width,
        "height": resized.height,
        "mode": mode,
        "notes": notes,
    }


def _box(size: tuple[int, int], width: Any, height: Any, mode: str) -> tuple[int, int]:
    """The target box; a missing side follows the aspect ratio."""
    source_w, source_h = size
    w = _side(width, "width") if width else None
    h = _side(height, "height") if height else None
    if w is None:
        w = max(1, round(source_w * h / source_h))
    if h is None:
        h = max(1, round(source_h * w / source_w))
    if w * h > (Image.MAX_IMAGE_PIXELS or 89_478_485):
        raise PermanentError(f"{w}×{h} pixels is larger than images Nexus will make.")
    return w, h


def _side(value: Any, what: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise PermanentError(f"The {what} must be a whole number of pixels.") from None
    if not 1 <= number <= MAX_SIDE:
        raise PermanentError(f"The {what} must be between 1 and {MAX_SIDE:,} pixels.")
    return number


# convert and strip ------------------------------------------------------------------------


def convert(
    path: Path,
    out: OutputFolder,
    target: str = "png",
    background: str = "white",
    quality: int = JPEG_QUALITY,
) -> dict[str, Any]:
    """The image as PNG, JPEG or WebP; transparency is flattened onto `background` for JPEG."""
    save_format = TARGET_FORMATS.get(str(target).lower())
    if save_format is None:
        raise PermanentError(f"Images can be converted to PNG, JPEG or WebP, not '{target}'.")
    with open_image(path) as image:
        animated = is_animation(image)
        output = out.path(f"{stem_of(path)}.{_EXTENSIONS[save_format]}")
        keep_animation = animated and save_format in _ANIMATED_OK and animation_fits(image)
        if keep_animation:
            image.seek(0)
            image.save(output, save_format, save_all=True)
            notes: list[str] = []
        else:
            notes = save_image(
                ImageOps.exif_transpose(image), output, save_format, background, quality
            )
            if animated:
                notes.append(_first_frame_note(image, save_format))
    return {
        "name": output.name,
        "format": save_format.lower(),
        "bytes": output.stat().st_size,
        "animated": keep_animation,
        "notes": notes,
    }


def is_animation(image: Image.Image) -> bool:
    return bool(getattr(image, "is_animated", False))


def animation_fits(image: Image.Image) -> bool:
    """Whether every frame together stays within the pixel limit one image may have.

    Re-encoding an animation decodes every frame; thousands of large frames would be a
    decompression bomb spread over time.
    """
    limit = Image.MAX_IMAGE_PIXELS or 89_478_485
    return getattr(image, "n_frames", 1) * image.width * image.height <= limit


def _first_frame_note(image: Image.Image, save_format: str) -> str:
    if save_format not in _ANIMATED_OK:
        return f"{save_format} cannot hold an animation: only the first frame was kept."
    return (
        f"The animation has too many pixels over its {image.n_frames} frames to convert "
        "safely: only the first frame was kept."
    )


def save_image(
    image: Image.Image,
    target: Path,
    save_format: str,
    background: str = "white",
    quality: int = JPEG_QUALITY,
) -> list[str]:
    """Save in `save_format`, converting the mode as that format needs; returns notes."""
    notes: list[str] = []
    params: dict[str, Any] = {}
    icc = image.info.get("icc_profile")
    if icc and save_format in ("JPEG", "PNG", "WEBP", "TIFF"):
        params["icc_profile"] = icc
    if save_format == "JPEG":
        if _has_alpha(image):
            image = flatten(image, background)
            notes.append(
                f"JPEG has no transparency: transparent areas were filled with {background}."
            )
        elif image.mode not in ("RGB", "L", "CMYK"):
            image = image.convert("RGB")
        # Derived images carry no comment: Pillow would otherwise copy the source's.
        params.update(quality=max(1, min(int(quality), 100)), comment=b"")
    elif save_format == "WEBP":
        if image.mode not in ("RGB", "RGBA"):
            image = image.convert("RGBA" if _has_alpha(image) else "RGB")
        params.update(quality=max(1, min(int(quality), 100)))
    elif save_format in ("PNG", "GIF", "BMP") and image.mode == "CMYK":
        image = image.convert("RGB")
    image.save(target, save_format, **params)
    return notes


def flatten(image: Image.Image, background: str = "white") -> Image.Image:
    """An RGB image with transparent pixels composited onto a solid colour."""
    try:
        colour = ImageColor.getrgb(background)
    except ValueError:
        raise PermanentError(f"'{background}' is not a colour name or #rrggbb value.") from None
    rgba = image.convert("RGBA")
    canvas = Image.new("RGBA", rgba.size, (*colour[:3], 255))
    canvas.alpha_composite(rgba)
    return canvas.convert("RGB")


def strip_metadata(path: Path, out: OutputFolder) -> dict[str, Any]:
    """A copy without EXIF (including GPS), XMP, comments or text chunks; colour profile kept.

    The pixels are turned upright first, since the orientation tag goes with the EXIF.
    """
    with open_image(path) as image:
        removed = _metadata_present(image)
        save_format = _SAVE_AS.get(image.format or "", "PNG")
        target = out.path(f"{stem_of(path)}-clean.{_EXTENSIONS[save_format]}")
        icc = image.info.get("icc_profile")
        orientation = image.getexif().get(ORIENTATION, 1)
        params: dict[str, Any] = {"icc_profile": icc} if icc else {}
        if is_animation(image) and save_format in _ANIMATED_OK and animation_fits(image):
            _clear_info(image)
            image.save(target, save_format, save_all=True, **params)
        elif image.format == "JPEG" and orientation in (1, None):
            _clear_info(image)
            # Re-use the original quantisation tables: no visible loss from re-encoding.
            image.save(target, "JPEG", quality="keep", subsampling="keep", **params)
        else:
            upright = ImageOps.exif_transpose(image)
            _clear_info(upright)
            save_image(upright, target, save_format, quality=95)
    return {
        "name": target.name,
        "removed": removed,
        "kept": ["ICC colour profile"] if icc else [],
        "bytes_before": path.stat().st_size,
        "bytes_after": target.stat().st_size,
    }


def _metadata_present(image: Image.Image) -> list[str]:
    found = []
    exif = image.getexif()
    if len(exif):
        found.append(f"EXIF ({len(exif_tags(exif))} tags)")
        try:
            if exif.get_ifd(ExifTags.IFD.GPSInfo):
                found.append("GPS location")
        except (KeyError, ValueError, TypeError):
            pass
    if image.info.get("xmp") or image.info.get("XML:com.adobe.xmp"):
        found.append("XMP")
    if image.info.get("comment"):
        found.append("comment")
    text = getattr(image, "text", None) if image.format == "PNG" else None
    if text:
        found.append(f"PNG text ({', '.join(list(text)[:5])})")
    if image.info.get("photoshop") or image.info.get("iptc"):
        found.append("Photoshop/IPTC")
    return found


def _clear_info(image: Image.Image) -> None:
    """Drop what Pillow would otherwise write back: EXIF, XMP, comments, PNG text."""
    for key in list(image.info):
        if key not in _KEEP_INFO:
            del image.info[key]
    if hasattr(image, "_exif"):
        image._exif = None
