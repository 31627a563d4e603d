"""LibreOffice without the queue: a cold conversion, the macro-less profile, a missing soffice."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.errors import PermanentError
from app.office import libreoffice, pdf, runner
from tests.unit.office import samples


def test_a_presentation_becomes_a_pdf_with_a_page_per_slide(tmp_path: Path) -> None:
    deck = samples.presentation(tmp_path / "launch.pptx")
    result = runner.process_file(deck, tmp_path / "out", operations=["to_pdf"])
    made = result["operations"]["to_pdf"]
    assert made["name"] == "launch.pdf" and made["pages"] >= 2
    assert "Launch" in pdf.page_texts(tmp_path / "out" / "launch.pdf")[0]


def test_the_profile_disables_macros(tmp_path: Path) -> None:
    profile = libreoffice.prepare_profile(tmp_path / "profile")
    settings = (profile / "user" / "registrymodifications.xcu").read_text()
    assert '"DisableMacrosExecution"' in settings and "<value>true</value>" in settings
    assert '"MacroSecurityLevel"' in settings and "<value>3</value>" in settings


def test_without_soffice_the_error_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    document = samples.word_document(tmp_path / "report.docx")
    monkeypatch.setenv("PATH", "/nonexistent")  # a worker without LibreOffice
    with pytest.raises(PermanentError) as refused:
        runner.process_file(document, tmp_path / "out", operations=["to_pdf"])
    assert "needs LibreOffice" in str(refused.value)
    assert "apt-get install -y --no-install-recommends libreoffice-writer-nogui" in str(
        refused.value
    )
