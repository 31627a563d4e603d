"""A real S3 wire-protocol server for the test session: moto's, reached through boto3."""

from __future__ import annotations

import contextlib
import logging
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from tests.support.processes import free_port

BUCKET = "nexus-tests"
# For a module whose tests must hold on both stores: `pytestmark = BOTH_STORES`.
BOTH_STORES = [
    pytest.mark.parametrize("storage_backend", ["local", "s3"], indirect=True, scope="module"),
    pytest.mark.usefixtures("storage_backend"),
]
ACCESS_KEY = "nexus-test-key"
SECRET_KEY = "nexus-test-secret-value"


@dataclass
class S3Server:
    """A running moto server with one bucket; `env` names a fresh prefix in it."""

    server: ThreadedMotoServer
    endpoint: str

    def client(self) -> Any:
        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)

    def env(self, scratch: Path, prefix: str | None = None) -> dict[str, str]:
        """The settings that point Nexus at this server, under a prefix of its own."""
        prefix = prefix or uuid.uuid4().hex[:8]
        return {
            "STORAGE_URL": f"s3://{BUCKET}/{prefix}",
            "S3_ENDPOINT_URL": self.endpoint,
            "S3_REGION": "us-east-1",
            "S3_ACCESS_KEY_ID": ACCESS_KEY,
            "S3_SECRET_ACCESS_KEY": SECRET_KEY,
            "SCRATCH_DIR": str(scratch),
        }

    def keys(self, prefix: str = "") -> list[str]:
        """Every key in the bucket under `prefix`."""
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=BUCKET,
                                                                         Prefix=prefix)
        return [item["Key"] for page in pages for item in page.get("Contents", [])]

    def stop(self) -> None:
        self.server.stop()


def start_s3() -> S3Server:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # a line per request otherwise
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    running = S3Server(server, f"http://127.0.0.1:{port}")
    running.client().create_bucket(Bucket=BUCKET)
    return running


@contextlib.contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables for the block, then put back what was there."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
