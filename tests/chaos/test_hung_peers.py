"""Fault: the mail server and the AI provider accept the connection and then say nothing.

Pass: the client timeouts cut each call off, the job goes to RETRY with a sentence saying who
did not answer, and the worker's one thread is free again: a second job gets the same answer
instead of waiting behind a stuck first one.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from app import jobs
from tests.chaos.stack import drop_messages, wait_for
from tests.support.processes import start_worker
from tests.support.users import ADMIN, TESTER

pytestmark = pytest.mark.integration


class SilentServer:
    """Accepts TCP connections and never sends a byte; keeps them open until stopped."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(conn)

    def stop(self) -> None:
        self.sock.close()
        for conn in self.accepted:
            conn.close()


@pytest.fixture
def silent() -> Iterator[SilentServer]:
    server = SilentServer()
    yield server
    server.stop()


def _retrying(job_id: str) -> dict | None:
    record = jobs.get(job_id, user=ADMIN)
    return record if record["state"] == "RETRY" else None


def _both_retry(first: str, second: str) -> tuple[dict, dict]:
    one = wait_for(lambda: _retrying(first), timeout=30, what="the first job retrying")
    two = wait_for(lambda: _retrying(second), timeout=30, what="the second job retrying")
    return one, two


def test_a_mail_server_that_says_nothing_is_cut_off_and_the_job_retries(log_dir, silent):
    env = {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(silent.port), "SMTP_SECURITY": "none",
           "SMTP_TIMEOUT": "2", "MAIL_FROM": "Nexus <nexus@example.com>"}
    worker = start_worker(log_dir, queues=["email"], pool="threads", concurrency=1, env=env)
    try:
        message = {"to": ["ann@example.com"], "subject": "Hello", "text": "Hi Ann"}
        first = jobs.submit("send_email", message, user=TESTER)
        second = jobs.submit("send_email", message, user=TESTER)
        one, two = _both_retry(first, second)
        for job_id in (first, second):
            jobs.cancel(job_id, user=ADMIN)
        assert worker.alive()
    finally:
        worker.stop()
        drop_messages("email", [first, second])
    assert one["error"] == two["error"]
    assert "did not answer within 2 seconds" in one["error"]


def test_an_ai_provider_that_says_nothing_is_cut_off_and_the_job_retries(log_dir, silent):
    env = {"ANTHROPIC_API_KEY": "sk-ant-test", "ANTHROPIC_BASE_URL": f"http://127.0.0.1:{silent.port}",
           "AI_TIMEOUT": "2"}
    worker = start_worker(log_dir, queues=["ai"], pool="threads", concurrency=1, env=env)
    try:
        first = jobs.submit("claude_completion", {"prompt": "Say hello"}, user=TESTER)
        second = jobs.submit("claude_completion", {"prompt": "Say hello again"}, user=TESTER)
        one, two = _both_retry(first, second)
        for job_id in (first, second):
            jobs.cancel(job_id, user=ADMIN)
        assert worker.alive()
    finally:
        worker.stop()
        drop_messages("ai", [first, second])
    assert one["error"] == two["error"]
    assert "did not answer in time" in one["error"]
