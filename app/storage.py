"""Where uploads and outputs live: one folder per job under the storage root.

    <storage_dir>/jobs/<job_id>/in/<safe name>     uploads given to the job
    <storage_dir>/jobs/<job_id>/out/<safe name>    files the job produced

Tasks receive files as *refs*: small dicts naming a path relative to the storage root, the
user's original name and the sniffed type. `resolve` turns a ref back into a path and refuses
anything that would leave the storage root.
"""

from __future__ import annotations

import io
import re
import shutil
import unicodedata
import zipfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from app import filetypes
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


class UploadTooLarge(PermanentError):
    """The upload passed the size cap while it was being saved."""


@dataclass(frozen=True)
class StoredFile:
    """A file in job storage, as tasks and pages see it."""

    path: str  # relative to the storage root, POSIX separators
    name: str  # the user's original file name, for display only
    type: str  # sniffed from the bytes
    size: int
    job_id: str

    def as_ref(self) -> dict:
        return asdict(self)


def root() -> Path:
    return get_settings().storage_dir.resolve()


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
    return root() / "jobs" / check_job_id(job_id)


def inputs_dir(job_id: str) -> Path:
    return job_dir(job_id) / "in"


def outputs_dir(job_id: str) -> Path:
    return job_dir(job_id) / "out"


def unique_path(folder: Path, name: str) -> Path:
    """`folder/name`, or `folder/name (2)` and so on when that name is taken."""
    folder.mkdir(parents=True, exist_ok=True)
    candidate = folder / safe_filename(name)
    stem, dot, suffix = _split_suffix(candidate.name)
    counter = 2
    while candidate.exists():
        candidate = folder / _truncate(f"{stem} ({counter}){dot}{suffix}")
        counter += 1
    return candidate


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
        raise PermanentError("That file is not in job storage.")
    return parts[0], parts[1]


def resolve(ref: dict | str) -> Path:
    """The absolute path of a stored file; refuses anything outside the storage root."""
    rel = ref["path"] if isinstance(ref, dict) else ref
    posix = PurePosixPath(str(rel).replace("\\", "/"))
    if posix.is_absolute() or ".." in posix.parts:
        raise PermanentError("That file is not in job storage.")
    path = (root() / posix).resolve()
    if not path.is_relative_to(root()):
        raise PermanentError("That file is not in job storage.")
    if not path.is_file():
        raise PermanentError(f"The file {posix.name} is no longer in storage.")
    return path


def save_upload(
    job_id: str, name: str, stream: BinaryIO | bytes, max_bytes: int | None = None
) -> StoredFile:
    """Stream an upload into the job's input folder, enforcing the size cap as bytes arrive."""
    limit = max_bytes if max_bytes is not None else get_settings().max_upload_bytes
    source = io.BytesIO(stream) if isinstance(stream, (bytes, bytearray)) else stream
    target = unique_path(inputs_dir(job_id), name)
    written = 0
    try:
        with open(target, "xb") as out:
            while chunk := source.read(CHUNK):
                written += len(chunk)
                if written > limit:
                    raise UploadTooLarge(
                        f"{name} is larger than the {limit // (1024 * 1024)} MB upload limit."
                    )
                out.write(chunk)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return StoredFile(
        path=relative(target),
        name=name,
        type=filetypes.sniff_file(target),
        size=written,
        job_id=job_id,
    )


def list_outputs(job_id: str) -> list[dict]:
    """The files a job produced: name, relative path, size and type."""
    folder = outputs_dir(job_id)
    if not folder.is_dir():
        return []
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    return [
        {
            "name": p.relative_to(folder).as_posix(),
            "path": relative(p),
            "size": p.stat().st_size,
            "type": filetypes.sniff_file(p),
        }
        for p in files
    ]


def zip_outputs(job_id: str) -> bytes:
    """Every output of a job in one zip archive, for a single download."""
    buffer = io.BytesIO()
    folder = outputs_dir(job_id)
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for output in list_outputs(job_id):
            archive.write(folder / output["name"], arcname=output["name"])
    return buffer.getvalue()


def archived_outputs(archive: str, types: Mapping[str, str] | None = None) -> list[dict]:
    """The outputs of a job whose folder maintenance moved into a zip archive.

    `types` (name -> type, from the job record) saves inflating members: pages list outputs
    on every refresh. A member it does not cover has only its first bytes inflated to sniff.
    """
    types = types or {}
    with zipfile.ZipFile(resolve(archive)) as bundle:
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
    with zipfile.ZipFile(resolve(archive)) as bundle:
        return bundle.read(f"out/{name}")


def zip_archived_outputs(archive: str) -> bytes:
    """The outputs inside a job's archive, repacked as one zip of outputs only."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(resolve(archive)) as bundle, \
            zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as out:
        for info in bundle.infolist():
            if info.filename.startswith("out/") and not info.is_dir():
                out.writestr(info.filename.removeprefix("out/"), bundle.read(info.filename))
    return buffer.getvalue()


def delete_job_files(job_id: str) -> None:
    shutil.rmtree(job_dir(job_id), ignore_errors=True)


def archived_files(archive: str, area: str) -> list[dict]:
    """The files of one area ("in" or "out") inside a job's archive: name and size."""
    with zipfile.ZipFile(resolve(archive)) as bundle:
        return [
            {"name": info.filename.removeprefix(f"{area}/"), "size": info.file_size,
             "modified": info.date_time}
            for info in bundle.infolist()
            if info.filename.startswith(f"{area}/") and not info.is_dir()
        ]


def archived_member(archive: str, member: str) -> bytes:
    """The bytes of one member ("in/<name>" or "out/<name>") of a job's archive."""
    with zipfile.ZipFile(resolve(archive)) as bundle:
        return bundle.read(member)


def remove_archive_member(archive: str, member: str) -> int:
    """Rewrite a job's archive without `member`; returns how many files are left in it.

    An archive left empty is removed. The new archive is written beside the old one and
    renamed over it, so a crash leaves one whole archive, never half of one.
    """
    path = resolve(archive)
    partial = path.with_name(path.name + ".partial")
    with zipfile.ZipFile(path) as old, zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as new:
        kept = [info for info in old.infolist() if info.filename != member]
        for info in kept:
            new.writestr(info, old.read(info.filename))
    left = sum(1 for info in kept if not info.is_dir())
    if left:
        partial.replace(path)
    else:
        partial.unlink()
        path.unlink()
    return left
