"""Every file is checked before a parser sees it; hostile input gets a sentence, fast."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from app.errors import PermanentError
from app.office import guard
from tests.unit.office import hostile


def refusal(path: Path, expected: str | None = None) -> str:
    with pytest.raises(PermanentError) as caught:
        guard.check_file(path, expected)
    return str(caught.value)


def test_good_files_pass_and_their_family_comes_from_the_bytes(files: dict[str, Path]) -> None:
    assert guard.check_file(files["docx"], "docx") == "docx"
    assert guard.check_file(files["xlsx"]) == "xlsx"
    assert guard.check_file(files["pptx"]) == "pptx"
    assert guard.check_file(files["pdf"]) == "pdf"
    assert guard.check_file(files["jpeg"]) == "image"


def test_zip_bomb_is_refused_by_its_unpacked_size_without_unpacking_it(zip_bomb: Path) -> None:
    started = time.perf_counter()
    message = refusal(zip_bomb, "docx")
    assert "expands to more than 200 MB when unpacked" in message
    assert time.perf_counter() - started < 2


def test_part_compressed_like_a_bomb_is_refused(tmp_path: Path) -> None:
    assert "compressed more than 200:1" in refusal(hostile.ratio_bomb(tmp_path / "r.docx"))


def test_zip_whose_headers_lie_about_sizes_is_refused(tmp_path: Path) -> None:
    message = refusal(hostile.lying_sizes(tmp_path / "liar.docx"), "docx")
    assert "damaged or incomplete" in message


@pytest.mark.parametrize("make", [hostile.billion_laughs, hostile.xxe])
def test_xml_with_entities_is_refused_before_parsing(make, tmp_path: Path) -> None:
    message = refusal(make(tmp_path / "evil.docx"), "docx")
    assert "entity or DTD declarations" in message
    assert "root:" not in message  # nothing of /etc/passwd leaks into the sentence


def test_truncated_upload_is_damaged(files: dict[str, Path], tmp_path: Path) -> None:
    message = refusal(hostile.truncated(files["docx"], tmp_path / "cut.docx"), "docx")
    assert message.startswith("This file is not a valid Word document: it is damaged or incomplete")


def test_wrong_extension_says_what_the_file_really_is(
    files: dict[str, Path], tmp_path: Path
) -> None:
    fake = tmp_path / "invoice.pdf"
    fake.write_bytes(files["jpeg"].read_bytes())
    assert refusal(fake, "pdf") == "This file is not a valid PDF document: it is a JPEG image."
    assert refusal(files["pdf"], "docx") == (
        "This file is not a valid Word document: it is a PDF document."
    )


def test_empty_and_random_files(tmp_path: Path) -> None:
    assert refusal(hostile.empty(tmp_path / "e.xlsx"), "xlsx") == "This file is empty."
    assert refusal(hostile.random_bytes(tmp_path / "r.docx"), "docx") == (
        "This file is not a valid Word document."
    )
    assert "not supported" in refusal(hostile.random_bytes(tmp_path / "r.bin"))


def test_pixel_bomb_is_refused_from_its_header(tmp_path: Path) -> None:
    message = refusal(hostile.pixel_bomb(tmp_path / "bomb.png"), "image")
    assert "too many to open safely" in message


def test_pixel_count_just_over_the_limit_is_refused_too(tmp_path: Path) -> None:
    # Pillow only warns between 1x and 2x its limit; the guard treats the warning as an error.
    message = refusal(hostile.pixel_bomb(tmp_path / "big.png", 10_000, 10_000), "image")
    assert "too many to open safely" in message


def test_encrypted_and_legacy_office_files_get_clear_messages(tmp_path: Path) -> None:
    locked = refusal(hostile.encrypted_office(tmp_path / "locked.docx"), "docx")
    assert locked.startswith("This Word document is protected with a password")
    legacy = refusal(hostile.legacy_word(tmp_path / "old.docx"), "docx")
    assert legacy.startswith("This is an old-format .doc file")


def test_size_cap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from app.settings import get_settings

    monkeypatch.setattr(get_settings(), "max_upload_mb", 1)
    big = tmp_path / "big.pdf"
    big.write_bytes(b"%PDF-1.4\n" + bytes(2 * 1024 * 1024))
    assert refusal(big) == "This file is 2 MB, over the 1 MB limit."
