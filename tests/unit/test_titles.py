"""Every job has a title a person recognises."""

from __future__ import annotations

from app.titles import title_of


def test_an_email_is_called_by_its_subject_and_a_report_by_its_title() -> None:
    assert title_of("send_email", {"to": ["a@x.org"], "subject": "Q3 figures"}) == "Q3 figures"
    assert title_of("generate_analytics_report", {"title": "Sales 2026"}) == "Sales 2026"


def test_a_file_job_is_called_by_its_file_and_says_how_many_more() -> None:
    one = {"files": [{"name": "contract.pdf", "type": "application/pdf", "size": 10}]}
    assert title_of("process_pdf", one) == "contract.pdf"
    three = {"files": [{"name": f"scan-{i}.jpg"} for i in range(3)]}
    assert title_of("batch_process_files", three) == "scan-0.jpg + 2 more"


def test_a_prompt_is_called_by_its_opening_words_clipped() -> None:
    title = title_of("claude_completion", {"prompt": "Write   a " + "very " * 30 + "long note"})
    assert title.startswith("Write a very very") and title.endswith("…") and len(title) == 60
    assert title_of("translate_text", {"text": "Guten Tag"}) == "Translate: Guten Tag"


def test_a_job_without_telling_parameters_is_called_by_its_kind() -> None:
    assert title_of("sample_job", {"steps": 3}) == "Sample job"
    assert title_of("health_check", None) == "Health check"
