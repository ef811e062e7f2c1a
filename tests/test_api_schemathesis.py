"""The whole JSON API, fuzzed from its own OpenAPI document (schemathesis).

Against a real ``tessera serve`` process and the test database, on a clinic's host with
scheduling enabled and an owner's API token: for every operation the document lists, a
fixed number of generated requests that fit the document and as many that do not, with a
fixed seed (the same requests on every run). Each answer must be

* not a server error (no 5xx),
* a status code the document declares for that operation, and
* of a content type the document declares for that status.

A new route is covered as soon as it is in the document. Failures are collected over the
whole run and reported together, one line per operation and problem.
"""

from __future__ import annotations

import httpx
import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import content_type_conformance, status_code_conformance

from tests.test_practice_api import bearer

#: generated requests per operation and generation mode (about 100 operations)
EXAMPLES = 4
SEED = 20261203
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance]

pytestmark = pytest.mark.slow


def _run_operation(operation, mode, base_url, headers, failures: list[str]) -> None:
    @hypothesis.seed(SEED)
    @hypothesis.settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
    def run(case) -> None:
        response = case.call(base_url=base_url, headers=headers, timeout=30)
        try:
            case.validate_response(response, checks=CHECKS)
        except (AssertionError, FailureGroup) as exc:  # one line per problem found
            problems = getattr(exc, "exceptions", None) or [exc]
            for problem in problems:
                title = getattr(problem, "title", None) or str(problem).strip().splitlines()[0]
                failures.append(
                    f"{operation.method.upper()} {operation.path} ({mode.value}) -> "
                    f"{response.status_code} {response.headers.get('content-type', '')}: {title}"
                )

    try:
        run()
    except hypothesis.errors.Unsatisfiable:
        # nothing to get wrong (no parameters and no body): there are no negative cases
        assert mode is GenerationMode.NEGATIVE, f"{operation.method} {operation.path}: no positive case"


async def test_the_api_answers_what_its_document_says(live_server, db, make_tenant, make_user):
    tenant = await make_tenant(plugins=("scheduling",), name="Fuzzed Clinic")
    owner = await make_user(tenant, roles=("owner",))
    headers = {**(await bearer(db, tenant, owner)), "host": f"{tenant.slug}.localhost"}
    base_url = f"http://127.0.0.1:{live_server}"
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30) as client:
        document = await client.get("/schema/openapi.json")
    assert document.status_code == 200, document.text
    schema = schemathesis.openapi.from_dict(document.json())
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 50  # the whole API, not an empty document

    failures: list[str] = []
    for operation in sorted(operations, key=lambda op: (op.path, op.method)):
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _run_operation(operation, mode, base_url, headers, failures)
    unique = sorted(set(failures))
    assert not unique, f"{len(unique)} answers the document does not describe:\n" + "\n".join(unique)
