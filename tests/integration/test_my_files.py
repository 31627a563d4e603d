"""My files through real jobs on a real worker: listing, paging, search, download, delete,
archives, running jobs and the storage quota."""

from __future__ import annotations

import time
import uuid
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app import jobs, maintenance, myfiles, quotas, storage
from app.auth import User
from app.connection import get_registry
from tests.support.object_store import BOTH_STORES
from tests.support.pages import page_test
from tests.support.users import ADMIN
from tests.unit.office import samples

pytestmark = [pytest.mark.integration, *BOTH_STORES]
ROOT = Path(__file__).resolve().parents[2]


def person(name: str) -> User:
    """A person of one's own, so counters and listings start empty."""
    return User(f"{name}-{uuid.uuid4().hex[:8]}@example.com", name.title())


def image_job(user: User, name: str) -> str:
    """A finished job with one upload and at least one output."""
    job_id = jobs.submit("process_image", {"operations": ["thumbnail"]},
                         files=[(name, samples.png_bytes())], user=user)
    assert jobs.wait(job_id, timeout=60, user=user)["state"] == "SUCCESS"
    return job_id


def all_files(user: User, limit: int, text: str | None = None) -> list[list[myfiles.MyFile]]:
    pages, cursor = [], 0
    while cursor is not None:
        page = myfiles.list_files(user=user, text=text, cursor=cursor, limit=limit)
        pages.append(page.files)
        cursor = page.next_cursor
    return pages


def test_lists_only_own_files_newest_first_with_paging_and_search(worker) -> None:
    alice, bob = person("alice"), person("bob")
    ids = [image_job(alice, f"{letter}.png") for letter in "abc"]
    image_job(bob, "bobs.png")

    pages = all_files(alice, limit=2)
    files = [f for page in pages for f in page]
    assert len(pages) >= 2  # it really paged
    assert len({f.key for f in files}) == len(files)  # nothing twice
    assert {f.job_id for f in files} == set(ids)
    uploads = [f.name for f in files if f.area == "input"]
    assert uploads == ["c.png", "b.png", "a.png"]  # newest job first
    assert all(f.area == "output" for f in files if f.name not in uploads)
    first = next(f for f in files if f.name == "c.png")
    assert first.kind == "process_image" and first.type == "png" and first.size > 0

    found = [f for page in all_files(alice, limit=10, text="A.PNG") for f in page]
    assert [f.name for f in found] == ["a.png"]
    # An admin still sees only their own files here, and nobody sees another person's.
    assert not [f for page in all_files(bob, 10) for f in page if f.job_id in ids]
    assert not [f for page in all_files(ADMIN, 50) for f in page if f.job_id in ids]


def test_download_checks_the_owner(worker) -> None:
    alice, bob = person("alice"), person("bob")
    job_id = image_job(alice, "mine.png")
    assert myfiles.input_bytes(job_id, "mine.png", user=alice) == samples.png_bytes()
    with pytest.raises(FileNotFoundError):
        myfiles.input_bytes(job_id, "mine.png", user=bob)
    with pytest.raises(FileNotFoundError):
        myfiles.input_bytes(job_id, "../out/x", user=alice)


def test_delete_removes_bytes_record_entries_and_usage(worker) -> None:
    alice = person("alice")
    job_id = image_job(alice, "gone.png")
    files = myfiles.list_files(user=alice).files
    used = quotas.used_bytes(alice.id)
    assert used == sum(f.size for f in files) > 0

    outcome = myfiles.delete_files([f.key for f in files], user=alice)
    assert sorted(outcome.deleted) == sorted(f.key for f in files) and not outcome.refused
    assert not storage.has_files(job_id)
    record = jobs.get(job_id, user=alice)
    assert record["outputs"] == []
    assert record["params"]["files"] == []
    assert get_registry().kwargs(job_id)["files"] == []
    assert quotas.used_bytes(alice.id) == 0
    assert myfiles.list_files(user=alice).files == []


def test_delete_refuses_someone_elses_file(worker) -> None:
    alice, bob = person("alice"), person("bob")
    job_id = image_job(alice, "keep.png")
    outcome = myfiles.delete_files([f"{job_id}/in/keep.png"], user=bob)
    assert outcome.deleted == [] and outcome.refused == ["There is no file keep.png of yours."]
    assert storage.exists(f"jobs/{job_id}/in/keep.png")


