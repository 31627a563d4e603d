"""The reports queue reads tables through the same file guard as the files queue."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.errors import PermanentError
from app.reports.data import load_table
from app.settings import get_settings
from tests.unit.office import hostile


@pytest.fixture
def caps(monkeypatch: pytest.MonkeyPatch):
    """Small caps, so the hostile files stay small and the tests quick."""
    settings = get_settings()
    monkeypatch.setattr(settings, "max_inflated_mb", 1)
    monkeypatch.setattr(settings, "max_table_rows", 100)
    return settings


def test_an_xlsx_that_inflates_past_the_cap_is_refused(tmp_path: Path, caps) -> None:
    bomb = hostile.excel_zip_bomb(tmp_path / "sales.xlsx", inflated_mb=2)
    with pytest.raises(PermanentError, match="expands to more than 1 MB when unpacked"):
        load_table(bomb)


def test_an_xlsx_compressed_like_a_zip_bomb_is_refused(tmp_path: Path) -> None:
    bomb = hostile.excel_zip_bomb(tmp_path / "sales.xlsx", inflated_mb=8)
    with pytest.raises(PermanentError, match="only zip bombs do"):
        load_table(bomb)


def test_a_csv_over_the_row_cap_is_refused(tmp_path: Path, caps) -> None:
    path = tmp_path / "big.csv"
    path.write_text("n,v\n" + "".join(f"{i},x\n" for i in range(101)))
    with pytest.raises(PermanentError) as caught:
        load_table(path)
    assert str(caught.value) == (
        "The file big.csv holds more than 100 rows, the most a report reads; "
        "split it or filter it first."
    )


def test_a_csv_at_the_row_cap_is_read(tmp_path: Path, caps) -> None:
    path = tmp_path / "ok.csv"
    path.write_text("n,v\n" + "".join(f"{i},x\n" for i in range(100)))
    assert len(load_table(path)) == 100


def test_json_and_xlsx_over_the_row_cap_are_refused(tmp_path: Path, caps) -> None:
    records = tmp_path / "rows.json"
    records.write_text(json.dumps([{"n": i} for i in range(101)]))
    with pytest.raises(PermanentError, match="more than 100 rows"):
        load_table(records)
    import openpyxl

    book = openpyxl.Workbook()
    for i in range(102):
        book.active.append([i])
    book.save(tmp_path / "rows.xlsx")
    with pytest.raises(PermanentError, match="more than 100 rows"):
        load_table(tmp_path / "rows.xlsx")


def test_a_file_over_the_upload_cap_is_refused(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(get_settings(), "max_upload_mb", 1)
    path = tmp_path / "huge.csv"
    path.write_text("n\n" + "1\n" * 600_000)
    with pytest.raises(PermanentError, match="over the 1 MB limit"):
        load_table(path)
