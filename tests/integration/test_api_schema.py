"""Property-based tests generated from the live API's own OpenAPI document (schemathesis):
whatever a client sends that the schema allows, no answer is a 500 or breaks the schema."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from app.auth import User
from tests.support.api import ApiServer, serve_api, token_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def api(session_dir, worker) -> Iterator[ApiServer]:
    """The API with a worker on every queue, so /health/ready is 200 (a 503 is a 5xx)."""
    yield from serve_api(session_dir)


@pytest.fixture(scope="module")
def token() -> str:
    return token_for(User(f"fuzz-{uuid.uuid4().hex[:8]}@example.com", "Fuzz"))


@pytest.fixture(scope="module")
def operations(api) -> list:
    """Every operation of the live server's OpenAPI document."""
    schema = schemathesis.openapi.from_url(f"{api.url}/api/openapi.json")
    schema.config.base_url = api.url
    return [result.ok() for result in schema.get_all_operations()]


# Schemathesis' own pytest loader for fixtures does not run on pytest 9 (it reads a node
# attribute pytest removed), so each operation's strategy is driven by Hypothesis directly.
BOUNDED = settings(max_examples=8, deadline=None, derandomize=True, database=None,
                   suppress_health_check=list(HealthCheck))


def each_case(operation, mode: GenerationMode, check) -> bool:
    """Run `check` on generated cases; False when the operation has no such cases at all (an
    operation without parameters has no invalid input)."""

    @BOUNDED
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case) -> None:
        check(case)

    try:
        run()
    except Unsatisfiable:
        return False
    return True


def test_no_500_and_every_answer_fits_the_schema(operations, token) -> None:
    """Every default check but one: a request the schema allows may still name a kind,
    parameter or job that does not exist, and 422 or 404 (documented) is the right answer."""
    assert len(operations) >= 17
    for operation in operations:
        each_case(operation, GenerationMode.POSITIVE, lambda case: case.call_and_validate(
            headers={"Authorization": f"Bearer {token}"}, timeout=30,
            excluded_checks=[positive_data_acceptance]))


def test_bad_input_is_refused_with_a_problem_never_a_500(operations, token) -> None:
    def check(case) -> None:
        answer = case.call(headers={"Authorization": f"Bearer {token}"}, timeout=30)
        assert answer.status_code < 500, f"{case.method} {case.formatted_path}: {answer.text}"

    tried = [each_case(operation, GenerationMode.NEGATIVE, check) for operation in operations]
    assert sum(tried) >= 10  # every operation that takes parameters


def test_without_a_token_every_answer_is_401(operations) -> None:
    def check(case) -> None:
        answer = case.call(timeout=30)
        if case.path.startswith("/api/v1/"):
            assert answer.status_code in (401, 422), f"{case.method} {case.path}: {answer.text}"
            assert answer.headers["content-type"] == ["application/problem+json"]

    for operation in operations:
        each_case(operation, GenerationMode.POSITIVE, check)
