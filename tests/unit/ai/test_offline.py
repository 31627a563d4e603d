import pytest

from app.ai import offline

REPORT = (
    "Solar power is growing fast across Europe. Germany installed record solar capacity in "
    "2024, and Spain followed closely.\n\n"
    "Battery storage remains the main bottleneck for solar power. Grid operators warn that "
    "without storage, midday solar surpluses push prices below zero.\n\n"
    "The office cat sat on the mat. Analysts expect solar power and battery storage investment "
    "to double by 2030. Policy makers are drafting new rules for grid connections."
)


def test_summary_quotes_the_central_sentences_in_reading_order() -> None:
    picked = offline.summarize(REPORT, max_sentences=3)
    assert len(picked) == 3
    assert all(sentence in REPORT for sentence in picked)
    assert "The office cat sat on the mat." not in picked
    positions = [REPORT.index(s) for s in picked]
    assert positions == sorted(positions)


def test_key_phrases_find_the_topic() -> None:
    phrases = offline.key_phrases(REPORT, top=5)
    assert phrases[0] == "solar power"
    assert "battery storage" in phrases
    assert "solar" not in phrases  # covered by "solar power"


@pytest.mark.parametrize(
    ("text", "code"),
    [
        (REPORT, "en"),
        ("Der Bericht ist fertig und wir sind mit den Zahlen nicht zufrieden, aber es wird.", "de"),
        ("Le rapport est prêt et nous ne sommes pas contents des chiffres pour le moment.", "fr"),
        ("El informe está listo y no estamos contentos con las cifras, pero es lo que hay.", "es"),
        ("Отчёт готов, но цифры нас пока не радуют.", "ru"),
        ("報告書は完成しましたが、数字にはまだ満足していません。", "ja"),
    ],
)
def test_language_detection(text: str, code: str) -> None:
    assert offline.detect_language(text).code == code


def test_statistics() -> None:
    stats = offline.statistics(REPORT)
    assert stats["paragraphs"] == 3
    assert stats["sentences"] == 7
    assert stats["words"] == len(REPORT.split())
    assert 0 < stats["lexical_diversity"] <= 1


def test_results_say_they_are_offline() -> None:
    result = offline.analyse(REPORT, "summary")
    assert result["provider"] == "offline"
    assert "no AI model" in result["text"]
    assert result["language"]["code"] == "en"
