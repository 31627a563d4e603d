"""My files: every file a person uploaded and every output of their jobs, to find, download
and delete.

Listing pages through the person's own job index (`idx:owner:<id>`), newest job first, with a
cursor (a position in that index), so every file is reachable however old, and one page costs
about one page of jobs. It is always the person's own files, admins included: this is "My
files", and the platform's own jobs (owner `system`) never belong to a person.

Deleting a file removes its bytes (from the job folder, or from the job's archive once
maintenance zipped it), its entry in the job record (`outputs`, or the upload in `params` and
the kept kwargs) and its share of the owner's storage usage. Files of a job that is still
running cannot be deleted: the job may be reading or writing them.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from app import audit, filetypes, jobs, quotas, storage
from app.auth import User
from app.connection import get_registry
from app.errors import PermanentError
from app.registry import TERMINAL

AREAS = {"input": "in", "output": "out"}
JOB_BATCH = 100
MAX_JOBS_PER_PAGE = 5000


@dataclass(frozen=True)
class MyFile:
    """One file of one of the person's jobs."""

    job_id: str
    kind: str
    area: str  # "input" (an upload) or "output" (a file the job produced)
    name: str  # its name inside the job's folder; outputs may sit in sub-folders
    type: str
    size: int
    at: float  # uploads: when the job was submitted; outputs: when it finished
    state: str
    archived: bool = False

    @property
    def key(self) -> str:
        """Names the file in a delete request: <job id>/<in|out>/<name>."""
        return f"{self.job_id}/{AREAS[self.area]}/{self.name}"

    @property
    def running(self) -> bool:
        return self.state not in TERMINAL


@dataclass
class FilePage:
    """A page of files; pass `next_cursor` as `cursor` for the next page (None: the last)."""

    files: list[MyFile]
    cursor: int
    next_cursor: int | None
    notes: list[str] = field(default_factory=list)


@dataclass
class Deleted:
    """What a delete did: the keys removed and a sentence for each file it refused."""

    deleted: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)


# listing ---------------------------------------------------------------------------------


def list_files(
    *, user: User, text: str | None = None, cursor: int = 0, limit: int = 50
) -> FilePage:
    """A page of the person's files, newest job first; `text` matches file names."""
    registry = get_registry()
    index = registry.index_key("owner", user.id)
    needle = (text or "").strip().casefold()
    found: list[MyFile] = []
    position = cursor
    while len(found) < limit and position - cursor < MAX_JOBS_PER_PAGE:
        ids = registry.redis.zrevrange(index, position, position + JOB_BATCH - 1)
        if not ids:
            return FilePage(found, cursor, None)
        for record in registry.get_many(ids):
            position += 1
            if record.get("owner") == user.id:
                found += [f for f in files_of(record) if needle in f.name.casefold()]
            if len(found) >= limit:
                break
        if len(ids) < JOB_BATCH and len(found) < limit:
            return FilePage(found, cursor, None)
    notes = [] if len(found) >= limit else [
        f"This page looked through {MAX_JOBS_PER_PAGE:,} jobs; go on for older ones."
    ]
    return FilePage(found, cursor, position, notes)


def files_of(record: dict[str, Any]) -> list[MyFile]:
    """The files of one job record, outputs first (they are newer), from folder or archive."""
    archive = record.get("archive") or None
    stored = storage.job_files(record["id"])
    if stored:
        rows = _folder_files(record["id"], stored)
    elif archive:
        rows = _archive_files(archive)
    else:
        return []
    submitted = record.get("submitted_at") or 0.0
    finished = record.get("finished_at") or submitted
    return [
        MyFile(
            job_id=record["id"], kind=record.get("kind", ""), area=area, name=name, type=kind,
            size=size, at=finished if area == "output" else submitted,
            state=record.get("state", ""), archived=not stored,
        )
        for area, name, kind, size in sorted(rows, key=lambda row: row[0] != "output")
    ]


def _folder_files(job_id: str, stored: list[Any]) -> list[tuple[str, str, str, int]]:
    rows = []
    for area, sub in AREAS.items():
        prefix = f"jobs/{job_id}/{sub}/"
        rows += [
            (area, blob.key.removeprefix(prefix), storage.store().type_of(blob.key), blob.size)
            for blob in stored if blob.key.startswith(prefix)
        ]
    return rows


def _archive_files(archive: str) -> list[tuple[str, str, str, int]]:
    try:
        with storage.local_copy(archive) as path, zipfile.ZipFile(path) as bundle:
            return [
                (area, info.filename.removeprefix(f"{sub}/"),
                 filetypes.sniff_bytes(bundle.read(info.filename)[: filetypes.SNIFF_BYTES]),
                 info.file_size)
                for area, sub in AREAS.items()
                for info in bundle.infolist()
                if info.filename.startswith(f"{sub}/") and not info.is_dir()
            ]
    except (PermanentError, OSError, zipfile.BadZipFile):
        return []  # an archive that went missing has no files to show


# reading ---------------------------------------------------------------------------------


