"""Uploads land in the job's folder under a safe name, whatever name the browser sent.

The tests that store bytes run on the local folder and on an S3 bucket (moto's server).
"""

from __future__ import annotations

import io
import zipfile

import pytest

from app import storage
from app.errors import PermanentError

both_stores = pytest.mark.parametrize("storage_backend", ["local", "s3"], indirect=True,
                                      scope="module")


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


@both_stores
def test_upload_keeps_original_name_and_sniffs_the_real_type(storage_backend: str) -> None:
    pdf = b"%PDF-1.7\n" + b"0" * 100
    stored = storage.save_upload("job-1", "../../holiday photo.JPG", pdf)
    assert stored.name == "../../holiday photo.JPG"
    assert stored.type == "pdf"
    assert stored.path == "jobs/job-1/in/holiday photo.JPG"
    assert storage.resolve(stored.as_ref()).read_bytes() == pdf


@both_stores
def test_size_cap_is_enforced_while_streaming_and_leaves_nothing_behind(
    storage_backend: str
) -> None:
    with pytest.raises(storage.UploadTooLarge, match="larger than the 1 MB upload limit"):
        storage.save_upload("job-2", "big.bin", io.BytesIO(b"x" * (3 * 1024 * 1024)),
                            max_bytes=1024 * 1024)
    assert not storage.job_files("job-2")
    assert not [p for p in storage.root().rglob("*") if p.is_file() and "job-2" in str(p)]


@both_stores
def test_same_name_twice_gets_a_unique_second_name(storage_backend: str) -> None:
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


@both_stores
def test_outputs_are_listed_and_zipped(storage_backend: str) -> None:
    with storage.scratch("job-4"):
        storage.output_path("job-4", "result.csv").write_text("a,b\n1,2\n")
        storage.output_path("job-4", "result.csv").write_text("c,d\n3,4\n")
    outputs = storage.list_outputs("job-4")
    assert [o["name"] for o in outputs] == ["result (2).csv", "result.csv"]
    assert [o["type"] for o in outputs] == ["csv", "csv"]
    with zipfile.ZipFile(io.BytesIO(storage.zip_outputs("job-4"))) as bundle:
        assert bundle.read("result.csv") == b"a,b\n1,2\n"


@both_stores
def test_a_batch_gathers_outputs_into_folders_and_deletion_leaves_nothing(
    storage_backend: str
) -> None:
    with storage.scratch("child-1"):
        storage.output_path("child-1", "page.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    storage.save_upload("batch-1", "scan.pdf", b"%PDF-1.7\n")
    assert storage.gather_outputs("batch-1", [("child-1", "scan.pdf"), ("child-1", "scan.pdf"),
                                              ("nothing-1", "empty.pdf")]) == [
        ["scan.pdf/page.png"], ["scan (2).pdf/page.png"], []]
    assert storage.gather_outputs("batch-1", [("child-1", "scan.pdf")]) == [
        ["scan (3).pdf/page.png"]]
    assert storage.read_bytes("jobs/batch-1/out/scan.pdf/page.png").startswith(b"\x89PNG")
    assert set(storage.stored_jobs()) >= {"child-1", "batch-1"}
    storage.delete_job_files("batch-1")
    assert not storage.has_files("batch-1") and storage.has_files("child-1")


@both_stores
def test_archiving_a_job_keeps_every_byte_and_removes_its_folder(storage_backend: str) -> None:
    storage.save_upload("old-1", "in.txt", b"input")
    with storage.scratch("old-1"):
        storage.output_path("old-1", "out.txt").write_text("output")
    key, count = storage.archive_job("old-1", stamp=0)
    assert (key, count) == ("archive/1970-01-01/old-1.zip", 2)
    assert not storage.has_files("old-1")
    assert storage.archived_bytes(key, "out.txt") == b"output"
    assert storage.remove_archive_member(key, "in/in.txt") == 1
    assert [f["name"] for f in storage.archived_files(key, "in")] == []
    assert storage.remove_archive_member(key, "out/out.txt") == 0
    assert not storage.exists(key)
    assert storage.delete_archives_before("1970-01-02") == 0
