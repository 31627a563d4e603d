"""Every task lands on one of the six queues, and every queue has limits inside the timeout."""

from __future__ import annotations

import pytest

from app.settings import QUEUES, get_settings
from config.celery_config import celery_app, time_limits


def _all_tasks() -> dict:
    celery_app.loader.import_default_modules()
    return dict(celery_app.tasks)


def test_every_registered_task_routes_to_a_queue_a_worker_reads() -> None:
    tasks = _all_tasks()
    assert len(tasks) > 10
    for name in tasks:
        route = celery_app.amqp.router.route({}, name)
        assert route["queue"].name in QUEUES, f"{name} would go to {route['queue'].name}"


def test_tasks_route_by_module() -> None:
    expected = {
        "app.tasks.diagnostics.ping": "maintenance",
        "celery.chord_unlock": "maintenance",
    }
    for name in _all_tasks():
        module = name.rsplit(".", 1)[0]
        for suffix, queue in (("email_tasks", "email"), ("file_tasks", "files"),
                              ("ai_tasks", "ai"), ("report_tasks", "reports"),
                              ("ocr_tasks", "ocr"), ("maintenance_tasks", "maintenance")):
            if module.endswith(suffix):
                expected[name] = queue
    for name, queue in expected.items():
        assert celery_app.amqp.router.route({}, name)["queue"].name == queue


def test_reliability_settings() -> None:
    conf = celery_app.conf
    assert conf.task_acks_late and conf.task_reject_on_worker_lost
    assert conf.worker_prefetch_multiplier == 1
    assert conf.task_serializer == "json" and conf.accept_content == ["json"]
    # Extended results would copy kwargs into celery-task-meta-*, and a STARTED result would
    # repeat what the registry records: nothing reads either back.
    assert not conf.task_track_started and not conf.result_extended
    assert conf.worker_send_task_events  # Flower's task list and metrics come from the events
    assert not conf.task_send_sent_event  # a round trip per submit; Flower has task-received
    assert conf.broker_transport_options["priority_steps"] == list(range(10))


@pytest.mark.parametrize("queue", QUEUES)
def test_hard_time_limits_stay_inside_the_visibility_timeout(queue: str) -> None:
    visibility = celery_app.conf.broker_transport_options["visibility_timeout"]
    assert visibility == get_settings().visibility_timeout
    soft, hard = time_limits(queue, visibility)
    assert soft < hard < visibility
    assert time_limits(queue, 20)[1] < 20


def test_each_task_carries_its_queue_time_limits() -> None:
    ping = _all_tasks()["app.tasks.diagnostics.ping"]
    soft, hard = time_limits("maintenance", get_settings().visibility_timeout)
    assert (ping.soft_time_limit, ping.time_limit) == (soft, hard)


def test_ocr_has_its_own_queue_so_file_jobs_never_wait_behind_it() -> None:
    route = celery_app.amqp.router.route({}, "app.tasks.ocr_tasks.ocr_documents")
    assert route["queue"].name == "ocr"
    assert "ocr" in {queue.name for queue in celery_app.conf.task_queues}
    assert time_limits("ocr", 7200)[1] > time_limits("files", 7200)[1]
