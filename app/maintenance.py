"""Housekeeping: retention, temp files, dead letters, orphaned jobs and archives of old folders.

Every function takes `now` so tests can move the clock; the maintenance tasks pass nothing.
Orphaned jobs (left running by a worker that vanished with their message) are ended here too.
"""

from __future__ import annotations

import contextlib
import time
from datetime import UTC, datetime
from pathlib import Path

from app import audit, quotas, storage, vault
from app.connection import get_registry
from app.errors import PermanentError
from app.mail.store import ScheduleStore
from app.monitor import priority_list_names
from app.settings import get_settings
from app.tasks.presence import worker_key

DAY = 86400
TEMP_MAX_AGE = 3600
SCRATCH_MAX_AGE = 3 * 3600  # past the longest hard time limit (ocr: an hour)


def _now(now: float | None) -> float:
    return time.time() if now is None else now


def _age(path: Path, now: float) -> float:
    return now - path.stat().st_mtime


def cleanup_temp_files(now: float | None = None, max_age: float = TEMP_MAX_AGE) -> dict:
    """Delete temp files older than `max_age` seconds; returns how many and how many bytes."""
    now = _now(now)
    removed = freed = 0
    folder = storage.temp_dir()
    for path in sorted(folder.rglob("*"), reverse=True):
        if path.is_file() and _age(path, now) > max_age:
            freed += path.stat().st_size
            path.unlink(missing_ok=True)
            removed += 1
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()
    # Scratch folders a killed worker left on this host; a live task is younger than this.
    removed += storage.sweep_scratch(older_than=now - SCRATCH_MAX_AGE)
    return {"removed": removed, "freed_bytes": freed}


def cleanup_old_results(now: float | None = None, retention_days: int | None = None) -> dict:
    """Apply the retention: finished jobs older than it leave the registry and storage."""
    now = _now(now)
    days = retention_days or get_settings().retention_days
    cutoff = now - days * DAY
    registry = get_registry()
    old_ids = [
        job_id for job_id in registry.ids_between(0, cutoff)
        if registry.state(job_id) in ("SUCCESS", "FAILURE", "REVOKED")
    ]
    quotas.release(old_ids)  # their files stop counting against their owners' storage
    for job_id in old_ids:
        storage.delete_job_files(job_id)
    trimmed = registry.trim(older_than=cutoff)
    orphans = _delete_orphan_folders(cutoff)
    archives = _delete_old_archives(cutoff)
    audit.trim(now)
    return {"jobs_removed": trimmed, "folders_removed": len(old_ids) + orphans,
            "archives_removed": archives}


def recount_storage() -> dict:
    """Measure every job's files and rebuild each person's storage usage from scratch."""
    totals = quotas.recount_storage()
    return {"owners": len(totals), "bytes": sum(totals.values())}


def _delete_orphan_folders(cutoff: float) -> int:
    """Job folders with no record left, older than the cutoff (jobs trimmed by an older run)."""
    registry = get_registry()
    removed = 0
    for job_id, stored in storage.stored_jobs().items():
        if stored.modified < cutoff and registry.get(job_id) is None:
            storage.delete_job_files(job_id)
            removed += 1
    return removed


def cleanup_failed_tasks(now: float | None = None, retention_days: int | None = None) -> dict:
    """Dead letters older than the retention are removed, records and files alike."""
    now = _now(now)
    days = retention_days or get_settings().retention_days
    registry = get_registry()
    expired = registry.dead_letters_before(now - days * DAY)
    quotas.release(expired)
    for job_id in expired:
        storage.delete_job_files(job_id)
    registry.delete(expired)
    return {"dead_letters_removed": len(expired)}


def archive_old_files(now: float | None = None, older_than_days: int | None = None) -> dict:
    """Move finished jobs' folders older than N days into zip archives dated by job day.

    A folder is deleted only after its archive has been written and read back complete.
    """
    now = _now(now)
    days = older_than_days or get_settings().archive_after_days
    cutoff = now - days * DAY
    registry = get_registry()
    archived, files = 0, 0
    needed = folders_pending_emails_need()
    for job_id, stored in sorted(storage.stored_jobs().items()):
        record = registry.get(job_id)
        if record and record["state"] not in ("SUCCESS", "FAILURE", "REVOKED"):
            continue
        if job_id in needed:
            continue  # a scheduled email, perhaps a year away, attaches a file from it
        stamp = record["submitted_at"] if record else stored.modified
        if stamp >= cutoff:
            continue
        key, count = storage.archive_job(job_id, stamp)
        if record:
            registry.update(job_id, archive=key)
        archived += 1
        files += count
    return {"archived": archived, "files": files}


