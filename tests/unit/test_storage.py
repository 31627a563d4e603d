"""Uploads land in the job's folder under a safe name, whatever name the browser sent."""

from __future__ import annotations

import io

import pytest

from app import storage
from app.errors import PermanentError


@pytest.mark.parametrize(
    ("hostile", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\system32\\cmd.exe", "cmd.exe"),
        ("/etc/shadow", "shadow"),
        ("C:\\Users\\me\\report.docx", "report.docx"),
        ("report\x00.pdf", "report.pdf"),
        ("line\nbreak\r.txt", "linebreak.txt"),
        ("CON", "_CON"),
        ("con.txt", "_con.txt"),
        ("LPT1.tar.gz", "_LPT1.tar.gz"),
        ("invoice\u202efdp.exe", "invoicefdp.exe"),
        ("..", "file"),
        ("", "file"),
        ("   ", "file"),
        ('a<b>c:d"e|f?g*h.txt', "a_b_c_d_e_f_g_h.txt"),
    ],
)
def test_hostile_names_become_safe(hostile: str, expected: str) -> None:
    assert storage.safe_filename(hostile) == expected


def test_overlong_names_are_cut_but_keep_their_extension() -> None:
    name = storage.safe_filename("é" * 400 + ".xlsx")
    assert len(name.encode("utf-8")) <= storage.MAX_NAME_BYTES
    assert name.endswith(".xlsx")
    name.encode("utf-8").decode("utf-8")  # never cut inside a character


def test_upload_keeps_original_name_and_sniffs_the_real_type() -> None:
    pdf = b"%PDF-1.7\n" + b"0" * 100
    stored = storage.save_upload("job-1", "../../holiday photo.JPG", pdf)
    assert stored.name == "../../holiday photo.JPG"
    assert stored.type == "pdf"
    assert stored.path == "jobs/job-1/in/holiday photo.JPG"
    assert storage.resolve(stored.as_ref()).read_bytes() == pdf


def test_size_cap_is_enforced_while_streaming_and_leaves_nothing_behind() -> None:
    with pytest.raises(storage.UploadTooLarge, match="larger than the 1 MB upload limit"):
        storage.save_upload("job-2", "big.bin", io.BytesIO(b"x" * (3 * 1024 * 1024)),
                            max_bytes=1024 * 1024)
    assert not any(storage.inputs_dir("job-2").iterdir())


def test_same_name_twice_gets_a_unique_second_name() -> None:
    first = storage.save_upload("job-3", "a.txt", b"one")
    second = storage.save_upload("job-3", "a.txt", b"two")
    assert first.path != second.path
    assert second.path.endswith("a (2).txt")


@pytest.mark.parametrize("escape", ["../../../etc/passwd", "/etc/passwd", "jobs/../../x"])
def test_resolve_refuses_paths_outside_storage(escape: str) -> None:
    with pytest.raises(PermanentError, match="not in job storage"):
        storage.resolve({"path": escape})


@pytest.mark.parametrize("bad_id", ["../x", "a/b", "", "x" * 80])
def test_job_ids_cannot_name_other_folders(bad_id: str) -> None:
    with pytest.raises(PermanentError):
        storage.job_dir(bad_id)


def test_outputs_are_listed_and_zipped() -> None:
    storage.output_path("job-4", "result.csv").write_text("a,b\n1,2\n")
    storage.output_path("job-4", "result.csv").write_text("c\n")
    names = [o["name"] for o in storage.list_outputs("job-4")]
    assert names == ["result (2).csv", "result.csv"]
    assert storage.zip_outputs("job-4").startswith(b"PK")
