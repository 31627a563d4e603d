"""Test files for the office code, generated once per session into a temporary folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.office.outputs import OutputFolder
from tests.unit.office import hostile, samples


@pytest.fixture(scope="session")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Good files by kind, made with the libraries users' tools are built on."""
    root = tmp_path_factory.mktemp("office-samples")
    return {
        "docx": samples.word_document(root / "report.docx"),
        "xlsx": samples.excel_workbook(root / "sales.xlsx"),
        "pptx": samples.presentation(root / "launch.pptx"),
        "pdf": samples.pdf_document(root / "manual.pdf", pages=3, scanned=1),
        "pdf2": samples.pdf_document(root / "appendix.pdf", pages=2, title="Appendix"),
        "encrypted_pdf": samples.encrypted_pdf(root / "locked.pdf"),
        "jpeg": samples.photo_with_exif(root / "photo.jpg"),
        "png": samples.transparent_png(root / "logo.png"),
    }


@pytest.fixture(scope="session")
def zip_bomb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return hostile.zip_bomb(tmp_path_factory.mktemp("bomb") / "bomb.docx")


@pytest.fixture
def out(tmp_path: Path) -> OutputFolder:
    return OutputFolder(tmp_path / "out")
