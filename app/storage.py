"""Where uploads and outputs live: one folder per job, in the store the settings name.

    jobs/<job_id>/in/<safe name>     uploads given to the job
    jobs/<job_id>/out/<safe name>    files the job produced
    archive/<day>/<job_id>.zip       a finished job's files, once maintenance archived them
    schedules/<id>/<safe name>       the data a recurring report keeps

Tasks receive files as *refs*: small dicts naming a key (`path`), the user's original name and
the sniffed type. The store (`app.blobs`) is a local folder or an S3-compatible bucket.

Tasks work on local paths. With a local folder those are the stored files themselves. With a
bucket, each task runs in a scratch folder of its own (`scratch`): `resolve` copies an input
there on first use, outputs are written there and go to the bucket when the task ends, and the
folder is removed. Web processes never need a local copy: they stream (`open_file`).
"""

from __future__ import annotations

import contextlib
import io
import re
import shutil
import tempfile
import threading
import unicodedata
import uuid
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from app import blobs, filetypes
from app.errors import PermanentError
from app.settings import get_settings

CHUNK = 1024 * 1024
MAX_NAME_BYTES = 150
JOB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")

_WINDOWS_RESERVED = {
    "CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$",
    *(f"COM{i}" for i in range(1, 10)),
    *(f"LPT{i}" for i in range(1, 10)),
}
# Bidirectional controls can make "evil\u202egpj.exe" display as "evilexe.jpg".
_BIDI = {chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F, 0x061C)}
_UNSAFE_CHARS = re.compile(r'[<>:"/\\|?*]')
GONE = "That file is not in job storage."


class UploadTooLarge(PermanentError):
    """The upload passed the size cap while it was being saved."""


@dataclass(frozen=True)
class StoredFile:
    """A file in job storage, as tasks and pages see it."""

    path: str  # the key: relative to the storage root, POSIX separators
    name: str  # the user's original file name, for display only
    type: str  # sniffed from the bytes
    size: int
    job_id: str

    def as_ref(self) -> dict:
        return asdict(self)


# the store and the local working copy ----------------------------------------------------

_working = threading.local()


def store() -> blobs.Store:
    return blobs.get_store()


def root() -> Path:
    """The local folder keys resolve under: the store's folder, or this task's scratch."""
    here = store()
    if here.local:
        return here.folder
    return getattr(_working, "root", None) or (here.folder / "processes" / _process_name())


def _process_name() -> str:
    import os
    import socket

    return f"{socket.gethostname()}-{os.getpid()}"


@contextlib.contextmanager
def scratch(job_id: str) -> Iterator[Path]:
    """Run a task in a local folder of its own; its outputs go to the store when it ends.

    With a local store this does nothing: the task works on the stored files themselves.
    Outputs are published even when the task fails, as a local store would keep them.
    """
    here = store()
    if here.local:
        yield here.folder
        return
    folder = here.folder / "tasks" / f"{check_job_id(job_id)}-{uuid.uuid4().hex[:8]}"
    folder.mkdir(parents=True)
    _working.root = folder
    try:
        yield folder
    finally:
        try:
            publish_outputs(job_id)
        finally:
            _working.root = None
            shutil.rmtree(folder, ignore_errors=True)


def unreachable() -> str | None:
    """A sentence when the store does not answer; None when it does."""
    try:
        store().list("health/")
    except blobs.StoreUnavailable as silent:
        return str(silent)
    except Exception as refused:  # credentials, a missing bucket: say which
        return f"The file store refused Nexus ({refused})."
    return None


def sweep_scratch(older_than: float) -> int:
    """Remove this host's scratch folders last touched before `older_than`; how many went."""
    here = store()
    if here.local:
        return 0
    removed = 0
    for area in ("tasks", "copies", "processes"):
        folder = here.folder / area
        for stale in folder.iterdir() if folder.is_dir() else ():
            if stale.stat().st_mtime < older_than:
                shutil.rmtree(stale, ignore_errors=True)
                removed += 1
    return removed


def publish_outputs(job_id: str) -> int:
    """Send the outputs written to the local working copy to the store; returns how many."""
    here = store()
    folder = outputs_dir(job_id)
    if here.local or not folder.is_dir():
        return 0
    sent = 0
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.name.startswith("."):
            here.put(relative(path), path, filetypes.sniff_file(path))
            path.unlink()
            sent += 1
    return sent


