"""Batch decisions: how files are cut into chunks, the ids they get, each file's outcome line."""

from __future__ import annotations

import pytest

from app.office import batch

MB = 2**20


def sizes(chunks: list[list[int]]) -> list[int]:
    return [len(chunk) for chunk in chunks]


def test_many_small_images_share_chunks_up_to_the_file_cap() -> None:
    costs = [batch.expected_seconds("image", 80_000)] * 500
    chunks = batch.plan_chunks(costs)
    assert sizes(chunks) == [batch.MAX_FILES_PER_CHUNK] * 10
    assert sorted(i for chunk in chunks for i in chunk) == list(range(500))


def test_a_large_pdf_runs_alone_and_first() -> None:
    costs = [batch.expected_seconds("image", 50_000)] * 20
    costs.insert(7, batch.expected_seconds("pdf", 40 * MB))
    chunks = batch.plan_chunks(costs)
    assert chunks[0] == [7]
    assert all(7 not in chunk for chunk in chunks[1:])
    assert sorted(i for chunk in chunks for i in chunk) == list(range(21))


def test_each_chunk_stays_within_the_budget_unless_one_file_exceeds_it() -> None:
    costs = [0.3, 0.9, 2.5, 0.1, 0.7, 0.7, 0.7, 3.0, 0.2]
    chunks = batch.plan_chunks(costs, budget=1.0, max_files=10, min_chunks=1)
    for chunk in chunks:
        assert len(chunk) == 1 or sum(costs[i] for i in chunk) <= 1.0
    assert [2] in chunks and [7] in chunks
    # Files keep their order inside a chunk.
    assert all(chunk == sorted(chunk) for chunk in chunks)


def test_a_small_batch_still_spreads_over_the_workers() -> None:
    costs = [0.2] * 8
    assert len(batch.plan_chunks(costs, min_chunks=4)) == 4
    assert len(batch.plan_chunks(costs, min_chunks=1)) == 1
    assert batch.plan_chunks([0.01]) == [[0]]


def test_no_files_no_chunks_and_nonsense_limits_refused() -> None:
    assert batch.plan_chunks([]) == []
    with pytest.raises(ValueError):
        batch.plan_chunks([1.0], max_files=0)


def test_expected_seconds_grow_with_size_and_know_the_family() -> None:
    assert batch.expected_seconds("pdf", 10 * MB) > batch.expected_seconds("pdf", MB)
    assert batch.expected_seconds("image", None) == batch.COST_MODEL["image"][0]
    assert batch.expected_seconds("pdf", 8 * MB) >= batch.CHUNK_BUDGET_SECONDS
    assert batch.expected_seconds("image", 200_000) < batch.CHUNK_BUDGET_SECONDS / 50


def test_ids_are_stable_across_reruns_and_distinct() -> None:
    batch_id = "0b0e0f43-9f0e-4d1c-9a44-7b0ad1a8c001"
    assert batch.child_id(batch_id, 3) == batch.child_id(batch_id, 3)
    ids = {batch.child_id(batch_id, i) for i in range(100)}
    ids |= {batch.chunk_id(batch_id, i) for i in range(100)}
    assert len(ids) == 200
    assert batch.child_id("another", 3) != batch.child_id(batch_id, 3)


def test_child_outcome_from_a_record() -> None:
    result = {"files": [{"operations": {"info": {"width": 4}}, "warnings": ["w"]}]}
    assert batch.child_outcome("SUCCESS", result) == {
        "ok": True, "error": None, "operations": {"info": {"width": 4}}, "warnings": ["w"],
    }
    assert batch.child_outcome("FAILURE", None, "This file is empty.") == {
        "ok": False, "error": "This file is empty.",
    }
    assert batch.child_outcome(None, None)["error"] == "The file could not be processed."
