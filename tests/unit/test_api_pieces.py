"""Pieces of the HTTP API that need no server: the compose service, parameter checks from the
task signatures, the streamed zip, and the CLI's parsing."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
import yaml

from app.api import signatures
from app.api.routes.outputs import zipped
from app.cli import parse_param, safe_target

ROOT = Path(__file__).resolve().parents[2]


def test_compose_runs_the_api_with_a_liveness_healthcheck() -> None:
    api = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["api"]
    assert api["command"] == "python -m app.api"
    assert "/health/live" in " ".join(api["healthcheck"]["test"])
    assert api["ports"] == ["${BIND_ADDRESS:-127.0.0.1}:8000:8000"]
    assert api["depends_on"]["redis"]["condition"] == "service_healthy"
    assert api["environment"]["API_HOST"] == "0.0.0.0"


def test_parameters_are_checked_against_the_signature() -> None:
    pdf = signatures.kinds()["process_pdf"]
    signatures.check(pdf, {"operations": ["extract_text"]}, uploaded={"files"})
    with pytest.raises(signatures.BadParameters) as bad:
        signatures.check(pdf, {"operations": "extract_text", "pasword": "x"})
    assert bad.value.errors == [
        {"parameter": "pasword", "message": "process_pdf has no parameter called 'pasword'."},
        {"parameter": "files", "message": "process_pdf needs 'files'. Upload at least one file."},
        {"parameter": "operations",
         "message": "'operations' must be list[str] | None, not 'extract_text'."},
    ]


def test_internal_tasks_are_not_kinds() -> None:
    kinds = signatures.kinds()
    assert "ping" in kinds and "finish_file_batch" not in kinds
    assert all(p.name != "self" for k in kinds.values() for p in k.parameters)


def test_the_streamed_zip_is_a_valid_archive(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("STORAGE_DIR", str(tmp_path))
    from app import settings, storage

    settings.get_settings.cache_clear()
    try:
        folder = storage.outputs_dir("job-1")
        (folder / "sub").mkdir(parents=True)
        (folder / "a.txt").write_bytes(b"alpha" * 100_000)
        (folder / "sub" / "b.bin").write_bytes(bytes(range(256)) * 3000)
        pieces = list(zipped("job-1", storage.list_outputs("job-1")))
    finally:
        settings.get_settings.cache_clear()
    assert len(pieces) > 2  # sent as it was written, not as one block
    with zipfile.ZipFile(io.BytesIO(b"".join(pieces))) as archive:
        assert archive.testzip() is None
        assert archive.read("a.txt") == b"alpha" * 100_000
        assert archive.read("sub/b.bin") == bytes(range(256)) * 3000


def test_cli_params_and_download_targets(tmp_path) -> None:
    assert parse_param("steps=3") == ("steps", 3)
    assert parse_param("to=ann@example.com") == ("to", "ann@example.com")
    assert parse_param('operations=["a","b"]') == ("operations", ["a", "b"])
    assert safe_target(tmp_path, "../../etc/passwd") == tmp_path / "etc" / "passwd"
    assert safe_target(tmp_path, "pages/1.png") == tmp_path / "pages" / "1.png"
