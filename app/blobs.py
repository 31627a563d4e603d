"""Where the bytes of job storage are kept: a local folder or an S3-compatible bucket.

A store holds *blobs* named by keys such as "jobs/<id>/out/report.pdf". `app.storage` is the
only caller; it decides names, checks ownership and sizes, and uses a store for the bytes.

The S3 store uses boto3 rather than s3fs: it is synchronous like the rest of the workers, its
managed transfers stream large files in parts, and it does not pin botocore to the versions
aiobotocore supports. Keys are stored under the URL's prefix; a file's sniffed type travels
with it as object metadata, because sniffing an Office file needs all of its bytes.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import Any, BinaryIO, Protocol
from urllib.parse import urlparse

from app import filetypes
from app.errors import TransientError, Unavailable
from app.settings import Settings, get_settings

TYPE_METADATA = "nexus-type"


class StoreUnavailable(TransientError, Unavailable):
    """The object store did not answer: a task retries, a page or the API says so (503)."""


@dataclass(frozen=True)
class Blob:
    """One stored file: its key, its size in bytes and when it was last written (epoch)."""

    key: str
    size: int
    modified: float


class Store(Protocol):
    """The few things Nexus asks of the place its files live."""

    local: bool  # True when every key is also a file under `folder`, so no copies are needed
    folder: Path

    def put(self, key: str, source: Path, kind: str) -> None: ...
    def open(self, key: str) -> BinaryIO: ...
    def fetch(self, key: str, target: Path) -> None: ...
    def size(self, key: str) -> int | None: ...
    def type_of(self, key: str) -> str: ...
    def list(self, prefix: str) -> list[Blob]: ...
    def delete(self, keys: list[str]) -> None: ...
    def copy(self, source: str, target: str) -> None: ...


class FolderStore:
    """Blobs as files under one folder: the default, for a single machine or a shared disk."""

    local = True

    def __init__(self, folder: Path) -> None:
        self.folder = folder.resolve()

    def path(self, key: str) -> Path:
        return self.folder / key

    def put(self, key: str, source: Path, kind: str) -> None:
        target = self.path(key)
        if source.resolve() != target:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)

    def open(self, key: str) -> BinaryIO:
        return open(self.path(key), "rb")

    def fetch(self, key: str, target: Path) -> None:
        if self.path(key) != target.resolve():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(self.path(key), target)

    def size(self, key: str) -> int | None:
        path = self.path(key)
        return path.stat().st_size if path.is_file() else None

    def type_of(self, key: str) -> str:
        return filetypes.sniff_file(self.path(key))

    def list(self, prefix: str) -> list[Blob]:
        base = self.path(prefix.rstrip("/"))
        if not base.is_dir():
            return []
        found = []
        for path in sorted(base.rglob("*")):
            if path.is_file():
                stat = path.stat()
                key = path.relative_to(self.folder).as_posix()
                found.append(Blob(key, stat.st_size, stat.st_mtime))
        return found

    def delete(self, keys: list[str]) -> None:
        for key in keys:
            self.path(key).unlink(missing_ok=True)
        for key in keys:
            _remove_empty_parents(self.path(key).parent, self.folder)

    def copy(self, source: str, target: str) -> None:
        destination = self.path(target)
        destination.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(self.path(source), destination)  # outputs never change once written
        except OSError:
            shutil.copy2(self.path(source), destination)


def _remove_empty_parents(folder: Path, stop: Path) -> None:
    while folder != stop and folder.is_relative_to(stop):
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent


class BucketStore:
    """Blobs as objects in an S3-compatible bucket, under a key prefix."""

    local = False

    def __init__(self, bucket: str, prefix: str, settings: Settings) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.folder = settings.scratch_dir.resolve()
        self._settings = settings
        self._clients: dict[int, object] = {}
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        # boto3 clients may be shared by threads but not across fork: one per process.
        pid = os.getpid()
        with self._lock:
            if pid not in self._clients:
                self._clients = {pid: _s3_client(self._settings)}
            return self._clients[pid]

    def _key(self, key: str) -> str:
        return self.prefix + key

    def put(self, key: str, source: Path, kind: str) -> None:
        with _answering():
            self.client.upload_file(str(source), self.bucket, self._key(key),
                                    ExtraArgs={"Metadata": {TYPE_METADATA: kind}})

    def open(self, key: str) -> BinaryIO:
        with _answering():
            try:
                return self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"]
            except Exception as exc:
                if not _is_missing(exc):
                    raise
                raise FileNotFoundError(key) from None

    def fetch(self, key: str, target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        with _answering():
            try:
                self.client.download_file(self.bucket, self._key(key), str(partial))
            except Exception as exc:
                partial.unlink(missing_ok=True)
                if not _is_missing(exc):
                    raise
                raise FileNotFoundError(key) from None
        partial.replace(target)

    def _head(self, key: str) -> dict | None:
        with _answering():
            try:
                return self.client.head_object(Bucket=self.bucket, Key=self._key(key))
            except Exception as exc:
                if not _is_missing(exc):
                    raise
                return None

    def size(self, key: str) -> int | None:
        head = self._head(key)
        return None if head is None else int(head["ContentLength"])

    def type_of(self, key: str) -> str:
        head = self._head(key) or {}
        kind = (head.get("Metadata") or {}).get(TYPE_METADATA)
        if kind:
            return kind
        with self.open(key) as body:  # written by something other than Nexus
            return filetypes.sniff_bytes(body.read(filetypes.SNIFF_BYTES))

    def list(self, prefix: str) -> list[Blob]:
        found = []
        paginator = self.client.get_paginator("list_objects_v2")
        with _answering():
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self._key(prefix)):
                found += [
                    Blob(item["Key"][len(self.prefix):], int(item["Size"]),
                         item["LastModified"].astimezone(UTC).timestamp())
                    for item in page.get("Contents", [])
                ]
        return sorted(found, key=lambda blob: blob.key)

    def delete(self, keys: list[str]) -> None:
        with _answering():
            for start in range(0, len(keys), 1000):  # the most one request may name
                batch = [{"Key": self._key(k)} for k in keys[start:start + 1000]]
                self.client.delete_objects(Bucket=self.bucket,
                                           Delete={"Objects": batch, "Quiet": True})

    def copy(self, source: str, target: str) -> None:
        with _answering():
            self.client.copy({"Bucket": self.bucket, "Key": self._key(source)},
                             self.bucket, self._key(target))


def _s3_client(settings: Settings) -> Any:
    import boto3
    from botocore.config import Config

    secret = settings.s3_secret_access_key
    return boto3.client(
        "s3",
        endpoint_url=settings.s3_endpoint_url or None,
        region_name=settings.s3_region,
        aws_access_key_id=settings.s3_access_key_id or None,
        aws_secret_access_key=secret.get_secret_value() if secret else None,
        config=Config(retries={"max_attempts": 4, "mode": "standard"},
                      connect_timeout=5, read_timeout=60, s3={"addressing_style": "path"}),
    )


def _is_missing(exc: BaseException) -> bool:
    """True when S3 answered that the object does not exist."""
    from botocore.exceptions import ClientError

    code = exc.response.get("Error", {}).get("Code") if isinstance(exc, ClientError) else None
    return code in {"404", "NoSuchKey", "NotFound"}


class _answering:
    """Turns "the store did not answer" into StoreUnavailable; every other error passes."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, exc: BaseException | None, tb: Any) -> bool:
        if exc is None:
            return False
        from botocore.exceptions import ConnectionError as BotoConnectionError
        from botocore.exceptions import ConnectTimeoutError, EndpointConnectionError

        if isinstance(exc, (BotoConnectionError, ConnectTimeoutError, EndpointConnectionError)):
            raise StoreUnavailable(f"The file store did not answer ({exc}).") from exc
        return False


def iter_chunks(stream: BinaryIO, size: int = 1024 * 1024) -> Iterator[bytes]:
    """The bytes of an open stored file, a chunk at a time, closing it at the end."""
    try:
        while chunk := stream.read(size):
            yield chunk
    finally:
        stream.close()


_STORES: dict[tuple, Store] = {}


def get_store() -> Store:
    """The store the settings name; one per process and configuration."""
    settings = get_settings()
    key = (settings.storage_url, str(settings.storage_dir), str(settings.scratch_dir),
           settings.s3_endpoint_url)
    if key not in _STORES:
        _STORES[key] = _open_store(settings)
    return _STORES[key]


def _open_store(settings: Settings) -> Store:
    url = urlparse(settings.storage_url)
    if url.scheme == "s3":
        return BucketStore(url.netloc, url.path, settings)
    if url.scheme == "file":
        return FolderStore(Path(url.path))
    return FolderStore(settings.storage_dir)
