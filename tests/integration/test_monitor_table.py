"""The monitor's job table: titles a person recognises, honest counts, a readable chart."""

from __future__ import annotations

from pathlib import Path

import pytest

from app import jobs, monitor
from app.auth import User
from tests.support.pages import page_test

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
CAROL = User("carol@example.org", "Carol")


@pytest.fixture
def three_queued_jobs():
    """Three jobs waiting for a worker (none runs in this module), cancelled afterwards."""
    ids = [
        jobs.submit("process_pdf", {"operations": ["extract_text"]},
                    files=[(f"minutes-{i}.pdf", b"%PDF-1.4 not really")], user=CAROL)
        for i in range(3)
    ]
    yield ids
    for job_id in ids:
        jobs.cancel(job_id, user=CAROL)


def test_the_table_names_each_job_and_counts_them_plainly(three_queued_jobs) -> None:
    monitor.record_sample()
    at = page_test(str(ROOT / "pages/task_monitor.py"), user=CAROL).run()
    assert not at.exception, at.exception
    captions = " ".join(c.value for c in at.caption)
    assert "3 jobs" in captions and "shown of" not in captions
    table = next(frame.value for frame in at.dataframe if "Title" in frame.value.columns)
    assert sorted(table["Title"]) == ["minutes-0.pdf", "minutes-1.pdf", "minutes-2.pdf"]
    assert list(table["Job"]) == list(reversed(three_queued_jobs))
