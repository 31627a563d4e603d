"""Job parameters on the wire: secrets sealed in the vault, long text in the job folder.

Against the session's real redis-server and storage folder.
"""

from __future__ import annotations

import json
import stat
import uuid

import pytest

from app import storage, vault
from app.connection import get_redis
from app.errors import PermanentError
from app.registry import Registry
from app.settings import get_settings
from app.tasks import params

BODY = "Quarterly figures for the board only. " * 200  # about 7,600 characters


def new_id() -> str:
    return str(uuid.uuid4())


def test_secrets_and_long_text_leave_the_wire_and_come_back() -> None:
    job_id = new_id()
    given = {"password": "pdf-pw-1", "html": BODY, "subject": "Hi", "options": {"api_key": "k-9"},
             "files": [{"path": "jobs/x/in/a.pdf", "name": "a.pdf"}], "token": None}
    packed = params.pack(job_id, given)
    encoded = json.dumps(packed)
    assert "pdf-pw-1" not in encoded and "k-9" not in encoded and "board only" not in encoded
    assert packed["password"] == {"$secret": f"{job_id}:password"}
    assert set(packed["html"]) == {"$file"}
    assert packed["subject"] == "Hi" and packed["token"] is None
    assert packed["files"] == given["files"]
    assert params.unpack(job_id, packed) == given


def test_a_sealed_secret_is_encrypted_and_expires() -> None:
    job_id = new_id()
    params.pack(job_id, {"password": "pdf-pw-2"})
    key = f"{get_settings().registry_prefix}:vault:{job_id}"
    raw = get_redis().hgetall(key)
    assert raw and all("pdf-pw-2" not in value for value in raw.values())
    assert 0 < get_redis().ttl(key) <= vault.ttl()
    key_file = get_settings().var_dir / "secrets.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_a_forgotten_secret_asks_for_the_password_again() -> None:
    job_id = new_id()
    packed = params.pack(job_id, {"password": "pdf-pw-3"})
    vault.forget(job_id)
    with pytest.raises(PermanentError, match="give the password again"):
        params.unpack(job_id, packed)


def test_references_open_only_inside_their_own_job() -> None:
    owner, other = new_id(), new_id()
    packed = params.pack(owner, {"password": "pdf-pw-4", "text": BODY})
    with pytest.raises(PermanentError, match="password"):
        params.unpack(other, {"password": packed["password"]})
    with pytest.raises(PermanentError, match="not its own"):
        params.unpack(other, {"text": packed["text"]})
    outside = {"$file": f"jobs/{other}/in/../../{owner}/params/text.txt"}
    with pytest.raises(PermanentError):
        params.unpack(other, {"text": outside})


def test_text_removed_with_the_job_folder_is_reported() -> None:
    job_id = new_id()
    packed = params.pack(job_id, {"text": BODY})
    storage.delete_job_files(job_id)
    with pytest.raises(PermanentError, match="no longer kept"):
        params.unpack(job_id, packed)


def test_kept_kwargs_expire_and_hold_secret_refs_but_no_secret(redis_client) -> None:
    registry = Registry(redis_client, prefix=f"t-{uuid.uuid4().hex[:8]}", kwargs_ttl=600)
    job_id = new_id()
    ref = {"$secret": f"{job_id}:password"}
    registry.create(job_id, kind="process_pdf", name="app.tasks.file_tasks.process_pdf",
                    queue="files", owner="ada",
                    params={"password": ref, "api_key": "plain-k", "operations": ["merge"]})
    assert registry.kwargs(job_id) == {"password": ref, "operations": ["merge"]}
    assert 0 < redis_client.ttl(registry.kwargs_key(job_id)) <= 600
    assert registry.get(job_id)["params"]["password"] == "********"