def folders_pending_emails_need() -> set[str]:
    """Job folders holding an attachment of a scheduled email that has not gone out yet."""
    needed: set[str] = set()
    for entry in ScheduleStore().pending():
        for ref in entry.params.get("attachments") or []:
            with contextlib.suppress(PermanentError):
                area, folder = storage.scope_of(ref)
                if area == "jobs":
                    needed.add(folder)
    return needed


def _delete_old_archives(cutoff: float) -> int:
    """Archive zips of jobs submitted before the cutoff; returns how many went.

    Archives sit in folders named by the day their jobs were submitted, so a whole day folder
    before the cutoff's day holds nothing the retention keeps.
    """
    return storage.delete_archives_before(
        datetime.fromtimestamp(cutoff, tz=UTC).strftime("%Y-%m-%d"))


ORPHAN_ERROR = (
    "The worker running this job stopped and its message was lost, so the job was ended. "
    "Retry it to run it again."
)
ORPHAN_STATES = ("STARTED", "PROGRESS")
# Messages a queue scan looks through before deciding: past this, a job waits for the next run.
ORPHAN_QUEUE_SCAN = 10_000


def end_orphaned_jobs(now: float | None = None, grace: float | None = None) -> dict:
    """End the jobs left running by a worker that vanished and whose message is gone.

    A job is an orphan when it is STARTED or PROGRESS, its worker's heartbeat is missing or
    older than `grace` (ORPHAN_GRACE_SECONDS), its record has not moved for `grace`, and no
    message for it is left anywhere Redis could hand it out again: not unacknowledged (kombu
    restores those), not waiting in its queue. It then ends as FAILURE with a sentence and
    becomes a dead letter, which the person can retry. Returns how many were looked at and ended.
    """
    now = _now(now)
    grace = grace if grace is not None else get_settings().orphan_grace_seconds
    registry = get_registry()
    candidates = [
        job_id for state in ORPHAN_STATES
        for job_id in registry.redis.zrange(registry.index_key("state", state), 0, -1)
    ]
    held = _held_messages(registry.redis)
    ended = 0
    for job_id in candidates:
        if _is_orphan(registry, job_id, now, grace, held) and _end_orphan(registry, job_id):
            ended += 1
    return {"running": len(candidates), "orphans_ended": ended}


def _is_orphan(registry, job_id: str, now: float, grace: float, held: str) -> bool:
    worker, updated, queue = registry.redis.hmget(
        registry.job_key(job_id), "worker", "updated_at", "queue"
    )
    if updated and now - float(updated) < grace:
        return False
    if worker and _worker_alive(registry.redis, worker, now, grace):
        return False
    return job_id not in held and not _waiting_in_queue(registry.redis, queue or "", job_id)


def _worker_alive(client, hostname: str, now: float, grace: float) -> bool:
    beat = client.hget(worker_key(hostname), "heartbeat")
    return bool(beat) and now - float(beat) < grace


def _held_messages(client) -> str:
    """Every unacknowledged message kombu holds, as one string to look job ids up in."""
    return "\n".join(value for _, value in client.hscan_iter("unacked", count=500))


def _waiting_in_queue(client, queue: str, job_id: str) -> bool:
    """True when a message for the job waits in its queue, or the queue is too long to say."""
    if not queue:
        return False
    scanned = 0
    for key in priority_list_names(queue):
        for start in range(0, ORPHAN_QUEUE_SCAN, 1000):
            chunk = client.lrange(key, start, start + 999)
            if any(job_id in message for message in chunk):
                return True
            scanned += len(chunk)
            if scanned >= ORPHAN_QUEUE_SCAN:
                return True  # cannot tell: leave it for a later run rather than guess
            if len(chunk) < 1000:
                break
    return False


def _end_orphan(registry, job_id: str) -> bool:
    ended = registry.transition(job_id, "FAILURE", finished_at=time.time(), error=ORPHAN_ERROR)
    if ended:
        vault.forget(job_id)
        with contextlib.suppress(OSError):
            quotas.settle(job_id)
    return ended
