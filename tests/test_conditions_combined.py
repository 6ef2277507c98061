"""The conditions that combine others (any_of, all_of, not), the four-eyes rule and the
condition on a deadline, through the CLI and the API, on both engines; `audit verify`
judges the actions they let through (and names one they did not).

The workflow is tests/workflows/clearance.toml: a draft cleared by someone other than who
submitted it or remarked on it, without a comment only while the clearance window is open;
sent back only with a comment, and only while no draft was added.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from helpers import Result

from napflow import services
from napflow.clock import VirtualClock
from napflow.runtime import Runtime
from napflow.runtime.bootstrap import build_runtime
from napflow.runtime.settings import Settings
from napflow.services.accounts import create_api_token
from napflow.web import create_app

FILES = Path(__file__).parent / "workflows"
ANNA, BORIS, DIRECTOR, VERA = (
    "anna@example.org",  # drafter and reviewer
    "boris@example.org",  # reviewer
    "director@example.org",
    "vera@example.org",  # reviewer
)
Cli = Callable[..., Result]


@pytest.fixture
def clearing(
    db_url: str, clock: VirtualClock, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Runtime]:
    """Plan TJK-K on the clearance workflow, submitted by Anna (its window open 10 days)."""
    monkeypatch.setenv("NAPFLOW_WORKFLOW_DIRS", str(FILES))
    rt = build_runtime(Settings(database_url=db_url, workflow_dirs=(FILES,)), clock=clock)
    services.init_database(rt)
    for email in (ANNA, BORIS, DIRECTOR, VERA):
        services.add_person(rt, email, email.split("@")[0].title())
    services.create_plan(rt, "TJK", "Clearance", workflow="clearance", key="TJK-K")
    for email, role in (
        (ANNA, "drafter"),
        (ANNA, "reviewer"),
        (BORIS, "reviewer"),
        (VERA, "reviewer"),
        (DIRECTOR, "director"),
    ):
        services.grant_role(rt, "TJK-K", email, role)
    services.advance_plan(rt, "TJK-K", "submit", ANNA)
    yield rt
    rt.db.dispose()


def advance(cli: Cli, who: str, trigger: str, comment: str | None = None) -> Result:
    extra = ("--comment", comment) if comment is not None else ()
    return cli("advance", "TJK-K", trigger, "--as", who, *extra)


def test_four_eyes_through_the_cli(clearing: Runtime, cli: Cli) -> None:
    # who submitted it may not clear it, though they hold the reviewer's role
    refused = advance(cli, ANNA, "clear")
    assert refused.code == 1
    assert f"{ANNA} did submit in this round, and a second person must do this" in refused.err
    # who remarked on it in this round may not either
    assert advance(cli, BORIS, "remark", "Annex 2 needs dates.").code == 0
    refused = advance(cli, BORIS, "clear")
    assert refused.code == 1
    assert f"{BORIS} did remark in this round, and a second person must do this" in refused.err
    # a third reviewer may: the window is open, so no comment is needed
    assert advance(cli, VERA, "clear").code == 0
    assert services.show_plan(clearing, "TJK-K").state == "cleared"
    assert cli("audit", "verify").code == 0


def test_any_of_with_a_deadline_through_the_cli(clearing: Runtime, cli: Cli) -> None:
    window = json.loads(cli("deadline", "list", "TJK-K", "--format", "json").out)
    assert [d["kind"] for d in window] == ["clearance_window"]
    assert cli("deadline", "cancel", str(window[0]["id"]), "--as", DIRECTOR).code == 0
    refused = advance(cli, VERA, "clear")
    assert refused.code == 1
    assert (
        "none of these holds: TJK-K has no open deadline of kind clearance_window; a comment "
        "is required"
    ) in refused.err
    assert advance(cli, VERA, "clear", "Cleared after the window.").code == 0
    assert cli("audit", "verify").code == 0


def test_all_of_and_not_through_the_api(clearing: Runtime) -> None:
    director = {"Authorization": f"Bearer {create_api_token(clearing, DIRECTOR)}"}
    url = "/api/v1/plans/TJK-K/advance"
    with TestClient(create_app(clearing)) as http:
        refused = http.post(url, json={"trigger": "send_back"}, headers=director)
        assert refused.status_code == 403
        assert "a comment is required" in refused.json()["detail"]
        # a draft added: sending back is closed, whatever the comment
        with io.BytesIO(b"The plan, first draft.") as source:
            services.drafts.add_draft(clearing, "TJK-K", source, "draft.txt", actor=ANNA)
        refused = http.post(
            url, json={"trigger": "send_back", "comment": "Redo it."}, headers=director
        )
        assert refused.status_code == 403
        assert "it is not allowed while a draft is present" in refused.json()["detail"]
        # the four-eyes rule through the API: Anna submitted it
        anna = {"Authorization": f"Bearer {create_api_token(clearing, ANNA)}"}
        refused = http.post(url, json={"trigger": "clear"}, headers=anna)
        assert refused.status_code == 403
        assert "a second person must do this" in refused.json()["detail"]
        done = http.post(url, json={"trigger": "clear"}, headers=director)
        assert done.status_code == 200, done.text
    assert services.audit.verify_ledger(clearing).ok


def test_the_page_says_why_in_peoples_words(clearing: Runtime) -> None:
    offered = {a.trigger: a for a in services.choices.plan_choices(clearing, "TJK-K", ANNA).actions}
    assert offered["clear"].reasons == (
        'you did "Submit for clearance" in this round: someone else must do this',
    )
    window = services.list_deadlines(clearing, "TJK-K")[0]
    services.cancel_deadline(clearing, window.id, actor=DIRECTOR)
    offered = {a.trigger: a for a in services.choices.plan_choices(clearing, "TJK-K", VERA).actions}
    assert offered["clear"].reasons == ()  # a comment opens it: the form asks for one
    offered = {
        a.trigger: a
        for a in services.choices.plan_choices(clearing, "TJK-K", VERA, comment="").actions
    }
    assert offered["clear"].reasons == (
        'this needs one of: the deadline "Clearance window" is open or a comment is given',
    )


def test_the_replay_names_a_clearance_the_rules_refused(clearing: Runtime, cli: Cli) -> None:
    """An action recorded by hand past the four-eyes rule is named by `audit verify`."""
    from napflow.services._records import append, load_plan

    with clearing.db.write() as conn:
        plan = load_plan(conn, "TJK-K")
        append(
            conn,
            plan,
            audit_key=clearing.secrets.audit_key,
            kind="transition",
            at=clearing.clock.now(),
            trigger="clear",
            to_state="cleared",
            actor=ANNA,
            role="reviewer",
        )
    found = cli("audit", "verify")
    assert found.code == 1
    assert f"clear by {ANNA} as reviewer" in found.out
    assert "a second person must do this" in found.out