def input_bytes(job_id: str, name: str, *, user: User, client: str = "") -> bytes:
    """The bytes of one upload of one of the user's jobs; each download is audited."""
    record = jobs.get(job_id, user=user)
    if record is None:
        raise FileNotFoundError("There is no such file.")
    data = _read(record, "in", name)
    audit.record(user, "file.download", f"{job_id}/in/{name}", client=client)
    return data


def file_bytes(item: MyFile, *, user: User, client: str = "") -> bytes:
    """The bytes of a listed file: outputs through jobs.output_bytes, uploads through ours."""
    if item.area == "output":
        return jobs.output_bytes(item.job_id, item.name, user=user, client=client)
    return input_bytes(item.job_id, item.name, user=user, client=client)


def _read(record: dict[str, Any], sub: str, name: str) -> bytes:
    try:
        if storage.has_files(record["id"]):
            return storage.read_bytes(f"jobs/{record['id']}/{sub}/{name}")
        if record.get("archive"):
            return storage.archived_member(record["archive"], f"{sub}/{name}")
    except (PermanentError, KeyError):
        pass
    raise FileNotFoundError(f"{name} is no longer in storage.")


# deleting --------------------------------------------------------------------------------


def delete_files(keys: Iterable[str], *, user: User, client: str = "") -> Deleted:
    """Delete files of the user's own finished jobs, named by `MyFile.key`."""
    outcome = Deleted()
    by_job: dict[str, list[tuple[str, str, str]]] = {}
    for key in keys:
        job_id, _, rest = key.partition("/")
        sub, _, name = rest.partition("/")
        by_job.setdefault(job_id, []).append((key, sub, name))
    for job_id, wanted in by_job.items():
        _delete_in_job(job_id, wanted, user, client, outcome)
    return outcome


def _delete_in_job(
    job_id: str, wanted: list[tuple[str, str, str]], user: User, client: str, outcome: Deleted
) -> None:
    record = get_registry().get(job_id)
    if record is None or record.get("owner") != user.id:
        outcome.refused += [f"There is no file {name} of yours." for _, _, name in wanted]
        return
    if record["state"] not in TERMINAL:
        outcome.refused += [
            f"{name} belongs to a {record['kind']} job that is still running; wait until it "
            "finishes, or cancel it, before deleting its files."
            for _, _, name in wanted
        ]
        return
    for key, sub, name in wanted:
        if sub in AREAS.values() and _delete_one(record, sub, name):
            outcome.deleted.append(key)
            audit.record(user, "file.delete", key, client=client)
        else:
            outcome.refused.append(f"There is no file {name} of yours.")
    quotas.settle(job_id)


def _delete_one(record: dict[str, Any], sub: str, name: str) -> bool:
    """Remove the bytes and the record entries of one file; False when there was no such file."""
    job_id = record["id"]
    path = f"jobs/{job_id}/{sub}/{name}"
    if storage.has_files(job_id):
        try:
            if not storage.delete_file(path):
                return False
        except PermanentError:
            return False
    elif record.get("archive"):
        if not _delete_archived(record, f"{sub}/{name}"):
            return False
    else:
        return False
    if sub == "out":
        _forget_output(record, name)
    else:
        _forget_input(job_id, path)
    return True


def _delete_archived(record: dict[str, Any], member: str) -> bool:
    archive = record["archive"]
    if member not in {info.filename for info in storage.archive_members(archive)}:
        return False
    if storage.remove_archive_member(archive, member) == 0:
        get_registry().update(record["id"], archive="")
        record["archive"] = None
    return True


def _forget_output(record: dict[str, Any], name: str) -> None:
    outputs = [o for o in record.get("outputs") or [] if o.get("name") != name]
    record["outputs"] = outputs
    get_registry().update(record["id"], outputs=outputs)


def _forget_input(job_id: str, path: str) -> None:
    """Drop the upload from the kept kwargs (so a retry does not ask for it) and from params."""
    registry = get_registry()
    kwargs = registry.kwargs(job_id)
    dropped: list[dict] = []
    kwargs = _without_ref(kwargs, path, dropped)
    registry.redis.set(registry.kwargs_key(job_id), json.dumps(kwargs), keepttl=True)
    record = registry.get(job_id) or {}
    params = record.get("params") or {}
    for ref in dropped:
        params = _without_summary(params, ref)
    registry.update(job_id, params=params)


def _without_ref(value: Any, path: str, dropped: list[dict]) -> Any:
    if isinstance(value, dict):
        if value.get("path") == path:
            dropped.append(value)
            return None
        kept = {k: _without_ref(v, path, dropped) for k, v in value.items()}
        return {k: v for k, v in kept.items() if v is not None or value[k] is None}
    if isinstance(value, list):
        return [v for v in (_without_ref(v, path, dropped) for v in value) if v is not None]
    return value


def _without_summary(value: Any, ref: dict) -> Any:
    """`value` without the first summarised ref (name, type, size) that describes `ref`."""
    summary = {k: ref[k] for k in ("name", "type", "size") if k in ref}
    if isinstance(value, dict):
        return {k: _without_summary(v, ref) for k, v in value.items() if v != summary}
    if isinstance(value, list):
        return [_without_summary(v, ref) for v in value if v != summary]
    return value
