"""Word: what a user reads, counts and downloads."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from app.office import word
from app.office.outputs import OutputFolder


def run(path: Path, out: OutputFolder, *operations: str) -> dict:
    return word.process(path, list(operations), out)


def test_text_in_reading_order_with_tables_headers_notes_and_comments(
    files: dict[str, Path], out: OutputFolder
) -> None:
    summary = run(files["docx"], out, "extract_text")["extract_text"]
    text = (out.folder / summary["text_file"]).read_text()
    body = text.split("=== Headers ===")[0]
    assert body.index("Summary") < body.index("Sales grew strongly") < body.index("North | 10 | 12")
    assert "Region | Q1 | Q2" in body
    assert "ACME confidential" in text and "Page footer text" in text
    assert "[1] Source: the annual survey." in text
    assert "Bob Reviewer: Is this true?" in text
    assert summary["footnotes"] == 1 and summary["comments"] == 1
    assert summary["preview"] == text[: len(summary["preview"])]


def test_stats(files: dict[str, Path], out: OutputFolder) -> None:
    stats = run(files["docx"], out, "count_stats")["count_stats"]
    assert stats["tables"] == 1
    assert stats["images"] == 3
    assert stats["sections"] == 1
    assert stats["page_breaks"] == 1
    assert stats["estimated_pages"] == 2
    assert 25 < stats["words"] < 60
    assert stats["characters"] > stats["characters_no_spaces"]


def test_images_keep_their_real_format_and_are_not_duplicated(
    files: dict[str, Path], out: OutputFolder
) -> None:
    result = run(files["docx"], out, "extract_images")["extract_images"]
    assert result["count"] == 2
    formats = sorted(image["format"] for image in result["images"])
    assert formats == ["jpeg", "png"]
    names = [image["name"] for image in result["images"]]
    assert len(set(names)) == 2
    for image in result["images"]:
        with Image.open(out.folder / image["name"]) as opened:
            assert opened.format.lower() == image["format"]
            assert opened.size == (image["width"], image["height"])


def test_markdown_has_headings_lists_tables_and_bold(
    files: dict[str, Path], out: OutputFolder
) -> None:
    summary = run(files["docx"], out, "to_markdown")["to_markdown"]
    markdown = (out.folder / summary["text_file"]).read_text()
    assert "# Quarterly report" in markdown
    assert "# Summary" in markdown and "## Pictures" in markdown
    assert "Sales grew **strongly** this quarter." in markdown
    assert "- North region\n- South region\n1. Hire two people" in markdown
    assert "| Region | Q1 | Q2 |\n| --- | --- | --- |\n| North | 10 | 12 |" in markdown


def test_metadata(files: dict[str, Path], out: OutputFolder) -> None:
    properties = run(files["docx"], out, "metadata")["metadata"]
    assert properties["title"] == "Quarterly report"
    assert properties["author"] == "Ann Analyst"
    assert properties["created"].startswith("20")
