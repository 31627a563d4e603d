"""Errors reach visitors as sentences, never as tracebacks."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from streamlit import config as st_config

from app.runtime.web import with_upload_cap
from app.settings import get_settings
from tests.support.pages import page_test
from tests.unit.office import samples

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def test_streamlit_shows_no_error_details_and_the_value_is_valid() -> None:
    shipped = tomllib.loads((ROOT / ".streamlit/config.toml").read_text())
    value = shipped["client"]["showErrorDetails"]
    assert value == st_config.ShowErrorDetailsConfigOptions.NONE.value


def test_the_launcher_caps_uploads_at_the_app_limit() -> None:
    assert with_upload_cap(["--server.port", "8501"]) == [
        "--server.port", "8501", "--server.maxUploadSize", str(get_settings().max_upload_mb)
    ]
    assert with_upload_cap(["--server.maxUploadSize=5"]) == ["--server.maxUploadSize=5"]


def test_an_upload_over_the_cap_is_a_sentence_on_the_files_page(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(get_settings(), "max_upload_mb", 1)
    big = samples.pdf_document(tmp_path / "big.pdf", pages=1, title="Big")
    data = big.read_bytes() + b"%" + b"0" * (2 * 1024 * 1024)  # trailing junk after %%EOF
    at = page_test(str(ROOT / "pages/files.py"), default_timeout=30).run()
    at.file_uploader[0].set_value([("big.pdf", data, "application/pdf")]).run()
    next(b for b in at.button if b.label == "Process").click().run()
    assert not at.exception, at.exception
    assert [e.value for e in at.error] == ["big.pdf is larger than the 1 MB upload limit."]
    assert "files_job" not in at.session_state
