"""The embedded Redis requires a password kept under var/, and `ensure` hands it on in the URL."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from app.runtime import redis_server
from app.settings import redact_url

pytestmark = pytest.mark.integration


def test_the_password_file_is_private_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "var" / "redis.password"
    first = redis_server.password_file(path)
    assert len(first) >= 24 and path.stat().st_mode & 0o777 == 0o600
    assert redis_server.password_file(path) == first


def test_ensure_starts_a_server_that_refuses_clients_without_the_password(tmp_path: Path) -> None:
    port = redis_server.free_port()
    bare = f"redis://127.0.0.1:{port}/0"
    url, server = redis_server.ensure(bare, tmp_path / "redis", password="s3cret-pw")
    assert server is not None
    try:
        assert url == f"redis://:s3cret-pw@127.0.0.1:{port}/0"
        assert redis.Redis.from_url(url).ping()
        with pytest.raises(redis.AuthenticationError):
            redis.Redis.from_url(bare).ping()
        cmdline = Path(f"/proc/{server.process.pid}/cmdline").read_bytes()
        assert b"s3cret-pw" not in cmdline  # given on stdin, so `ps` cannot show it
        # A second launch finds the server still up and reuses it rather than clash on the port.
        assert redis_server.ensure(bare, tmp_path / "redis", password="s3cret-pw") == (url, None)
        assert "s3cret-pw" not in redact_url(url)
    finally:
        server.stop()


def test_a_password_in_the_url_wins_over_the_generated_one(tmp_path: Path) -> None:
    port = redis_server.free_port()
    url, server = redis_server.ensure(f"redis://:mine@127.0.0.1:{port}/0", tmp_path / "redis",
                                      password="generated")
    assert server is not None
    try:
        assert url == f"redis://:mine@127.0.0.1:{port}/0" and redis.Redis.from_url(url).ping()
    finally:
        server.stop()


def test_a_password_with_spaces_quotes_and_url_escapes_works(tmp_path: Path) -> None:
    password = 'a b"c\\d%/@'
    url, server = redis_server.ensure(f"redis://127.0.0.1:{redis_server.free_port()}/0",
                                      tmp_path / "redis", password=password)
    try:
        assert redis.Redis.from_url(url).ping()
        assert redis.Redis.from_url(url).connection_pool.connection_kwargs["password"] == password
    finally:
        server.stop()
