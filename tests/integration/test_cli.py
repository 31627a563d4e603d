"""The `nexus` console script end to end: the installed command, a live API, a real worker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.auth import User
from tests.support.api import ApiServer, serve_api, token_for
from tests.unit.office import samples

pytestmark = pytest.mark.integration
NEXUS = Path(sys.executable).with_name("nexus")


@pytest.fixture(scope="module")
def api(session_dir, worker) -> Iterator[ApiServer]:
    yield from serve_api(session_dir)


@pytest.fixture
def nexus(api, tmp_path):
    """Run the console script as a person with their own token, from a scratch folder."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEXUS_")}
    env.update(NEXUS_URL=api.url,
               NEXUS_TOKEN=token_for(User(f"cli-{uuid.uuid4().hex[:8]}@example.com", "Cli")))

    def run(*args: str, token: str | None = None) -> subprocess.CompletedProcess:
        wanted = {**env, **({"NEXUS_TOKEN": token} if token is not None else {})}
        return subprocess.run([str(NEXUS), *args], cwd=tmp_path, env=wanted,
                              capture_output=True, text=True, timeout=120)

    return run


def test_the_console_script_is_installed() -> None:
    assert NEXUS.is_file(), "make install installs the package, and with it bin/nexus"


def test_submit_with_a_file_wait_list_get_and_download(nexus, tmp_path) -> None:
    picture = tmp_path / "photo.png"
    picture.write_bytes(samples.png_bytes((120, 80)))
    done = nexus("submit", "process_image", str(picture), "--op", "thumbnail", "--op", "info",
                 "--wait")
    assert done.returncode == 0, done.stderr
    job_id = done.stderr.strip().splitlines()[0]
    result = json.loads(done.stdout)
    assert result["files"][0]["file"] == "photo.png"

    listed = nexus("jobs", "--state", "success")
    assert listed.returncode == 0 and job_id in listed.stdout and "process_image" in listed.stdout
    record = json.loads(nexus("get", job_id).stdout)
    assert record["state"] == "SUCCESS" and record["outputs"]

    saved = nexus("download", job_id, "-o", "out")
    assert saved.returncode == 0, saved.stderr
    written = [Path(tmp_path, line) for line in saved.stdout.split()]
    assert written and all(p.is_file() and p.stat().st_size > 0 for p in written)
    assert {p.name for p in written} == {Path(o["name"]).name for o in record["outputs"]}
    zipped = nexus("download", job_id, "-o", "out", "--zip")
    assert zipped.returncode == 0 and (tmp_path / "out" / f"{job_id}.zip").is_file()


def test_a_failed_job_exits_1_and_retry_and_cancel(nexus) -> None:
    failed = nexus("submit", "sample_job", "-p", "steps=1", "-p", "step_seconds=0",
                   "-p", "fail=true", "--wait")
    assert failed.returncode == 1
    assert "FAILURE: The sample job was asked to fail." in failed.stderr
    job_id = failed.stderr.strip().splitlines()[0]

    retried = nexus("retry", job_id)
    assert retried.returncode == 0
    new_id = retried.stdout.strip()
    assert new_id != job_id
    long = nexus("submit", "sample_job", "-p", "steps=50", "-p", "step_seconds=0.5")
    cancelled = nexus("cancel", long.stdout.strip())
    assert cancelled.returncode == 0 and cancelled.stdout.split()[-1] == "REVOKED"
    watched = nexus("watch", long.stdout.strip())
    assert watched.returncode == 1 and "REVOKED: Cancelled by the user." in watched.stderr


def test_refusals_exit_2_with_the_sentence(nexus) -> None:
    wrong = nexus("jobs", token="nexus_" + "z" * 43)
    assert wrong.returncode == 2
    assert "Nexus refused (401): This API token is not valid" in wrong.stderr
    missing = nexus("jobs", token="")
    assert missing.returncode == 2 and "Set NEXUS_TOKEN" in missing.stderr
    unknown = nexus("submit", "make_coffee")
    assert unknown.returncode == 2 and "There is no job called 'make_coffee'." in unknown.stderr
    bad = nexus("submit", "sample_job", "-p", "steps=lots")
    assert bad.returncode == 2 and "'steps' must be int, not 'lots'." in bad.stderr
    nobody = nexus("get", str(uuid.uuid4()))
    assert nobody.returncode == 2 and "There is no such job." in nobody.stderr
    usage = nexus("submit")
    assert usage.returncode == 2
