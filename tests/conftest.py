"""Test session: a private redis-server on a free port and a private storage folder.

Modules marked with `object_store.BOTH_STORES` run twice: on the storage folder, and on an S3
bucket served by moto's wire-protocol server, through boto3 as in production.

The environment is set before any app module loads settings, so app code under test and the
worker subprocesses all talk to this server and never to a shared Redis.
NEXUS_TEST_REDIS_URL points the suite at an existing server instead.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
import redis

from app.runtime import redis_server
from app.settings import get_settings
from tests.support import object_store
from tests.support.processes import Proc, start_worker

_SESSION_DIR = Path(tempfile.mkdtemp(prefix="nexus-tests-"))
_SERVER: redis_server.RedisProcess | None = None


def pytest_configure(config: pytest.Config) -> None:
    global _SERVER
    url = os.environ.get("NEXUS_TEST_REDIS_URL")
    if not url:
        _SERVER = redis_server.start(_SESSION_DIR / "redis", appendonly=True)
        url = _SERVER.url
    os.environ.update(
        {
            "REDIS_URL": url,
            "STORAGE_DIR": str(_SESSION_DIR / "storage"),
            "VAR_DIR": str(_SESSION_DIR / "var"),
            "REGISTRY_PREFIX": "nexus",
            # The suite acts as a few people many times over; tests/integration/test_quotas.py
            # proves each quota with per-person overrides instead.
            "JOBS_PER_MINUTE": "100000",
            "EMAILS_PER_DAY": "1000000",
            "BULK_MAX_RECIPIENTS": "100000",
            "AI_TOKENS_PER_DAY": "1000000000",
        }
    )
    for secret in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "OPENAI_BASE_URL", "RESULT_BACKEND"):
        os.environ.pop(secret, None)
    config.addinivalue_line("markers", "integration: needs the real Redis and worker processes")


def pytest_unconfigure(config: pytest.Config) -> None:
    if _SERVER is not None:
        _SERVER.stop()
    shutil.rmtree(_SESSION_DIR, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_url() -> str:
    return os.environ["REDIS_URL"]


@pytest.fixture(scope="session")
def session_dir() -> Path:
    return _SESSION_DIR


@pytest.fixture
def redis_client(redis_url: str) -> redis.Redis:
    return redis.Redis.from_url(redis_url, decode_responses=True)


@pytest.fixture(scope="session")
def s3_server() -> object_store.S3Server:
    server = object_store.start_s3()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def storage_backend(request: pytest.FixtureRequest, session_dir: Path) -> str:
    """Which store this module's app code and workers use: "local" unless parametrized."""
    backend = getattr(request, "param", "local")
    if backend == "local":
        yield backend
        return
    server = request.getfixturevalue("s3_server")
    scratch = Path(tempfile.mkdtemp(prefix="scratch-", dir=session_dir))
    with object_store.environment(server.env(scratch)):
        get_settings.cache_clear()
        yield backend
    get_settings.cache_clear()


@pytest.fixture(scope="module")
def worker(redis_url: str, session_dir: Path, storage_backend: str) -> Proc:
    """A real worker consuming every queue, for the tests of one module."""
    logs = session_dir / "logs"
    logs.mkdir(exist_ok=True)
    proc = start_worker(logs, concurrency=2)
    yield proc
    proc.stop()


@pytest.fixture
def log_dir(session_dir: Path) -> Path:
    logs = session_dir / "logs"
    logs.mkdir(exist_ok=True)
    return logs
