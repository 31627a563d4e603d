"""Fault: a files worker is SIGKILLed twice in the middle of 100 jobs, and restarted each time.

Pass: every job ends SUCCESS, none is left running, each job's outputs are one run's files
(a rerun never writes beside the killed attempt's), and no success is logged twice.
"""

from __future__ import annotations

import threading
import time

import pytest

from app import jobs, storage
from app.connection import get_registry
from tests.chaos.stack import all_finished, running, states, wait_for
from tests.support.processes import Proc, start_worker
from tests.support.users import ADMIN, TESTER
from tests.unit.office import samples

pytestmark = pytest.mark.integration

JOBS = 100
SUBMIT_EVERY = 0.3
# Unacknowledged messages of a dead worker come back after this; short, so the test is too.
FAST_REDELIVERY = {"VISIBILITY_TIMEOUT": "10"}


def _files_worker(log_dir) -> Proc:
    return start_worker(log_dir, queues=["files"], concurrency=2, env=FAST_REDELIVERY)


def _done(job_ids: list[str]) -> int:
    return sum(s == "SUCCESS" for s in states(job_ids).values())


def _running_on(worker: Proc, job_ids: list[str]) -> bool:
    registry = get_registry()
    with registry.redis.pipeline(transaction=False) as pipe:
        for job_id in running(job_ids):
            pipe.hget(registry.job_key(job_id), "worker")
        return worker.hostname in pipe.execute()


def _kill_when(victim: Proc, job_ids: list[str], done: int, log_dir) -> Proc:
    """SIGKILL `victim` in the middle of a job once `done` jobs have succeeded; start another."""
    wait_for(lambda: _done([*job_ids]) >= done, timeout=120, what=f"{done} jobs done")
    wait_for(lambda: _running_on(victim, [*job_ids]), timeout=60, every=0.005,
             what="the victim running a job")
    victim.kill()
    return _files_worker(log_dir)


def _submit_paced(job_ids: list[str]) -> None:
    """The jobs arrive over half a minute, as people's would, so the kills land mid-run."""
    for n in range(JOBS):
        job_ids.append(jobs.submit(
            "process_image", {"operations": ["thumbnail"]},
            files=[(f"photo-{n}.png", samples.png_bytes((1024, 768)))], user=TESTER,
        ))
        time.sleep(SUBMIT_EVERY)


def _success_lines(job_id: str, workers: list[Proc]) -> int:
    line = f"Task app.tasks.file_tasks.process_image[{job_id}] succeeded"
    return sum(w.log().count(line) for w in workers)


def test_killed_files_worker_loses_and_doubles_nothing(log_dir) -> None:
    steady = _files_worker(log_dir)
    victim = _files_worker(log_dir)
    workers = [steady, victim]
    job_ids: list[str] = []
    submitter = threading.Thread(target=_submit_paced, args=(job_ids,))
    submitter.start()
    try:
        victim = _kill_when(victim, job_ids, 15, log_dir)
        workers.append(victim)
        victim = _kill_when(victim, job_ids, 45, log_dir)
        workers.append(victim)
        submitter.join()
        wait_for(lambda: all_finished(job_ids), timeout=240, every=0.5, what="every job finished")
    finally:
        submitter.join()
        for worker in workers:
            worker.stop()

    assert set(states(job_ids).values()) == {"SUCCESS"}
    assert running(job_ids) == []
    killed = [j for j in job_ids if jobs.get(j, user=ADMIN)["attempts"] > 1]
    assert killed, "the kills hit no running job"
    for job_id in job_ids:
        record = jobs.get(job_id, user=ADMIN)
        on_disk = sorted(p.name for p in storage.outputs_dir(job_id).iterdir())
        assert [o["name"] for o in record["outputs"]] == on_disk
        assert len(on_disk) == 1 and "(2)" not in on_disk[0], (job_id, on_disk)
        assert _success_lines(job_id, workers) <= 1