def safe_filename(name: str, default: str = "file") -> str:
    """A name that is safe to create on any file system and means nothing to a shell or a path."""
    name = unicodedata.normalize("NFC", name or "")
    name = "".join(ch for ch in name if ch not in _BIDI and unicodedata.category(ch)[0] != "C")
    # Keep only the last path component, whichever separator the sender's OS used.
    name = re.split(r"[\\/]", name)[-1]
    name = _UNSAFE_CHARS.sub("_", name).strip().strip(".").strip()
    stem, dot, suffix = _split_suffix(name)
    if stem.split(".")[0].upper() in _WINDOWS_RESERVED:
        stem = f"_{stem}"
    name = f"{stem}{dot}{suffix}" if stem else ""
    if not name or name in {".", ".."}:
        name = default
    return _truncate(name)


def _split_suffix(name: str) -> tuple[str, str, str]:
    stem, dot, suffix = name.rpartition(".")
    if not stem:
        return name, "", ""
    return stem, dot, suffix


def _truncate(name: str) -> str:
    if len(name.encode("utf-8")) <= MAX_NAME_BYTES:
        return name
    stem, dot, suffix = _split_suffix(name)
    suffix = suffix[:16]
    budget = MAX_NAME_BYTES - len(f"{dot}{suffix}".encode())
    stem_bytes = stem.encode("utf-8")[:budget]
    return stem_bytes.decode("utf-8", errors="ignore") + dot + suffix


def check_job_id(job_id: str) -> str:
    if not JOB_ID.match(job_id or ""):
        raise PermanentError(f"'{job_id}' is not a valid job id.")
    return job_id


def job_dir(job_id: str) -> Path:
    """The job's folder in the local working copy."""
    return root() / "jobs" / check_job_id(job_id)


def inputs_dir(job_id: str) -> Path:
    return job_dir(job_id) / "in"


def outputs_dir(job_id: str) -> Path:
    return job_dir(job_id) / "out"


def _with_counter(name: str, counter: int) -> str:
    stem, dot, suffix = _split_suffix(name)
    return _truncate(f"{stem} ({counter}){dot}{suffix}")


def unique_path(folder: Path, name: str) -> Path:
    """`folder/name`, or `folder/name (2)` and so on when that name is taken."""
    folder.mkdir(parents=True, exist_ok=True)
    candidate = folder / safe_filename(name)
    counter = 2
    while candidate.exists():
        candidate = folder / _with_counter(safe_filename(name), counter)
        counter += 1
    return candidate


def _free_key(folder: str, name: str) -> str:
    """`folder/name` in the store, or `folder/name (2)` and so on when the store has it."""
    listed = [blob.key for blob in store().list(folder + "/")]
    # A name is taken by a file, or by a folder of files (a batch's outputs per input).
    taken = {key.removeprefix(folder + "/").split("/", 1)[0] for key in listed}
    local = root() / folder
    if local.is_dir():
        taken |= {path.name for path in local.iterdir()}
    return f"{folder}/{_free_name(safe_filename(name), taken)}"


def temp_dir() -> Path:
    """Scratch space for work in progress; maintenance empties what is over an hour old."""
    folder = root() / "tmp"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def output_path(job_id: str, name: str) -> Path:
    """A fresh path in the job's output folder for a file called `name`."""
    return unique_path(outputs_dir(job_id), name)


def relative(path: Path) -> str:
    return path.resolve().relative_to(root()).as_posix()


def scope_of(ref: dict | str) -> tuple[str, str]:
    """The storage area and the folder a ref lives in: ("jobs", "<job id>"), ("schedules", ...)."""
    rel = ref.get("path") if isinstance(ref, dict) else ref
    parts = PurePosixPath(str(rel or "").replace("\\", "/")).parts
    if len(parts) < 3 or ".." in parts:
        raise PermanentError(GONE)
    return parts[0], parts[1]


def key_of(ref: dict | str) -> str:
    """The store key a ref names; refuses anything that would leave the storage root."""
    rel = ref["path"] if isinstance(ref, dict) else ref
    posix = PurePosixPath(str(rel).replace("\\", "/"))
    if posix.is_absolute() or ".." in posix.parts or not posix.parts:
        raise PermanentError(GONE)
    path = (root() / posix).resolve()
    if not path.is_relative_to(root()):
        raise PermanentError(GONE)
    return posix.as_posix()


def resolve(ref: dict | str) -> Path:
    """A local path holding a stored file; refuses anything outside the storage root.

    With a bucket the file is copied into the task's scratch folder on first use.
    """
    key = key_of(ref)
    path = root() / key
    if not path.is_file() and not store().local:
        with contextlib.suppress(FileNotFoundError):
            store().fetch(key, path)
    if not path.is_file():
        raise PermanentError(f"The file {PurePosixPath(key).name} is no longer in storage.")
    return path


