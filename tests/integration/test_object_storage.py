"""Job files in an S3 bucket: where the bytes live, what each host keeps, and two hosts at once.

Every test here runs on moto's S3 wire-protocol server through boto3. The "hosts" are worker
processes with storage and scratch folders of their own: they share only Redis and the bucket.
"""

from __future__ import annotations

import io
import os
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from app import jobs, maintenance, storage
from app.blobs import BucketStore, StoreUnavailable
from app.errors import PermanentError
from app.settings import get_settings
from tests.support import object_store
from tests.support.object_store import S3Server
from tests.support.processes import Proc, free_port, start_worker
from tests.support.users import TESTER
from tests.unit.office import samples

pytestmark = [
    pytest.mark.integration,
    pytest.mark.parametrize("storage_backend", ["s3"], indirect=True, scope="module"),
    pytest.mark.usefixtures("storage_backend"),
]


def prefix() -> str:
    return get_settings().storage_url.split("/", 3)[3]


def bucket_keys(s3: S3Server, folder: str) -> list[str]:
    return [key.removeprefix(prefix() + "/") for key in s3.keys(f"{prefix()}/{folder}")]


def local_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.is_dir() else []


@pytest.fixture(scope="module")
def hosts(session_dir: Path, storage_backend: str) -> Iterator[list[Proc]]:
    """Two worker hosts on the files and reports queues, each with folders of its own."""
    logs = session_dir / "logs"
    logs.mkdir(exist_ok=True)
    started = []
    for name in ("host-a", "host-b"):
        own = session_dir / name
        env = {"STORAGE_DIR": str(own / "storage"), "SCRATCH_DIR": str(own / "scratch")}
        started.append(start_worker(logs, queues=("files", "reports"), concurrency=1, env=env))
        started[-1].extra["folder"] = own
    yield started
    for proc in started:
        proc.stop()


def test_uploads_and_outputs_live_in_the_bucket_and_no_host_keeps_a_copy(
    hosts: list[Proc], s3_server: S3Server
) -> None:
    job_id = jobs.submit("process_image", {"operations": ["thumbnail"]},
                         files=[("photo.png", samples.png_bytes())], user=TESTER)
    record = jobs.wait(job_id, timeout=60, user=TESTER)
    assert record["state"] == "SUCCESS", record["error"]

    assert sorted(bucket_keys(s3_server, f"jobs/{job_id}/")) == [
        f"jobs/{job_id}/in/photo.png", f"jobs/{job_id}/out/photo-thumb.png"]
    assert record["outputs"][0]["type"] == "png"  # the type travels as object metadata
    assert jobs.output_bytes(job_id, "photo-thumb.png", user=TESTER).startswith(b"\x89PNG")
    # The web process and both hosts are left with nothing: no storage, no scratch.
    assert not (get_settings().storage_dir / "jobs" / job_id).exists()
    for proc in hosts:
        assert local_files(proc.extra["folder"]) == []


def test_two_hosts_share_a_batch_and_a_report_through_the_bucket(
    hosts: list[Proc], s3_server: S3Server, tmp_path: Path
) -> None:
    images = [(f"photo-{i}.png", samples.png_bytes()) for i in range(8)]
    singles = [jobs.submit("process_image", {"operations": ["thumbnail"]}, files=[image],
                           user=TESTER) for image in images[:6]]
    batch = jobs.submit("batch_process_files", {"operations": {"image": ["thumbnail"]}},
                        files=[*images[6:], ("notes.docx", _docx(tmp_path))], user=TESTER)
    data = tmp_path / "hours.csv"
    data.write_text("team,hours\nOps,5\nDev,8\nOps,3\n")
    report = jobs.submit("generate_analytics_report",
                         {"group_by": "team", "value_column": "hours",
                          "formats": ["html", "xlsx"]},
                         files=[("hours.csv", data.read_bytes())], user=TESTER)

    records = [jobs.wait(j, timeout=120, user=TESTER) for j in [*singles, batch, report]]
    assert [r["state"] for r in records] == ["SUCCESS"] * len(records), \
        [r["error"] for r in records]
    ran_on = {r["worker"] for r in records[:6]}
    assert len(ran_on) == 2, "both hosts should have taken work"

    for record in records:
        keys = bucket_keys(s3_server, f"jobs/{record['id']}/out/")
        names = [o["name"] for o in jobs.outputs(record["id"], user=TESTER)]
        assert sorted(f"jobs/{record['id']}/out/{n}" for n in names) == sorted(keys)
        assert not [n for n in names if " (2)" in n], "an output was written twice"
        for name in names:
            assert jobs.output_bytes(record["id"], name, user=TESTER)
    batch_names = [o["name"] for o in records[6]["outputs"]]
    assert {"photo-6.png/photo-6-thumb.png", "photo-7.png/photo-7-thumb.png",
            "notes.docx/notes.txt"} <= set(batch_names)
    with zipfile.ZipFile(io.BytesIO(jobs.zip_outputs(batch, user=TESTER))) as bundle:
        assert sorted(bundle.namelist()) == sorted(batch_names)
    assert {"report.html", "report.xlsx"} <= {
        o["name"] for o in records[7]["outputs"]}
    for proc in hosts:
        assert local_files(proc.extra["folder"]) == [], f"{proc.hostname} kept files"


def _docx(folder: Path) -> bytes:
    return samples.word_document(folder / "notes.docx").read_bytes()


def test_a_missing_object_is_a_sentence_and_a_silent_store_is_transient(
    s3_server: S3Server, tmp_path: Path
) -> None:
    with pytest.raises(PermanentError, match=r"The file gone\.pdf is no longer in storage\."):
        storage.read_bytes("jobs/nobody/in/gone.pdf")
    assert not storage.exists("jobs/nobody/in/gone.pdf")

    silent_url = f"http://127.0.0.1:{free_port()}"
    silent = get_settings().model_copy(update={"s3_endpoint_url": silent_url})
    store = BucketStore(object_store.BUCKET, "silent", silent)
    source = tmp_path / "x.txt"
    source.write_text("x")
    started = time.monotonic()
    with pytest.raises(StoreUnavailable, match="The file store did not answer"):
        store.put("jobs/j/in/x.txt", source, "text")
    assert time.monotonic() - started < 60  # it gives up, it does not hang


def test_maintenance_sweeps_scratch_a_killed_worker_left_and_keeps_live_ones() -> None:
    scratch = get_settings().scratch_dir / "tasks"
    stale, live = scratch / "dead-job-0000", scratch / "live-job-0000"
    for folder in (stale, live):
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "page.png").write_bytes(b"x")
    four_hours_ago = time.time() - 4 * 3600
    os.utime(stale, (four_hours_ago, four_hours_ago))
    maintenance.cleanup_temp_files()
    assert not stale.exists() and live.exists()
