"""Schemathesis against the app: every operation, every role, every check it has.

One app on a fresh copy of the API template store for the module (write operations
change it; the tests run in a fixed order with derandomized examples, so every run sends
the same requests). Each role fuzzes every operation with valid (positive) and invalid
(negative) data and every response is checked: no 5xx, status code, content type,
headers and body as documented, negative data rejected, positive data accepted,
authentication enforced. All failures of a role are listed together.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase
from schemathesis import GenerationMode
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.core.failures import FailureGroup
from schemathesis.core.parameters import ParameterLocation

from serving.app import create_app
from tests.utils.api_support import AS_OF, ApiTemplate, settings_for

logger = logging.getLogger(__name__)

# Examples per operation, generation mode and role (13 operations, 2 modes, 4 roles).
MAX_EXAMPLES = 25
ROLES = ["scorer", "collector", "admin", None]


@pytest.fixture(scope="module")
def schema(
    api_template: ApiTemplate, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[schemathesis.BaseSchema]:
    """The app's OpenAPI, bound to the running app (its own store copy for this module)."""
    settings = settings_for(api_template, tmp_path_factory.mktemp("fuzz"))
    # Schemathesis runs the app's lifespan on its first request and keeps it running.
    yield schemathesis.openapi.from_asgi("/openapi.json", create_app(settings))


def _order_invoice_dates(case: schemathesis.Case) -> None:
    """Give a positive invoice event the one rule its schema cannot state.

    JSON Schema cannot compare two fields, so the schema says in words that due_date and
    dispute_date are not before issue_date; the earliest of the drawn dates becomes the
    issue date (the dates themselves stay as drawn).
    """
    body = case.body
    if case.operation.path != "/v1/events/invoices" or not isinstance(body, dict):
        return
    names = [n for n in ("issue_date", "due_date", "dispute_date") if isinstance(body.get(n), str)]
    if "issue_date" in names:
        first = min(names, key=lambda n: body[n])  # ISO dates sort as they fall
        body[first], body["issue_date"] = body["issue_date"], body[first]


def _promise_from_today(case: schemathesis.Case) -> None:
    """Date a positive promise no earlier than the serving day (issue 10: earlier is 422).

    "Not before today" depends on the day, which a schema cannot state.
    """
    body = case.body
    if case.operation.path != "/v1/actions" or not isinstance(body, dict):
        return
    promised = body.get("promised_date")
    if body.get("kind") == "promise" and isinstance(promised, str):
        body["promised_date"] = max(promised, AS_OF.isoformat())


def _key_headers(case: schemathesis.Case, headers: dict[str, str] | None) -> dict | None:
    """The role's key, unless this negative case broke the headers on purpose.

    Sending the real key over a case whose headers were mutated (the key left out, say)
    would turn it back into a valid request, which the negative checks then flag.
    """
    header = case.meta.components.get(ParameterLocation.HEADER) if case.meta else None
    if header is not None and header.mode is GenerationMode.NEGATIVE:
        return None
    return headers


def _all_checks() -> list:
    load_all_checks()
    return list(CHECKS.get_all())


def _fuzz(operation, key: str | None, mode: GenerationMode, checks: list) -> tuple[int, list[str]]:  # type: ignore[no-untyped-def]
    headers = {"X-API-Key": key} if key else None
    sent = 0
    failures: list[str] = []

    @hypothesis.settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        # No shrinking: a failure is reported as found, and the run stays bounded.
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
    def run(case: schemathesis.Case) -> None:
        nonlocal sent
        sent += 1
        if mode is GenerationMode.POSITIVE:
            _order_invoice_dates(case)
            _promise_from_today(case)
        try:
            case.call_and_validate(headers=_key_headers(case, headers), checks=checks)
        except (AssertionError, FailureGroup) as exc:  # how schemathesis reports failures
            failures.append(f"{operation.label} [{mode.value}]: {str(exc)[:1500]}")

    run()
    return sent, failures


@pytest.mark.parametrize("role", ROLES, ids=[r or "no-key" for r in ROLES])
def test_every_operation_conforms_for_every_role(
    schema: schemathesis.BaseSchema, api_template: ApiTemplate, role: str | None
) -> None:
    checks = _all_checks()
    key = api_template.keys[role] if role else None
    total = 0
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 13, [op.label for op in operations]
    for operation in operations:
        raw = operation.definition.raw
        # Negative data needs an input to break: operations without any have none.
        has_input = bool(raw.get("parameters") or raw.get("requestBody"))
        modes = [GenerationMode.POSITIVE] + ([GenerationMode.NEGATIVE] if has_input else [])
        for mode in modes:
            sent, found = _fuzz(operation, key, mode, checks)
            total += sent
            failures.extend(found)
    logger.info("role %s: %d examples fuzzed, %d failures", role, total, len(failures))
    assert not failures, f"{len(failures)} of {total} examples failed:\n\n" + "\n\n".join(
        failures[:40]
    )
