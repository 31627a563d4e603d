"""PowerPoint: text per slide (groups, tables, notes), structure, images and outline."""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image

from app.office import powerpoint
from app.office.outputs import OutputFolder


def test_text_per_slide_includes_groups_tables_charts_and_notes(
    files: dict[str, Path], out: OutputFolder
) -> None:
    summary = powerpoint.process(files["pptx"], ["extract_text"], out)["extract_text"]
    assert summary["slides"] == 3
    assert summary["titles"] == ["Launch plan", "Agenda", "Numbers"]
    assert summary["slides_with_notes"] == 1
    slides = json.loads((out.folder / summary["slides_file"]).read_text())
    assert slides[1]["notes"] == "Remember to thank the team"
    assert slides[2]["text"] == ["Metric | Value", "Users | 1200", "Grouped note", "Chart: Revenue"]
    text = (out.folder / summary["text_file"]).read_text()
    assert "=== Slide 2: Agenda ===\nGoals\nGrow revenue\nNotes: Remember to thank the team" in text


def test_structure_counts_layouts_shapes_and_content(
    files: dict[str, Path], out: OutputFolder
) -> None:
    info = powerpoint.process(files["pptx"], ["structure"], out)["structure"]
    assert info["slides"] == 3
    assert info["layouts"] == {"Title Slide": 1, "Title and Content": 1, "Title Only": 1}
    assert (info["images"], info["charts"], info["tables"], info["slides_with_notes"]) == (
        1,
        1,
        1,
        1,
    )
    assert info["shapes_by_type"]["group"] == 1 and info["shapes_by_type"]["picture"] == 1
    assert info["slide_size_cm"] == [25.4, 19.05]
    assert info["per_slide"][2]["images"] == 1


def test_images_inside_groups_are_extracted(files: dict[str, Path], out: OutputFolder) -> None:
    result = powerpoint.process(files["pptx"], ["extract_images"], out)["extract_images"]
    assert [image["name"] for image in result["images"]] == ["launch-slide003-001.jpg"]
    with Image.open(out.folder / "launch-slide003-001.jpg") as image:
        assert image.format == "JPEG"


def test_outline_is_markdown(files: dict[str, Path], out: OutputFolder) -> None:
    summary = powerpoint.process(files["pptx"], ["outline"], out)["outline"]
    outline = (out.folder / summary["text_file"]).read_text()
    assert outline.startswith("# Launch plan\n")
    assert "## 2. Agenda\n- Goals\n  - Grow revenue\n" in outline
    assert "## 3. Numbers\n- Table: 2 rows × 2 columns\n- Grouped note\n" in outline