def test_delete_rewrites_the_archive_and_removes_it_when_empty(worker) -> None:
    alice = person("alice")
    job_id = image_job(alice, "old.png")
    get_registry().update(job_id, submitted_at=time.time() - 10 * 86400)
    maintenance.archive_old_files()
    record = jobs.get(job_id, user=alice)
    assert record["archive"] and not storage.has_files(job_id)
    files = myfiles.list_files(user=alice).files
    assert files and all(f.archived for f in files)
    assert quotas.used_bytes(alice.id) == sum(f.size for f in files)

    upload = next(f for f in files if f.area == "input")
    assert myfiles.delete_files([upload.key], user=alice).deleted == [upload.key]
    with zipfile.ZipFile(storage.resolve(record["archive"])) as bundle:
        assert "in/old.png" not in bundle.namelist()
        assert any(n.startswith("out/") for n in bundle.namelist())
    assert jobs.get(job_id, user=alice)["params"]["files"] == []

    outputs = [f.key for f in files if f.area == "output"]
    assert myfiles.delete_files(outputs, user=alice).deleted == outputs
    assert not storage.exists(record["archive"])
    assert not jobs.get(job_id, user=alice).get("archive")
    assert jobs.outputs(job_id, user=alice) == []
    assert quotas.used_bytes(alice.id) == 0


def test_files_of_a_running_job_cannot_be_deleted(worker) -> None:
    alice = person("alice")
    later = datetime.now(UTC) + timedelta(minutes=30)  # stays QUEUED for the whole test
    job_id = jobs.submit("process_image", {"operations": ["info"]}, eta=later,
                         files=[("busy.png", samples.png_bytes())], user=alice)
    outcome = myfiles.delete_files([f"{job_id}/in/busy.png"], user=alice)
    assert outcome.deleted == []
    assert outcome.refused == [
        "busy.png belongs to a process_image job that is still running; wait until it "
        "finishes, or cancel it, before deleting its files."
    ]
    assert storage.exists(f"jobs/{job_id}/in/busy.png")
    jobs.cancel(job_id, user=alice)


def test_an_upload_over_the_storage_quota_is_refused(redis_client) -> None:
    alice = person("alice")
    quotas.set_override(alice.id, "storage_quota_mb", 1, by=ADMIN)
    with pytest.raises(quotas.QuotaExceeded) as refused:
        jobs.submit("process_image", {}, files=[("big.png", b"x" * (2 * 1024 * 1024))],
                    user=alice)
    assert str(refused.value) == (
        "This upload would use 2 MB of your 1 MB storage; delete files on My files first."
    )
    assert jobs.list(user=alice).total == 0  # nothing was queued


def test_a_stream_of_unknown_size_is_measured_as_it_is_saved(redis_client) -> None:
    alice = person("alice")
    quotas.set_override(alice.id, "storage_quota_mb", 1, by=ADMIN)

    class Upload:  # like a socket: no size until read
        name = "stream.bin"

        def __init__(self) -> None:
            self.left = 3

        def read(self, _: int) -> bytes:
            self.left -= 1
            return b"y" * (1024 * 1024) if self.left >= 0 else b""

    with pytest.raises(quotas.QuotaExceeded, match="3 MB of your 1 MB"):
        jobs.store_files("quota-stream-" + uuid.uuid4().hex[:8], [Upload()], owner=alice.id)
    assert quotas.used_bytes(alice.id) == 0


def test_page_shows_only_the_signed_in_persons_files(worker) -> None:
    alice, bob = person("alice"), person("bob")
    job_id = image_job(alice, "alices-photo.png")
    image_job(bob, "bobs-photo.png")
    at = page_test(ROOT / "pages/my_files.py", user=alice).run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert "alices-photo.png" in set(table["Name"])
    assert "bobs-photo.png" not in table.to_csv()
    assert "of your 2 GB storage" in at.get("progress")[0].proto.text

    at.multiselect(key="myfiles_delete").select(f"{job_id}/in/alices-photo.png")
    at.checkbox(key="myfiles_confirm").check()
    at.run()
    at.button(key="myfiles_delete_button").click().run()
    assert not at.exception, at.exception
    assert [s.value for s in at.success] == ["Deleted 1 file."]
    assert "alices-photo.png" not in set(at.dataframe[0].value["Name"])
    assert not storage.exists(f"jobs/{job_id}/in/alices-photo.png")


def test_page_says_so_when_there_are_no_files(redis_client) -> None:
    at = page_test(ROOT / "pages/my_files.py", user=person("nobody")).run()
    assert not at.exception, at.exception
    assert [i.value for i in at.info] == ["You have no files yet."]
