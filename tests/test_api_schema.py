"""Schemathesis against the API's own OpenAPI schema, with each role's token and without one.

It generates requests for every operation (valid and invalid path parameters, query strings
and bodies) against the real app on a demo database (made when this module is collected;
schemathesis reads the schema then), sent with the API token of someone holding each role
on the demo plans, of an administrator (so that the administrators' routes answer more
than 403), and with none. Whatever it sends, no 5xx comes back, and every answer is one
the schema declares: its status code, content type and body.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import select

from napflow import services
from napflow.errors import NotAuthenticatedError
from napflow.runtime.bootstrap import build_runtime
from napflow.runtime.settings import Settings
from napflow.services import accounts
from napflow.storage.schema import people, roles
from napflow.web import create_app

_HOME = tempfile.TemporaryDirectory(prefix="napflow-schema-")
_RT = build_runtime(Settings(database_url=f"sqlite:///{Path(_HOME.name) / 'napflow.db'}"))
services.init_database(_RT)
services.load_demo(_RT)
with _RT.db.read() as _conn:
    #: one person holding each role on some demo plan (observers included)
    HOLDERS = dict(
        _conn.execute(
            select(roles.c.role, people.c.email)
            .join(people, people.c.id == roles.c.person_id)
            .order_by(people.c.email.desc())
        ).all()
    )
#: an administrator (the admin site grant), who holds no role on any plan
ADMIN = "schema-admin@example.org"
services.add_person(_RT, ADMIN, "Schema administrator")
services.access.grant_access(_RT, ADMIN, "admin")
HOLDERS["admin"] = ADMIN
TOKENS = {
    role: accounts.create_api_token(_RT, email, "schemathesis")
    for role, email in sorted(HOLDERS.items())
}
AUTH = {role: {"Authorization": f"Bearer {token}"} for role, token in TOKENS.items()}


def live_auth(role: str) -> dict[str, str]:
    """Return the role's Authorization header, with a new token if a case revoked its own
    (DELETE /me/tokens/{id} with an id that happened to be the token's)."""
    try:
        accounts.token_owner(_RT, TOKENS[role])
    except NotAuthenticatedError:
        TOKENS[role] = accounts.create_api_token(_RT, HOLDERS[role], "schemathesis")
        AUTH[role] = {"Authorization": f"Bearer {TOKENS[role]}"}
    return AUTH[role]


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
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
def test_every_answer_is_declared_by_the_schema_and_none_is_a_5xx(case: Any) -> None:
    for headers in [*(live_auth(role) for role in sorted(AUTH)), {}]:
        case.call_and_validate(headers=headers, checks=CHECKS)


def test_every_role_of_the_demo_has_a_token() -> None:
    assert set(AUTH) >= {
        "coordinator",
        "wg_chair",
        "wg_member",
        "expert",
        "approver",
        "observer",
        "admin",
    }
