"""Schemathesis against the API's own OpenAPI schema: whatever it sends, no 5xx comes back.

It generates requests for every operation (valid and invalid path parameters, query strings
and bodies), with a real API token and without one, against the real app on a demo
database (made when this module is collected; schemathesis reads the schema then).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from napflow import services
from napflow.bootstrap import build_runtime
from napflow.services import accounts
from napflow.settings import Settings
from napflow.web import create_app

CHAIR = "s.nazarova@president.tj.example"
_HOME = tempfile.TemporaryDirectory(prefix="napflow-schema-")
_RT = build_runtime(Settings(database_url=f"sqlite:///{Path(_HOME.name) / 'napflow.db'}"))
services.init_database(_RT, demo=True)
TOKEN = accounts.create_api_token(_RT, CHAIR, "schemathesis")
schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", create_app(_RT))


@pytest.fixture(scope="module", autouse=True)
def _cleanup() -> Iterator[None]:
    yield
    _RT.db.dispose()
    _HOME.cleanup()


@schema.parametrize()
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_no_request_gets_a_server_error(case: Any) -> None:
    for headers in ({"Authorization": f"Bearer {TOKEN}"}, {}):
        case.call_and_validate(headers=headers, checks=[not_a_server_error])
