"""Images: info and EXIF, upright thumbnails, resizing, conversion and metadata removal."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from app.errors import PermanentError
from app.office import image
from app.office.outputs import OutputFolder


def opened(out: OutputFolder, name: str) -> Image.Image:
    picture = Image.open(out.folder / name)
    picture.load()
    return picture


def test_info_reads_exif_and_orientation(files: dict[str, Path], out: OutputFolder) -> None:
    info = image.process(files["jpeg"], ["info"], out)["info"]
    assert (info["format"], info["width"], info["height"], info["mode"]) == (
        "JPEG",
        400,
        200,
        "RGB",
    )
    assert info["orientation"] == 6 and info["orientation_label"] == "rotated 90° clockwise"
    assert info["displayed_size"] == [200, 400]
    assert info["exif"]["Make"] == "Canon"
    assert info["exif"]["GPSLatitude"] == [52.0, 22.0, 1.5]


def test_thumbnail_is_upright_and_keeps_aspect_ratio(
    files: dict[str, Path], out: OutputFolder
) -> None:
    result = image.process(files["jpeg"], ["thumbnail"], out, {"thumbnail_size": 100})["thumbnail"]
    assert (result["width"], result["height"]) == (50, 100)  # 400×200 shot sideways
    thumb = opened(out, result["name"])
    assert thumb.format == "JPEG" and thumb.size == (50, 100)
    # The blue strip was on the left of the stored pixels; turned clockwise it is on top.
    top, bottom = thumb.getpixel((25, 5)), thumb.getpixel((25, 95))
    assert top[2] > 200 and bottom[0] > 200


@pytest.mark.parametrize(
    ("mode", "size", "expected"),
    [
        ("fit", (100, 100), (50, 100)),
        ("fill", (100, 100), (100, 100)),
        ("exact", (120, 30), (120, 30)),
    ],
)
def test_resize_modes(files: dict[str, Path], out: OutputFolder, mode: str, size, expected) -> None:
    options = {"width": size[0], "height": size[1], "mode": mode}
    result = image.process(files["jpeg"], ["resize"], out, options)["resize"]
    assert opened(out, result["name"]).size == expected


def test_convert_to_jpeg_flattens_transparency(files: dict[str, Path], out: OutputFolder) -> None:
    result = image.process(files["png"], ["convert"], out, {"format": "jpeg"})["convert"]
    converted = opened(out, result["name"])
    assert converted.format == "JPEG" and converted.mode == "RGB"
    assert converted.getpixel((10, 10)) == (255, 255, 255)
    assert result["notes"] == [
        "JPEG has no transparency: transparent areas were filled with white."
    ]


@pytest.mark.parametrize("target", ["png", "webp"])
def test_convert_keeps_alpha_where_the_format_can(
    files: dict[str, Path], out: OutputFolder, target: str
) -> None:
    result = image.process(files["png"], ["convert"], out, {"format": target})["convert"]
    converted = opened(out, result["name"])
    assert converted.format == target.upper() and converted.mode == "RGBA"


def test_strip_metadata_removes_exif_gps_and_comment_and_keeps_the_picture_upright(
    files: dict[str, Path], out: OutputFolder
) -> None:
    result = image.process(files["jpeg"], ["strip_metadata"], out)["strip_metadata"]
    assert result["removed"] == ["EXIF (5 tags)", "GPS location", "comment"]
    clean = opened(out, result["name"])
    assert len(clean.getexif()) == 0 and "comment" not in clean.info
    assert clean.size == (200, 400)


def test_bad_options_are_sentences(files: dict[str, Path], out: OutputFolder) -> None:
    with pytest.raises(PermanentError, match="PNG, JPEG or WebP"):
        image.process(files["png"], ["convert"], out, {"format": "bmp"})
    with pytest.raises(PermanentError, match="between 1 and 10,000"):
        image.process(files["png"], ["resize"], out, {"width": 0, "height": 99_999})


def test_truncated_image_is_a_sentence_not_a_crash(tmp_path: Path, out: OutputFolder) -> None:
    from tests.unit.office import hostile

    noisy = tmp_path / "noise.jpg"
    Image.effect_noise((400, 300), 50).convert("RGB").save(noisy, quality=90)
    cut = hostile.truncated(noisy, tmp_path / "cut.jpg", 0.5)
    with pytest.raises(PermanentError, match="damaged or incomplete"):
        image.process(cut, ["thumbnail"], out)


def test_animations_convert_whole_and_jpeg_keeps_the_first_frame(
    tmp_path: Path, out: OutputFolder
) -> None:
    frames = [Image.new("RGB", (60, 40), colour) for colour in ("red", "green", "blue")]
    gif = tmp_path / "spin.gif"
    frames[0].save(gif, save_all=True, append_images=frames[1:], duration=80, loop=0)
    webp = image.process(gif, ["convert"], out, {"format": "webp"})["convert"]
    assert webp["animated"] is True
    assert opened(out, webp["name"]).n_frames == 3
    jpeg = image.process(gif, ["convert"], out, {"format": "jpeg"})["convert"]
    assert jpeg["animated"] is False
    assert jpeg["notes"] == ["JPEG cannot hold an animation: only the first frame was kept."]


def test_an_animation_too_big_over_all_frames_keeps_one_frame(
    tmp_path: Path, out: OutputFolder, monkeypatch: pytest.MonkeyPatch
) -> None:
    frames = [Image.new("RGB", (60, 40), colour) for colour in ("red", "green", "blue")]
    gif = tmp_path / "spin.gif"
    frames[0].save(gif, save_all=True, append_images=frames[1:], duration=80, loop=0)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 60 * 40 * 2)  # room for two frames only
    result = image.process(gif, ["convert"], out, {"format": "png"})["convert"]
    assert result["animated"] is False
    assert "too many pixels over its 3 frames" in result["notes"][0]


# HEIC and AVIF ----------------------------------------------------------------------------


def test_a_heic_photo_is_thumbnailed_upright_as_a_jpeg(tmp_path: Path, out: OutputFolder) -> None:
    from app.office import guard
    from tests.unit.office import samples

    photo = samples.heic_photo(tmp_path / "IMG_0001.HEIC")
    assert guard.check_file(photo, None, photo.name) == "image"
    result = image.process(photo, ["thumbnail"], out, {"thumbnail_size": 100})["thumbnail"]
    assert (result["width"], result["height"]) == (50, 100)
    thumb = opened(out, result["name"])
    assert thumb.format == "JPEG" and result["name"] == "IMG_0001-thumb.jpg"
    top, bottom = thumb.getpixel((25, 5)), thumb.getpixel((25, 95))
    assert top[2] > 200 and top[0] < 60  # the blue edge is on top: upright
    assert bottom[0] > 200 and bottom[2] < 60


def test_heic_info_resize_convert_and_strip(tmp_path: Path, out: OutputFolder) -> None:
    from tests.unit.office import samples

    photo = samples.heic_photo(tmp_path / "beach.heic")
    results = image.process(
        photo, ["info", "resize", "convert", "strip_metadata"], out,
        {"width": 100, "format": "jpeg"},
    )
    info = results["info"]
    assert (info["format"], info["width"], info["height"]) == ("HEIF", 200, 400)
    assert info["exif"]["Make"] == "Apple"
    assert (results["resize"]["width"], results["resize"]["height"]) == (100, 200)
    assert results["resize"]["name"].endswith(".jpg")
    converted = opened(out, results["convert"]["name"])
    assert converted.format == "JPEG" and converted.size == (200, 400)
    clean = opened(out, results["strip_metadata"]["name"])
    assert clean.size == (200, 400) and not clean.getexif()


def test_avif_is_read_and_converted(tmp_path: Path, out: OutputFolder) -> None:
    from app.office import guard
    from tests.unit.office import samples

    picture = samples.avif_image(tmp_path / "banner.avif")
    assert guard.check_file(picture, "image") == "image"
    results = image.process(picture, ["info", "convert"], out, {"format": "png"})
    assert (results["info"]["format"], results["info"]["width"]) == ("AVIF", 300)
    assert opened(out, results["convert"]["name"]).size == (300, 120)


def test_a_huge_heic_is_refused_by_the_same_pixel_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.office import guard
    from tests.unit.office import samples

    photo = samples.heic_photo(tmp_path / "big.heic")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10_000)  # 200×400 is 8× this
    with pytest.raises(PermanentError, match="too many to open safely"):
        guard.check_file(photo, "image")
