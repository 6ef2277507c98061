"""A quorum given as a fraction of the role's holders (``min = "2/3"``), through the CLI and
the API, on both engines: two of three experts, three of four once a fourth is appointed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from helpers import Result

from napflow import services
from napflow.clock import VirtualClock
from napflow.errors import InvalidDefinition
from napflow.runtime import Runtime
from napflow.runtime.bootstrap import build_runtime
from napflow.runtime.settings import Settings
from napflow.services.accounts import create_api_token
from napflow.web import create_app
from napflow.workflow.definition import parse_definition

FILES = Path(__file__).parent / "workflows"
EXPERTS = ["e1@example.org", "e2@example.org", "e3@example.org", "e4@example.org"]
CHAIR, FOCAL = "chair@example.org", "focal@example.org"


@pytest.fixture
def committee(db_url: str, clock: VirtualClock) -> Iterator[Runtime]:
    """A committee review in the experts' hands, three experts appointed."""
    rt = build_runtime(Settings(database_url=db_url, workflow_dirs=(FILES,)), clock=clock)
    services.init_database(rt)
    for email in [*EXPERTS, CHAIR, FOCAL]:
        services.add_person(rt, email, email.split("@")[0].title())
    services.create_plan(rt, "TJK", "Review", workflow="committee", key="TJK-C")
    services.grant_role(rt, "TJK-C", FOCAL, "focal_point")
    services.grant_role(rt, "TJK-C", CHAIR, "chair")
    for email in EXPERTS[:3]:
        services.grant_role(rt, "TJK-C", email, "expert")
    services.advance_plan(rt, "TJK-C", "submit", FOCAL)
    yield rt
    rt.db.dispose()


def test_two_of_three_then_three_of_four_through_the_cli(
    committee: Runtime, cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NAPFLOW_WORKFLOW_DIRS", str(FILES))
    assert cli("advance", "TJK-C", "recommend", "--as", EXPERTS[0]).code == 0
    refused = cli("advance", "TJK-C", "accept", "--as", CHAIR)
    assert refused.code == 1
    assert "at least 2 expert recommend needed in this round, 1 so far" in refused.err
    shown = cli("workflow", "show", "committee")
    assert "at least 2/3 of the expert did recommend this round" in shown.out
    # a fourth expert appointed: two thirds of four is three (rounded up)
    assert cli("advance", "TJK-C", "recommend", "--as", EXPERTS[1]).code == 0
    assert cli("role", "grant", "TJK-C", EXPERTS[3], "expert").code == 0
    refused = cli("advance", "TJK-C", "accept", "--as", CHAIR)
    assert refused.code == 1
    assert "at least 3 expert recommend needed in this round, 2 so far" in refused.err
    assert cli("role", "revoke", "TJK-C", EXPERTS[3], "expert").code == 0
    assert cli("advance", "TJK-C", "accept", "--as", CHAIR).code == 0
    assert services.show_plan(committee, "TJK-C").state == "accepted"


def test_two_of_three_through_the_api(committee: Runtime) -> None:
    chair = {"Authorization": f"Bearer {create_api_token(committee, CHAIR)}"}
    with TestClient(create_app(committee)) as http:
        refused = http.post(
            "/api/v1/plans/TJK-C/advance", json={"trigger": "accept"}, headers=chair
        )
        assert refused.status_code == 403
        assert (
            "at least 2 expert recommend needed in this round, 0 so far"
            in (refused.json()["detail"])
        )
        for email in EXPERTS[:2]:
            token = {"Authorization": f"Bearer {create_api_token(committee, email)}"}
            done = http.post(
                "/api/v1/plans/TJK-C/advance", json={"trigger": "recommend"}, headers=token
            )
            assert done.status_code == 200, done.text
        page = http.get("/api/v1/plans/TJK-C", headers=chair).json()
        assert "accept" in page["allowed"]
        done = http.post("/api/v1/plans/TJK-C/advance", json={"trigger": "accept"}, headers=chair)
        assert done.status_code == 200, done.text


@pytest.mark.parametrize("bad", ["3/2", "0/3", "2/0", "two thirds", "2/3/4", "½", 0])
def test_a_quorum_that_is_no_fraction_is_refused(bad: object) -> None:
    text = (FILES / "committee.toml").read_text().replace('min = "2/3"', f"min = {bad!r}")
    text = text.replace("min = '", 'min = "').replace("' }", '" }')
    with pytest.raises(InvalidDefinition) as refused:
        parse_definition(text.encode(), FILES / "committee.toml")
    assert 'min must be "all", a whole number >= 1 or a fraction of the holders such as "2/3"' in (
        "\n".join(refused.value.problems)
    )