def exists(ref: dict | str) -> bool:
    """True while the store holds the file a ref names."""
    return store().size(key_of(ref)) is not None


def check_exists(ref: dict | str) -> None:
    """Refuse, with a sentence, a ref whose file the store no longer holds."""
    if not exists(ref):
        name = PurePosixPath(key_of(ref)).name
        raise PermanentError(f"The file {name} is no longer in storage.")


def open_file(ref: dict | str) -> BinaryIO:
    """The stored file, open for reading a chunk at a time; PermanentError once it is gone."""
    key = key_of(ref)
    try:
        return store().open(key)
    except FileNotFoundError:
        name = PurePosixPath(key).name
        raise PermanentError(f"The file {name} is no longer in storage.") from None


def read_bytes(ref: dict | str) -> bytes:
    with open_file(ref) as source:
        return source.read()


def chunks(ref: dict | str) -> Iterator[bytes]:
    """The bytes of a stored file a chunk at a time, for a streamed download."""
    return blobs.iter_chunks(open_file(ref), CHUNK)


@contextlib.contextmanager
def local_copy(ref: dict | str) -> Iterator[Path]:
    """A local path to a stored file for as long as the block runs, for readers that seek."""
    here = store()
    if here.local:
        yield resolve(ref)
        return
    with tempfile.TemporaryDirectory(dir=_ensure(here.folder / "copies")) as folder:
        target = Path(folder) / PurePosixPath(key_of(ref)).name
        try:
            here.fetch(key_of(ref), target)
        except FileNotFoundError:
            raise PermanentError(f"The file {target.name} is no longer in storage.") from None
        yield target


