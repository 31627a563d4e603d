from app.ai.chunking import estimate_tokens, split_text


def test_short_text_is_one_chunk() -> None:
    assert split_text("A short note.", 100) == ["A short note."]
    assert split_text("", 100) == []


def test_long_text_splits_at_paragraphs_and_loses_nothing() -> None:
    paragraphs = [f"Paragraph {i}. " + "The quarterly figures rose. " * 12 for i in range(20)]
    text = "\n\n".join(paragraphs)
    chunks = split_text(text, 300)
    assert len(chunks) > 1
    assert "".join(chunks) == text
    assert all(estimate_tokens(c) <= 300 for c in chunks)
    # every chunk after the first starts where a paragraph starts
    assert all(c.startswith("Paragraph") for c in chunks)


def test_a_paragraph_bigger_than_the_budget_splits_at_sentences() -> None:
    text = " ".join(f"Sentence number {i} is here." for i in range(200))
    chunks = split_text(text, 50)
    assert "".join(chunks) == text
    assert all(estimate_tokens(c) <= 50 for c in chunks)
    assert all(c.rstrip().endswith(".") for c in chunks)


def test_text_without_spaces_is_still_cut_to_size() -> None:
    text = "数据" * 500 + "x" * 3000
    chunks = split_text(text, 100)
    assert "".join(chunks) == text
    assert all(estimate_tokens(c) <= 100 for c in chunks)


def test_estimate_is_generous_for_english_and_counts_cjk_per_character() -> None:
    assert estimate_tokens("word " * 100) >= 125  # a real tokenizer gives about 100
    assert estimate_tokens("数据分析") == 4
