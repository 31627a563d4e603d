"""PDF: text per page, scanned pages, properties, thumbnails, split, rotate, merge, passwords."""

from __future__ import annotations

from pathlib import Path

import pypdf
import pytest
from PIL import Image

from app.errors import PermanentError
from app.office import pdf
from app.office.outputs import OutputFolder
from tests.unit.office import hostile


def test_text_per_page_and_scanned_pages_are_reported(
    files: dict[str, Path], out: OutputFolder
) -> None:
    summary = pdf.process(files["pdf"], ["extract_text"], out)["extract_text"]
    pages = (out.folder / summary["text_file"]).read_text().split("\f")
    assert len(pages) == 4
    assert pages[1].startswith("Page 2 of Sample")
    assert summary["pages_with_text"] == 3
    assert summary["scanned_pages"] == [4]
    assert summary["text_layer"] == "partial"
    assert summary["warnings"] == [
        "1 page(s) have no text layer and look scanned (page 4); their text could not be extracted."
    ]
    assert "\f" not in summary["preview"]


def test_a_fully_scanned_pdf_is_not_an_empty_success(tmp_path: Path, out: OutputFolder) -> None:
    from tests.unit.office import samples

    scan = samples.pdf_document(tmp_path / "scan.pdf", pages=0, scanned=2)
    summary = pdf.process(scan, ["extract_text"], out)["extract_text"]
    assert summary["text_layer"] == "none"
    assert summary["warnings"][0].startswith("This PDF has no text layer")


def test_metadata(files: dict[str, Path], out: OutputFolder) -> None:
    info = pdf.process(files["pdf"], ["metadata"], out)["metadata"]
    assert info["pages"] == 4
    assert info["properties"]["title"] == "Sample"
    assert info["properties"]["author"] == "Nexus tests"
    assert info["properties"]["created"][:2] == "20"
    assert info["page_sizes"] == {"210 × 297 mm": 4}


def test_thumbnails_render_pages(files: dict[str, Path], out: OutputFolder) -> None:
    result = pdf.process(
        files["pdf"], ["thumbnails"], out, {"thumbnail_pages": "1,3", "thumbnail_size": 120}
    )
    images = result["thumbnails"]["images"]
    assert [i["page"] for i in images] == [1, 3]
    with Image.open(out.folder / images[0]["name"]) as image:
        assert image.format == "PNG" and max(image.size) == 120


def test_split_by_ranges_and_rotate(files: dict[str, Path], out: OutputFolder) -> None:
    result = pdf.process(
        files["pdf"], ["split", "rotate"], out, {"ranges": "1-2, 4", "angle": 180, "pages": "2-"}
    )
    assert [p["pages"] for p in result["split"]["parts"]] == ["1-2", "4"]
    assert len(pypdf.PdfReader(out.folder / "manual-pages-1-2.pdf").pages) == 2
    rotated = pypdf.PdfReader(out.folder / result["rotate"]["name"])
    assert [page.rotation for page in rotated.pages] == [0, 180, 180, 180]


@pytest.mark.parametrize("spec", ["0-2", "3-9", "2-1", "x"])
def test_bad_ranges_are_sentences(files: dict[str, Path], out: OutputFolder, spec: str) -> None:
    with pytest.raises(PermanentError, match="range"):
        pdf.process(files["pdf"], ["split"], out, {"ranges": spec})


def test_merge_keeps_order(files: dict[str, Path], out: OutputFolder) -> None:
    result = pdf.merge([files["pdf2"], files["pdf"]], out)
    merged = pypdf.PdfReader(out.folder / result["name"])
    assert len(merged.pages) == 6
    assert merged.pages[0].extract_text().startswith("Page 1 of Appendix")
    assert merged.pages[2].extract_text().startswith("Page 1 of Sample")


def test_password_protected_pdf(files: dict[str, Path], out: OutputFolder) -> None:
    locked = files["encrypted_pdf"]
    with pytest.raises(PermanentError, match=r"^This PDF is password-protected"):
        pdf.process(locked, ["extract_text"], out)
    with pytest.raises(PermanentError, match=r"^The password for this PDF is not correct"):
        pdf.process(locked, ["split"], out, {"password": "guess"})
    opened = pdf.process(locked, ["metadata", "split"], out, {"password": "s3cret"})
    assert opened["metadata"]["properties"]["title"] == "Locked"
    assert opened["split"]["count"] == 1


def test_cyclic_page_tree_fails_cleanly(tmp_path: Path, out: OutputFolder) -> None:
    cyclic = hostile.cyclic_pdf(tmp_path / "loop.pdf")
    with pytest.raises(PermanentError, match="page tree is broken"):
        pdf.process(cyclic, ["extract_text"], out)
    with pytest.raises(PermanentError, match="damaged"):
        pdf.process(cyclic, ["split"], out)
