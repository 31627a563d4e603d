"""python -m app.office: one JSON line per file, refusals printed, exit code 0."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from app.office.outputs import fit_summary
from tests.unit.office import hostile

ROOT = Path(__file__).resolve().parents[3]


def run_cli(*args: str) -> tuple[int, list[dict]]:
    done = subprocess.run(
        [sys.executable, "-m", "app.office", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done.returncode, [json.loads(line) for line in done.stdout.splitlines()]


def test_every_file_gets_a_line_and_rejections_do_not_fail_the_run(
    files: dict[str, Path], tmp_path: Path
) -> None:
    bomb = hostile.billion_laughs(tmp_path / "laughs.docx")
    empty = hostile.empty(tmp_path / "empty.xlsx")
    code, lines = run_cli(
        str(files["docx"]),
        str(files["xlsx"]),
        str(files["pdf"]),
        str(files["jpeg"]),
        str(bomb),
        str(empty),
        "--out",
        str(tmp_path / "out"),
    )
    assert code == 0
    by_name = {Path(line["file"]).name: line for line in lines}
    assert [by_name[n]["ok"] for n in ("report.docx", "sales.xlsx", "manual.pdf", "photo.jpg")] == [
        True,
        True,
        True,
        True,
    ]
    assert by_name["report.docx"]["type"] == "docx"
    assert set(by_name["report.docx"]["operations"]) == {"extract_text", "count_stats", "metadata"}
    assert by_name["manual.pdf"]["warnings"]
    assert (tmp_path / "out" / "report.docx" / "report.txt").is_file()
    assert by_name["laughs.docx"]["ok"] is False
    assert "entity or DTD declarations" in by_name["laughs.docx"]["error"]
    assert by_name["empty.xlsx"] == {
        "file": str(empty),
        "type": "xlsx",
        "ok": False,
        "error": "This file is empty.",
    }


def test_ops_apply_per_type_and_merge_gets_its_own_line(
    files: dict[str, Path], tmp_path: Path
) -> None:
    code, lines = run_cli(
        str(files["pdf2"]),
        str(files["pdf"]),
        str(files["encrypted_pdf"]),
        "--ops",
        "metadata",
        "merge",
        "--password",
        "s3cret",
        "--out",
        str(tmp_path),
    )
    assert code == 0
    assert [line["operations"]["metadata"]["pages"] for line in lines[:3]] == [2, 4, 1]
    merged = lines[3]
    assert merged["ok"] and merged["merge"]["pages"] == 7
    assert merged["merge"]["files"] == ["appendix.pdf", "manual.pdf", "locked.pdf"]


def test_summaries_are_trimmed_to_fit_a_job_record() -> None:
    big = {"files": [{"operations": {"extract_text": {"preview": "word " * 600}}}] * 40}
    fitted = fit_summary(big, 48_000)
    assert len(json.dumps(fitted)) <= 48_000
    assert len(fitted["files"]) == 40
    assert fitted["files"][0]["operations"]["extract_text"]["preview"].endswith("…")