def _ensure(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def save_upload(
    job_id: str, name: str, stream: BinaryIO | bytes, max_bytes: int | None = None
) -> StoredFile:
    """Stream an upload into the job's input folder, enforcing the size cap as bytes arrive."""
    limit = max_bytes if max_bytes is not None else get_settings().max_upload_bytes
    source = io.BytesIO(stream) if isinstance(stream, (bytes, bytearray)) else stream
    here = store()
    if here.local:
        target = unique_path(inputs_dir(job_id), name)
    else:
        target = Path(tempfile.mkdtemp(dir=_ensure(root() / "tmp"))) / "upload"
    try:
        written = _copy_capped(source, target, name, limit)
        kind = filetypes.sniff_file(target)
        if here.local:
            key = relative(target)
        else:
            key = _free_key(f"jobs/{check_job_id(job_id)}/in", name)
            here.put(key, target, kind)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    finally:
        if not here.local:
            shutil.rmtree(target.parent, ignore_errors=True)
    return StoredFile(path=key, name=name, type=kind, size=written, job_id=job_id)


def _copy_capped(source: BinaryIO, target: Path, name: str, limit: int) -> int:
    written = 0
    with open(target, "xb") as out:
        while chunk := source.read(CHUNK):
            written += len(chunk)
            if written > limit:
                raise UploadTooLarge(
                    f"{name} is larger than the {limit // (1024 * 1024)} MB upload limit."
                )
            out.write(chunk)
    return written


def save_text(job_id: str, folder: str, name: str, text: str) -> str:
    """Keep a text in the job's `folder` under a fresh name; returns its key."""
    here = store()
    base = f"jobs/{check_job_id(job_id)}/{folder}"
    if here.local:
        target = unique_path(root() / base, name)
        target.write_text(text, encoding="utf-8")
        return relative(target)
    key = _free_key(base, name)
    with tempfile.TemporaryDirectory(dir=_ensure(root() / "tmp")) as scratch_folder:
        source = Path(scratch_folder) / "text"
        source.write_text(text, encoding="utf-8")
        here.put(key, source, "text")
    return key


def keep_copy(ref: dict | str, folder: str, name: str) -> str:
    """Copy a stored file into `folder` (a key prefix) as `name`; returns the new key."""
    key = f"{folder}/{safe_filename(name, 'data')}"
    if not exists(ref):
        raise PermanentError(f"The file {name} is no longer in storage.")
    store().delete([key])
    store().copy(key_of(ref), key)
    return key


def delete_folder(folder: str) -> None:
    """Remove every file under a key prefix, such as "schedules/<id>"."""
    store().delete([blob.key for blob in store().list(key_of(folder) + "/")])


# a job's files ---------------------------------------------------------------------------


def job_files(job_id: str, area: str = "") -> list[blobs.Blob]:
    """The stored files of a job, or of one of its areas ("in", "out")."""
    prefix = f"jobs/{check_job_id(job_id)}/" + (f"{area}/" if area else "")
    return store().list(prefix)


def has_files(job_id: str) -> bool:
    """True while the store holds any file of the job."""
    if store().local:  # a folder emptied of its last file is removed (FolderStore.delete)
        return job_dir(job_id).is_dir()
    return bool(job_files(job_id))


def list_outputs(job_id: str) -> list[dict]:
    """The files a job produced: name, relative path, size and type."""
    prefix = f"jobs/{check_job_id(job_id)}/out/"
    return [
        {"name": blob.key.removeprefix(prefix), "path": blob.key, "size": blob.size,
         "type": store().type_of(blob.key)}
        for blob in job_files(job_id, "out")
        if not PurePosixPath(blob.key).name.startswith(".")
    ]


def zip_outputs(job_id: str) -> bytes:
    """Every output of a job in one zip archive, for a single download."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for output in list_outputs(job_id):
            with open_file(output) as source, archive.open(output["name"], "w") as member:
                shutil.copyfileobj(source, member, CHUNK)
    return buffer.getvalue()


def gather_outputs(target_job: str, sources: list[tuple[str, str]]) -> list[list[str]]:
    """Copy each (job id, folder)'s outputs into a fresh folder among `target_job`'s outputs.

    Returns each source's copied names ("<folder>/<output>"), in order; a batch gathers its
    files' outputs this way for one zip. The target folder is listed once, not per source.
    """
    base = f"jobs/{check_job_id(target_job)}/out"
    taken = {blob.key.removeprefix(base + "/").split("/", 1)[0]
             for blob in store().list(base + "/")}
    gathered = []
    for source_job, folder in sources:
        prefix = f"jobs/{check_job_id(source_job)}/out/"
        outputs = [blob.key.removeprefix(prefix) for blob in store().list(prefix)]
        if not outputs:
            gathered.append([])
            continue
        named = _free_name(safe_filename(folder), taken)
        taken.add(named)
        for name in outputs:
            store().copy(prefix + name, f"{base}/{named}/{name}")
        gathered.append([f"{named}/{name}" for name in outputs])
    return gathered


def _free_name(name: str, taken: set[str]) -> str:
    candidate, counter = name, 2
    while candidate in taken:
        candidate, counter = _with_counter(name, counter), counter + 1
    return candidate


def delete_outputs(job_id: str) -> None:
    """Remove what a job produced, in the store and in the local working copy."""
    store().delete([blob.key for blob in job_files(job_id, "out")])
    shutil.rmtree(outputs_dir(job_id), ignore_errors=True)


def delete_job_files(job_id: str) -> None:
    store().delete([blob.key for blob in job_files(job_id)])
    shutil.rmtree(job_dir(job_id), ignore_errors=True)


def delete_file(ref: dict | str) -> bool:
    """Remove one stored file; False when there was no such file."""
    key = key_of(ref)
    if store().size(key) is None:
        return False
    store().delete([key])
    return True


@dataclass
class StoredJob:
    """What the store holds of one job: its bytes and when its newest file was written."""

    size: int = 0
    modified: float = 0.0


def stored_jobs() -> dict[str, StoredJob]:
    """Every job with files in the store, from one listing of the whole store."""
    found: dict[str, StoredJob] = {}
    for blob in store().list("jobs/"):
        job = found.setdefault(blob.key.split("/", 2)[1], StoredJob())
        job.size += blob.size
        job.modified = max(job.modified, blob.modified)
    return found


# archives --------------------------------------------------------------------------------


def archive_job(job_id: str, stamp: float) -> tuple[str, int]:
    """Move a job's files into one zip dated by `stamp`'s day; (its key, how many files).

    The files are deleted only after the archive is stored and read back complete.
    """
    day = datetime.fromtimestamp(stamp, tz=UTC).strftime("%Y-%m-%d")
    files = job_files(job_id)
    prefix = f"jobs/{job_id}/"
    with tempfile.TemporaryDirectory(dir=_ensure(store().folder / "copies")) as folder:
        partial = Path(folder) / f"{job_id}.zip"
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
            for blob in files:
                with store().open(blob.key) as source, \
                        archive.open(blob.key.removeprefix(prefix), "w") as member:
                    shutil.copyfileobj(source, member, CHUNK)
        _check_archive(partial, {b.key.removeprefix(prefix): b.size for b in files}, job_id)
        key = _free_key(f"archive/{day}", f"{job_id}.zip")
        store().put(key, partial, "zip")
    delete_job_files(job_id)
    return key, len(files)


def _check_archive(path: Path, expected: dict[str, int], job_id: str) -> None:
    with zipfile.ZipFile(path) as archive:
        if archive.testzip() is not None:
            raise OSError(f"The archive of {job_id} is damaged; the folder was kept.")
        sizes = {info.filename: info.file_size for info in archive.infolist()}
    if sizes != expected:
        raise OSError(f"The archive of {job_id} is incomplete; the folder was kept.")


def delete_archives_before(day: str) -> int:
    """Remove the archives of days before `day` ("YYYY-MM-DD"); returns how many went."""
    old = [blob.key for blob in store().list("archive/")
           if blob.key.split("/")[1] < day and blob.key.endswith(".zip")]
    store().delete(old)
    return len(old)


def archived_outputs(archive: str, types: Mapping[str, str] | None = None) -> list[dict]:
    """The outputs of a job whose folder maintenance moved into a zip archive.

    `types` (name -> type, from the job record) saves inflating members: pages list outputs
    on every refresh. A member it does not cover has only its first bytes inflated to sniff.
    """
    types = types or {}
    with local_copy(archive) as path, zipfile.ZipFile(path) as bundle:
        return [
            {"name": name, "path": archive, "size": info.file_size,
             "type": types.get(name) or _sniff_member(bundle, info), "archived": True}
            for info in bundle.infolist()
            if info.filename.startswith("out/") and not info.is_dir()
            for name in [info.filename.removeprefix("out/")]
        ]


def _sniff_member(bundle: zipfile.ZipFile, info: zipfile.ZipInfo) -> str:
    with bundle.open(info) as member:
        return filetypes.sniff_bytes(member.read(filetypes.SNIFF_BYTES))


def archived_bytes(archive: str, name: str) -> bytes:
    return archived_member(archive, f"out/{name}")


def archived_chunks(archive: str, member: str) -> Iterator[bytes]:
    """One member of a job's archive a chunk at a time, for a streamed download."""
    with local_copy(archive) as path, zipfile.ZipFile(path) as bundle, \
            bundle.open(member) as source:
        while chunk := source.read(CHUNK):
            yield chunk


def zip_archived_outputs(archive: str) -> bytes:
    """The outputs inside a job's archive, repacked as one zip of outputs only."""
    buffer = io.BytesIO()
    with local_copy(archive) as path, zipfile.ZipFile(path) as bundle, \
            zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as out:
        for info in bundle.infolist():
            if info.filename.startswith("out/") and not info.is_dir():
                out.writestr(info.filename.removeprefix("out/"), bundle.read(info.filename))
    return buffer.getvalue()


def archived_files(archive: str, area: str) -> list[dict]:
    """The files of one area ("in" or "out") inside a job's archive: name and size."""
    with local_copy(archive) as path, zipfile.ZipFile(path) as bundle:
        return [
            {"name": info.filename.removeprefix(f"{area}/"), "size": info.file_size,
             "modified": info.date_time}
            for info in bundle.infolist()
            if info.filename.startswith(f"{area}/") and not info.is_dir()
        ]


def archived_member(archive: str, member: str) -> bytes:
    """The bytes of one member ("in/<name>" or "out/<name>") of a job's archive."""
    with local_copy(archive) as path, zipfile.ZipFile(path) as bundle:
        return bundle.read(member)


def archive_members(archive: str) -> list[zipfile.ZipInfo]:
    """The members of a job's archive; empty when it is gone or damaged."""
    try:
        with local_copy(archive) as path, zipfile.ZipFile(path) as bundle:
            return bundle.infolist()
    except (PermanentError, OSError, zipfile.BadZipFile):
        return []


def remove_archive_member(archive: str, member: str) -> int:
    """Rewrite a job's archive without `member`; returns how many files are left in it.

    An archive left empty is removed. The new archive is written beside the old one and
    stored over it, so a crash leaves one whole archive, never half of one.
    """
    key = key_of(archive)
    with local_copy(archive) as path:
        partial = path.with_name(path.name + ".partial")
        with zipfile.ZipFile(path) as old, \
                zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as new:
            kept = [info for info in old.infolist() if info.filename != member]
            for info in kept:
                new.writestr(info, old.read(info.filename))
        left = sum(1 for info in kept if not info.is_dir())
        if not left:
            store().delete([key])
        elif store().local:
            partial.replace(path)
        else:
            store().put(key, partial, "zip")
    return left
