from __future__ import annotations

import pytest

from app.errors import PermanentError
from app.mail.notifications import NOTIFICATIONS, render_notification

CONTEXTS = {
    "welcome": {"name": "Ann", "app_url": "https://nexus.example.com"},
    "job_finished": {
        "job_name": "Merge PDFs",
        "job_id": "j-1",
        "summary": "12 pages",
        "link": "https://nexus.example.com/jobs/j-1",
    },
    "job_failed": {"job_name": "Merge PDFs", "job_id": "j-1", "error": "The file is not a PDF."},
    "report_ready": {"report_name": "Q3 sales", "period": "July–September"},
}


@pytest.mark.parametrize("name", sorted(NOTIFICATIONS))
def test_every_notification_has_a_subject_text_and_html(name: str) -> None:
    out = render_notification(name, CONTEXTS[name])
    first_value = str(next(iter(CONTEXTS[name].values())))
    assert first_value in out.subject
    assert first_value in out.text
    assert "<html" in out.html and "Nexus" in out.html


def test_values_are_escaped_in_html_only() -> None:
    out = render_notification(
        "job_failed", {"job_name": "<b>x</b>", "job_id": "1", "error": "a < b"}
    )
    assert "&lt;b&gt;x&lt;/b&gt;" in out.html and "a &lt; b" in out.html
    assert 'Your job "<b>x</b>" failed' in out.text


def test_optional_values_may_be_left_out() -> None:
    out = render_notification("report_ready", {"report_name": "Q3"})
    assert "among the outputs" in out.text


def test_a_missing_value_is_a_clear_sentence() -> None:
    with pytest.raises(PermanentError) as caught:
        render_notification("job_failed", {"job_name": "x"})
    assert str(caught.value) == "The job failed notification needs job_id and error."


def test_an_unknown_value_or_template_is_refused() -> None:
    with pytest.raises(PermanentError, match="does not use nmae; it takes name and app_url"):
        render_notification("welcome", {"name": "Ann", "nmae": "typo"})
    with pytest.raises(PermanentError, match="no notification called 'goodbye'"):
        render_notification("goodbye", {})
    with pytest.raises(PermanentError, match="must be text or a number"):
        render_notification("welcome", {"name": ["Ann"]})
